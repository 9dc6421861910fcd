"""The shards stage by partition: one unit per partition, then one merge step. A thread-runner
run through the flow's wiring and a Dask run give byte-identical files and manifests; a re-run
skips every partition; a changed partition redoes only its unit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline.config import RunConfig
from pipeline.hashing import file_sha256
from pipeline.rundir import RunDir
from pipeline.steps.records import RunContext
from pipeline.steps.shards import merge_step, partition_step
from pipeline.tokenizer import train_tokenizer
from tests.test_tokenizer_and_shards import TOKENIZER, write_corpus

PARTS = ["p-a", "p-b", "p-c"]
SHARDS = {
    "objectives": ["mlm", "clm", "nsp"],
    "mlm": {"seq_len": 32},
    "clm": {"seq_len": 32},
    "nsp": {"seq_len": 32, "group_docs": 16},
    "rows_per_shard": 40,
    "val_fraction": 0.1,
}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three partitions of documents and a tokenizer trained on them."""
    folder = tmp_path_factory.mktemp("shard-parts")
    files = write_corpus(folder)
    table = pq.read_table(files[0]).slice(0, 120)
    more = pq.read_table(files[1]).slice(0, 120)
    tables = {"p-a": table.slice(0, 60), "p-b": table.slice(60), "p-c": more}
    tokenizer = folder / "tokenizer.json"
    train_tokenizer(files, tokenizer, TOKENIZER)
    return {"tables": tables, "tokenizer": tokenizer}


def make_run(root: Path, source: dict[str, Any]) -> RunDir:
    run = RunDir(root)
    for part, table in source["tables"].items():
        run.kept_path("dedup", part).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, run.kept_path("dedup", part))
    run.tokenizer_path.parent.mkdir(parents=True, exist_ok=True)
    run.tokenizer_path.write_bytes(source["tokenizer"].read_bytes())
    return run


def config() -> RunConfig:
    return RunConfig(
        sources=[{"name": "a", "kind": "web", "format": "jsonl", "paths": ["x"]}], shards=SHARDS
    )


def shard_files(run: RunDir) -> dict[str, str]:
    """Every file under `shards/<objective>/` (shards and manifests) with its sha256."""
    return {
        path.relative_to(run.shards_dir).as_posix(): file_sha256(path)
        for name in SHARDS["objectives"]
        for path in sorted(run.objective_dir(name).rglob("*"))
        if path.is_file()
    }


def run_local(run: RunDir, cfg: RunConfig) -> dict[str, Any]:
    """The units and the merge, in order, in this process."""
    summaries = [partition_step(run, cfg, part) for part in PARTS]
    return merge_step(RunContext(run, cfg, PARTS), summaries)


def test_thread_and_dask_runners_give_identical_shards(
    tmp_path: Path, source: dict[str, Any], prefect_harness: None
) -> None:
    from distributed import Client, LocalCluster
    from prefect import flow

    from flows.chain import WORK
    from flows.runners import make_task_runner
    from pipeline.stages import stage

    cfg = config()
    threads = make_run(tmp_path / "threads", source)
    spec = stage("shards")

    @flow(task_runner=make_task_runner("threads", 2))
    def shards_only() -> dict[str, Any]:
        return WORK[spec.work](str(threads.root), spec, cfg, PARTS, "test")

    summary = shards_only()
    assert summary["skipped"] is False and set(summary["manifests"]) == set(SHARDS["objectives"])

    spread = make_run(tmp_path / "dask", source)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # the last partition first: the order units finish in must not matter
        futures = client.map(partition_step, [spread] * 3, [cfg] * 3, PARTS[::-1])
        summaries = client.gather(futures)[::-1]
        client.submit(merge_step, RunContext(spread, cfg, PARTS), summaries).result()

    files = shard_files(threads)
    assert files == shard_files(spread)
    assert all(name.split("/")[-1].startswith("part-p-") for name in files if "arrow" in name)
    for name in SHARDS["objectives"]:
        manifest = json.loads((threads.objective_dir(name) / "manifest.json").read_text())
        listed = [f["path"] for s in manifest["splits"].values() for f in s["files"]]
        train = [p for p in listed if p.startswith("train/")]
        assert train == sorted(train)  # partition order
        assert {p.split("/")[1][: len("part-p-a")] for p in train} == {f"part-{p}" for p in PARTS}


def test_rerun_skips_every_partition_and_a_changed_one_redoes_only_its_unit(
    tmp_path: Path, source: dict[str, Any]
) -> None:
    cfg = config()
    run = make_run(tmp_path / "run", source)
    first = run_local(run, cfg)
    assert first["skipped"] is False
    before = shard_files(run)

    summaries = [partition_step(run, cfg, part) for part in PARTS]
    assert all(s["skipped"] for s in summaries)
    again = merge_step(RunContext(run, cfg, PARTS), summaries)
    assert again["skipped"] is True and shard_files(run) == before

    changed = source["tables"]["p-b"].slice(0, 40)
    pq.write_table(changed, run.kept_path("dedup", "p-b"))
    summaries = [partition_step(run, cfg, part) for part in PARTS]
    assert [s["skipped"] for s in summaries] == [True, False, True]
    merged = merge_step(RunContext(run, cfg, PARTS), summaries)
    assert merged["skipped"] is False and merged["rebuilt_partitions"] == ["p-b"]
    after = shard_files(run)
    for path, digest in before.items():
        if "/part-p-a-" in path or "/part-p-c-" in path:
            assert after[path] == digest  # untouched partitions keep their files
    fresh = make_run(tmp_path / "fresh", {**source, "tables": {**source["tables"], "p-b": changed}})
    run_local(fresh, cfg)
    assert shard_files(fresh) == after  # the same as building the changed corpus from scratch
