"""A run killed with SIGKILL resumes to byte-identical outputs: fault points, the sweep of a
killed run's temporary files, and three kills of `gristmill run` (the full set of points is
`bench/crash_resume.py`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.crash_resume import (
    baseline_run,
    build_corpus,
    partial_files,
    run_trial,
    temporaries,
)
from pipeline.rundir import RunDir, atomic_write_bytes

ROOT = Path(__file__).resolve().parents[1]
UNTIL = "shards"  # no training: the kills below are all before it


def _count_to_five(fault: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GRISTMILL_FAULT"}
    env["PYTHONPATH"] = str(ROOT)
    if fault is not None:
        env["GRISTMILL_FAULT"] = fault
    code = (
        "from pipeline.faults import fault_point\n"
        "for i in range(5):\n"
        "    fault_point('other')\n"
        "    fault_point('counted')\n"
        "    print(i, flush=True)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_fault_point_kills_the_process_on_its_nth_hit_only() -> None:
    killed = _count_to_five("counted:3")
    assert killed.returncode == -signal.SIGKILL
    assert killed.stdout.split() == ["0", "1"]
    assert _count_to_five("counted").stdout.split() == []
    for harmless in (None, "", "elsewhere", "counted:6"):
        finished = _count_to_five(harmless)
        assert finished.returncode == 0, finished.stderr
        assert finished.stdout.split() == ["0", "1", "2", "3", "4"]


def test_sweep_removes_a_killed_runs_temporary_files_and_nothing_else(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    swept = [
        run.root / ".manifest.json.k2j4h1x0.tmp",
        run.stage_dir("ingest") / ".web-00000.parquet.a8d9fj2k.tmp",
        run.marker_dir("langid") / ".web-00000.json.0pq9z8y7.tmp",
        run.dropped_dir("quality") / ".web-00000.parquet.zz11yy22.tmp",
        run.objective_dir("mlm") / "train" / ".part-web-00000-00001.arrow.u7t6r5e4.tmp",
        run.train_dir / ".checkpoint.pt.tmp",
    ]
    kept = [
        run.kept_path("ingest", "web-00000"),
        run.stage_dir("ingest") / "notes.tmp",  # not hidden: not ours
        run.root / "sources" / ".draft.txt.tmp",  # a user's folder inside the run directory
    ]
    for path in swept + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    lines: list[str] = []
    assert sorted(run.sweep_temporaries(progress=lines.append)) == sorted(swept)
    assert all(path.is_file() for path in kept)
    assert not any(path.exists() for path in swept)
    assert len(lines) == len(swept) and "train/.checkpoint.pt.tmp" in "\n".join(lines)
    assert run.sweep_temporaries() == []


def test_crash_checks_see_a_cut_short_file_and_a_temporary_one(tmp_path: Path) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"text": ["a" * 1000] * 50}), sink)
    data = sink.getvalue().to_pybytes()
    atomic_write_bytes(tmp_path / "ingest" / "whole.parquet", data)
    (tmp_path / "ingest" / "cut.parquet").write_bytes(data[: len(data) // 2])
    (tmp_path / "ingest" / ".whole.parquet.abcd1234.tmp").write_bytes(data[:10])
    assert [p.split(":")[0] for p in partial_files(tmp_path)] == ["ingest/cut.parquet"]
    assert temporaries(tmp_path) == ["ingest/.whole.parquet.abcd1234.tmp"]


@pytest.fixture(scope="module")
def crash_corpus(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The corpus, the children's environment (the test session's Prefect server) and the
    digests of one uninterrupted run."""
    from prefect.settings import PREFECT_API_URL

    work = tmp_path_factory.mktemp("crash")
    env = {"PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_HOME": str(work / "home")}
    config = build_corpus(work / "corpus")
    baseline = baseline_run(config, work / "baseline", until=UNTIL, env=env)
    return {"work": work, "env": env, "config": config, "baseline": baseline}


@pytest.mark.parametrize(
    "fault",
    [
        "write.before_rename:3",  # a partition's file written under its temporary name
        "dedup.cluster",  # clusters decided, the plan not written
        "shards.shard_written:2",  # two shards written, the rest and the manifest not
    ],
)
def test_run_killed_at_a_fault_point_resumes_to_identical_outputs(
    crash_corpus: dict, fault: str
) -> None:
    out = crash_corpus["work"] / fault.replace(":", "-")
    result = run_trial(
        [fault],
        crash_corpus["config"],
        out,
        crash_corpus["baseline"],
        until=UNTIL,
        env=crash_corpus["env"],
    )
    assert result.killed == [True], f"not killed at {fault}; see {out.with_suffix('.log')}"
    assert result.resumed_rc == 0, f"see {out.with_suffix('.log')}"
    assert result.differences == []
    assert result.accounting == []
    assert result.partial_read == []
    assert result.temporaries_left == []
    assert result.ok
    if fault.startswith("write.before_rename"):
        assert result.temporaries_at_kill, "the kill should have left a temporary file"
