"""The units of work of a run, as plain functions over a run directory (no Prefect here).

Each step does one stage's work -- for one input unit, one partition, one dedup bucket, or the
whole run -- skips it when a finished output with the same fingerprint (inputs, settings, code
version) is already in the run directory, and returns a small summary. `flows/chain.py` wraps
them as Prefect tasks in the order of the stage table (:mod:`pipeline.stages`); tests call them
directly.

- :mod:`~pipeline.steps.records`: the partition summaries, the stage record that merges them,
  and the fingerprint-skip-work-record skeleton every whole-run step uses.
- :mod:`~pipeline.steps.ingest`, :mod:`~pipeline.steps.filter`, :mod:`~pipeline.steps.dedup`:
  the document stages.
- :mod:`~pipeline.steps.shards`: one unit per partition, then a merge step.
- :mod:`~pipeline.steps.tokenizer`, :mod:`~pipeline.steps.train`, :mod:`~pipeline.steps.card`:
  the whole-run stages.
"""
