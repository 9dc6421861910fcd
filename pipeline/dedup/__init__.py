"""Deduplication: exact (normalised-text hash) and MinHash-LSH near-duplicate removal.

The modules, in the order the data meets them:

- ``config`` -- the run config's ``dedup:`` section;
- ``normalize`` -- normalised text for exact keys, shingle text and reference shingle sets;
- ``exact`` -- 128-bit exact keys;
- ``minhash`` -- datasketch-equal MinHash signatures, many documents per call;
- ``lsh_params`` -- bands x rows for a threshold, chosen as datasketch chooses them;
- ``lsh`` -- band keys and the candidate edges of one band;
- ``union_find`` -- vectorised union-find (connected components);
- ``clusters`` -- one kept document per cluster by the keep policy, and each drop's reason;
- ``stage`` -- decisions applied to a partition; the whole stage in memory (``plan_dedup``);
- ``units`` -- the stage's units of work over a run directory, incremental across runs.
"""
