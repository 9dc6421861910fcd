"""The first run on a fresh, loaded machine: Prefect's embedded server gets the time it needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flows import prefect_env
from tests.cli_helpers import gristmill_run, own_prefect
from tests.corpus_fixtures import write_config, write_corpus

BURN = "import time\nend = time.time() + 600\nwhile time.time() < end: pass\n"


def test_startup_limit_is_a_default_the_user_can_override(monkeypatch) -> None:
    name = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
    monkeypatch.delenv(name, raising=False)
    prefect_env.configure()
    assert int(os.environ[name]) == prefect_env.EPHEMERAL_STARTUP_TIMEOUT_S
    monkeypatch.setenv(name, "7")
    prefect_env.configure()
    assert os.environ[name] == "7"


def test_startup_failure_is_one_line_not_a_traceback() -> None:
    error = RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")
    assert prefect_env.is_startup_failure(error)
    assert not prefect_env.is_startup_failure(RuntimeError("something else"))
    assert "\n" not in prefect_env.startup_failure_message()


def _run_until(tmp_path: Path, env: dict[str, str], until: str) -> subprocess.CompletedProcess:
    """`gristmill run --until UNTIL` of the test corpus in a fresh process with ``env``."""
    corpus = write_corpus(tmp_path / "in")
    config = write_config(tmp_path / "in", corpus["config"])
    return subprocess.run(
        gristmill_run(config, tmp_path / "run", "--until", until),
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )


def test_first_run_with_empty_prefect_home_while_both_cores_are_busy(tmp_path: Path) -> None:
    env = own_prefect(tmp_path / "prefect-home")  # empty: a first run
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(2)]
    try:
        done = _run_until(tmp_path, env, "langid")
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert (tmp_path / "run" / "langid" / "_stage.json").is_file()


def test_two_runs_started_at_once_into_different_folders_both_finish(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "in")
    config = write_config(tmp_path / "in", corpus["config"])
    env = own_prefect(tmp_path / "prefect-home")  # shared, and new to both
    runs = [
        subprocess.Popen(
            gristmill_run(config, tmp_path / f"run-{i}", "--until", "ingest"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for run in runs:
        _, err = run.communicate(timeout=400)
        assert run.returncode == 0, err[-3000:]
    first, second = (
        sorted(p.name for p in (tmp_path / f"run-{i}" / "ingest").glob("*.parquet"))
        for i in range(2)
    )
    assert first == second and first


SERVER_CHILD = """
import os, sys, time
from flows import prefect_env
prefect_env.configure()
from flows.api_server import prefect_api
with prefect_api() as api:
    api.ready()
    print(api.server.process.pid, api.server.api_url, flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie has ended
        return handle.read().split()[2] != "Z"


def test_a_run_s_own_server_answers_and_ends_with_it_even_when_killed(tmp_path: Path) -> None:
    import signal
    import time
    import urllib.request

    env = own_prefect(tmp_path / "prefect-home")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    child = subprocess.Popen(
        [sys.executable, "-c", SERVER_CHILD], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        pid_text, api_url = child.stdout.readline().split()
        server = int(pid_text)
        with urllib.request.urlopen(f"{api_url}/health", timeout=10) as response:
            assert response.status == 200
        child.send_signal(signal.SIGKILL)  # no clean-up code runs in the run's process
        child.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(server)
    finally:
        child.kill()
        child.wait()


def test_a_configured_api_is_used_and_nothing_is_started() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.api_server import prefect_api

    configured = temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"})
    with configured, prefect_api() as api:
        assert not api.temporary
        api.ready()  # returns at once: nothing to wait for


def test_a_run_uses_one_server_of_its_own_and_leaves_no_log_line_unsent(tmp_path: Path) -> None:
    done = _run_until(tmp_path, own_prefect(tmp_path / "prefect-home"), "ingest")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Beginning flow run" in output
    # Prefect did not start a server of its own beside the run's, before or after the flow,
    # and sent every log line before the run's server stopped.
    assert "Starting temporary server" not in output, output[-3000:]
    assert "Error logging to API" not in output, output[-3000:]


def test_a_server_that_does_not_come_up_in_time_is_one_line_and_status_3(tmp_path: Path) -> None:
    env = own_prefect(tmp_path / "prefect-home")
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "0"
    done = _run_until(tmp_path, env, "ingest")
    assert done.returncode == 3, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("gristmill: ") and "did not start in time" in lines[-1]
    assert "Traceback" not in done.stderr
