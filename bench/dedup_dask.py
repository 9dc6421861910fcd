"""The same dedup run on the thread runner and on a Dask LocalCluster gives the same kept set.

Runs the chain (`gristmill run ... --until dedup`) twice on the licence files of
`../shared/data/neardup`, split into several partitions, once with `--runner threads` and once
with `--runner dask` (a LocalCluster of worker processes: the dedup units are separate tasks,
signatures per partition and buckets per band spread over the workers), with language ID and
quality filtering set to annotate only, so every document reaches dedup. Compares the kept ids
and the bytes of every dedup output.

    .venv/bin/python bench/dedup_dask.py [--partitions 4]

(The project venv: it needs Prefect and prefect-dask, which the benchmark venv does not have.)
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from pipeline.hashing import file_sha256
from pipeline.rundir import RunDir

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    from flows.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with gzip.open(SHARED / "neardup" / "neardup.jsonl.gz", "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        for i in range(args.partitions):
            with open(folder / f"licences-{i}.jsonl", "w", encoding="utf-8") as handle:
                for row in rows[i :: args.partitions]:
                    handle.write(json.dumps(row) + "\n")
        config = {
            "sources": [
                {
                    "name": "licences",
                    "kind": "web",
                    "format": "jsonl",
                    "paths": ["licences-*.jsonl"],
                    "id_field": "id",
                }
            ],
            "langid": {"keep": "all"},
            "quality": {"keep": "all"},
        }
        (folder / "run.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        results = {}
        for runner in ("threads", "dask"):
            out = folder / runner
            started = time.perf_counter()
            code = cli(
                [
                    "run",
                    "--config",
                    str(folder / "run.yaml"),
                    "--out",
                    str(out),
                    "--until",
                    "dedup",
                    "--runner",
                    runner,
                    "--workers",
                    "2",
                ]
            )
            assert code == 0, f"{runner} run failed"
            run = RunDir(out)
            record = run.stage_record("dedup")
            parts = sorted(record["partitions"])
            kept = sorted(
                id_
                for p in parts
                for id_ in pq.read_table(run.kept_path("dedup", p)).column("id").to_pylist()
            )
            files = sorted(p.relative_to(out / "dedup") for p in (out / "dedup").rglob("*.parquet"))
            hashes = {str(f): file_sha256(out / "dedup" / f) for f in files}
            results[runner] = (kept, hashes, record["counts"], time.perf_counter() - started)
        threads, dask = results["threads"], results["dask"]
        print(
            f"{len(rows)} documents in {args.partitions} partitions; "
            f"dedup kept {len(threads[0])} (threads) / {len(dask[0])} (dask); "
            f"dropped {threads[2]['dropped']} / {dask[2]['dropped']}"
        )
        print(
            f"kept ids identical: {threads[0] == dask[0]}; "
            f"all {len(threads[1])} dedup Parquet files byte-identical: {threads[1] == dask[1]}"
        )
        differ = sorted(f for f in threads[1] if threads[1][f] != dask[1].get(f))
        if differ:
            print("files that differ:", ", ".join(differ))
        print(
            f"wall time of the whole run to dedup: threads {threads[3]:.1f}s, "
            f"dask {dask[3]:.1f}s (Prefect and cluster start-up included)"
        )


if __name__ == "__main__":
    main()
