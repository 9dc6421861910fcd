"""Scheduled runs against a real Prefect server: `gristmill schedule` serves the deployment, a
triggered run completes with its artifacts, and a second run with one new input file ingests only
that file and drops a near duplicate of the first run's document.

Starts `prefect server start` on 127.0.0.1 (a free port, its own PREFECT_HOME) and the
`gristmill schedule` process; both are always stopped, and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline import schedule
from pipeline.rundir import RunDir
from tests.corpus_fixtures import english_doc, write_config

REPO = Path(__file__).resolve().parents[1]
SERVER_START_S = 180
DEPLOYMENT_S = 180
FLOW_RUN_S = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(what: str, seconds: float, probe: Callable[[], Any], every: float = 1.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("wb")
    return subprocess.Popen(
        argv, env=env, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    prefect = str(Path(sys.executable).with_name("prefect"))
    argv = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"]
    server = _start(argv, env, tmp_path / "server.log")
    processes = [server]

    def healthy() -> bool:
        assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    try:
        _wait("the Prefect server", SERVER_START_S, healthy)
        yield {"url": url, "env": env, "processes": processes, "logs": tmp_path}
    finally:
        for process in reversed(processes):
            _stop(process)


def _docs_file(path: Path, texts: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")


def _config(folder: Path) -> Path:
    config = {
        "sources": [
            {
                "name": "web",
                "kind": "web",
                "format": "jsonl",
                "paths": ["web/*.jsonl"],
                "license": "CC0-1.0",
                "limits": {"batch_bytes": 0},  # every file its own unit of work
            }
        ],
        "tokenizer": {"vocab_size": 300, "min_frequency": 1},
        "shards": {"mlm": {"seq_len": 32}, "val_fraction": 0.1},
        "train": {"steps": 2, "batch_size": 4, "d_model": 32, "n_layers": 1, "n_heads": 2,
                  "d_ff": 64, "eval_every": 0},
    }  # fmt: skip
    return write_config(folder, config)


def test_schedule_serves_runs_that_do_only_new_work(prefect_server: dict, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    rng = random.Random(3)
    inputs = tmp_path / "in"
    first = [english_doc(rng) for _ in range(12)]
    _docs_file(inputs / "web" / "a.jsonl", first)
    config = _config(inputs)
    root = tmp_path / "runs"
    env = prefect_server["env"]
    argv = [sys.executable, "-m", "flows.cli", "schedule", "--config", str(config)]
    argv += ["--out", str(root), "--cron", "0 3 * * *", "--name", "nightly"]
    serving = _start(argv, env, tmp_path / "serve.log")
    prefect_server["processes"].append(serving)

    with (
        temporary_settings({PREFECT_API_URL: prefect_server["url"]}),
        get_client(sync_client=True) as client,
    ):

        def deployment() -> Any:
            assert serving.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                return client.read_deployment_by_name("gristmill-scheduled/nightly")
            except Exception:
                return None

        found = _wait("the deployment", DEPLOYMENT_S, deployment, every=2)
        assert found.entrypoint == "flows.schedule.scheduled_run"
        assert found.parameters["run_root"] == str(root.resolve())
        assert any("0 3 * * *" in str(s.schedule) for s in found.schedules)

        def run_once() -> Any:
            flow_run = client.create_flow_run_from_deployment(found.id)

            def finished() -> Any:
                current = client.read_flow_run(flow_run.id)
                return current if current.state and current.state.is_final() else None

            done = _wait("a flow run", FLOW_RUN_S, finished, every=2)
            log = (tmp_path / "serve.log").read_text()[-4000:]
            assert done.state.is_completed(), f"{done.state}\n{log}"
            return done

        run_once()
        runs = sorted(p for p in root.iterdir() if p.is_dir())
        assert len(runs) == 1
        one = RunDir(runs[0])
        assert one.card_paths[0].is_file()
        assert one.stage_record("ingest")["counts"]["docs_in"] == len(first)
        children = client.read_flow_runs()
        chain = [r for r in children if r.name == f"gristmill-{runs[0].name}"]
        assert chain, [r.name for r in children]
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[chain[0].id]))
        )
        assert {"table", "markdown"} <= {a.type for a in artifacts}

        # one new file: new documents and a near duplicate of the first run's document
        near = first[5].split(" ")
        near[7] = "harbour"
        _docs_file(
            inputs / "web" / "b.jsonl", [english_doc(rng) for _ in range(4)] + [" ".join(near)]
        )
        run_once()
    runs = sorted(p for p in root.iterdir() if p.is_dir())
    assert len(runs) == 2
    two = RunDir(runs[1])
    assert two.stage_record("ingest")["counts"]["docs_in"] == 5  # only the new file
    assert len(two.manifest()[schedule.INPUTS_FIELD]) == 1
    dedup = two.stage_record("dedup")
    assert dedup["counts"]["dropped"].get("near_duplicate") == 1
    assert dedup["clusters"]["dropped_for_previous_runs"] == 1
    assert dedup["clusters"]["previous_runs"] == [str(runs[0].resolve())]


def test_schedule_with_a_bad_config_is_one_line(tmp_path: Path, capsys) -> None:
    from flows.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: []\n")
    argv = [
        "schedule",
        "--config",
        str(bad),
        "--out",
        str(tmp_path / "runs"),
        "--cron",
        "0 3 * * *",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gristmill: {bad}: invalid run config") and "Traceback" not in err


def test_scheduled_run_dirs_and_unseen_inputs(tmp_path: Path) -> None:
    """Dated directories never collide; a run reads only inputs no earlier run recorded."""
    from datetime import UTC, datetime

    from pipeline.config import load_config

    when = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    first = schedule.new_run_dir(tmp_path / "runs", when)
    second = schedule.new_run_dir(tmp_path / "runs", when)
    assert (first.name, second.name) == ("2026-12-01T030000Z", "2026-12-01T030000Z-2")
    _docs_file(tmp_path / "in" / "web" / "a.jsonl", ["one document"])
    config = load_config(_config(tmp_path / "in"))
    units, keys = schedule.new_units(config, [])
    assert len(units) == 1 and len(keys) == 1
    RunDir(first).update_manifest(**{schedule.INPUTS_FIELD: keys})
    RunDir(first).write_stage_record("dedup", {"stage": "dedup", "partitions": {}})
    earlier = schedule.earlier_runs(tmp_path / "runs")
    assert earlier == [first.resolve()]
    assert schedule.new_units(config, earlier) == ([], [])
    _docs_file(tmp_path / "in" / "web" / "b.jsonl", ["another document"])
    config = load_config(_config(tmp_path / "in"))
    units, _ = schedule.new_units(config, earlier)
    assert [u.rel_path for u in units] == ["web/b.jsonl"]
    assert schedule.with_previous_runs(config, earlier).dedup.previous_runs == [
        str(first.resolve())
    ]
