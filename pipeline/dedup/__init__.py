"""Deduplication: exact (normalised-text hash) and MinHash-LSH near-duplicate removal.

The modules, in the order the data meets them:

- ``config`` -- the run config's ``dedup:`` section;
- ``normalize`` -- normalised text for exact keys, shingle text and reference shingle sets;
- ``exact`` -- 128-bit exact keys;
- ``minhash`` -- datasketch-equal MinHash signatures, many documents per call;
- ``lsh_params`` -- bands x rows for a threshold, chosen as datasketch chooses them, and the pair
  in use (``lsh_shape``);
- ``lsh`` -- band keys and the candidate edges of one band;
- ``verify`` -- candidate pairs confirmed by their whole signatures before they merge;
- ``union_find`` -- vectorised union-find (connected components);
- ``clusters`` -- one kept document per cluster by the keep policy, and each drop's reason;
- ``stage`` -- decisions applied to one partition (``split_partition``);
- ``settings`` -- what signatures and the band index depend on; the bucket units;
- ``paths`` -- where the units keep their work in a run directory;
- ``artifacts`` -- outputs that carry the fingerprint of what they were made from;
- ``previous`` -- earlier runs' indexes (``previous_runs``), checked to be comparable;
- ``run_root`` -- a folder of runs' cumulative index, compacted as runs are added;
- ``units`` -- the stage's four units of work over a run directory, incremental across runs;
- ``in_memory`` -- the same decisions over a list of texts, without a run directory.
"""
