"""Data ablations: train the same tiny model on variants of one corpus and compare them.

A variant is a name and a small overlay on the run config: stages switched off (``off:``) and
thresholds changed. Plain Python, no Prefect (``flows/ablate.py`` runs the same pieces as tasks):

- :mod:`~pipeline.ablate.variants`: the built-in variants, sweeps, applying an overlay;
- :mod:`~pipeline.ablate.prepare`: a variant's document stages, sharing every stage output it
  has in common with another variant through a stage cache keyed by the stages before it;
- :mod:`~pipeline.ablate.heldout`: one validation set, held out from and deduplicated against
  every variant's training data, and the one tokenizer;
- :mod:`~pipeline.ablate.training`: a variant's shards and its tiny models, one per seed;
- :mod:`~pipeline.ablate.report`: the table, the verdicts, the curves, ``gristmill show``;
- :mod:`~pipeline.ablate.noise`: the planted-noise corpus that shows the loop works;
- :mod:`~pipeline.ablate.run`: the whole ablation in one process.
"""
