"""Runs and their environment: one writer per run directory, clean stops, a full or read-only
disk reported in one line, and a resume after the fault that loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.output_digest import compare, digest_run
from flows.cli import main
from flows.stopping import descendants
from pipeline.runlock import LOCK_NAME, RunLockError, run_lock
from tests.cli_helpers import gristmill_run, own_prefect
from tests.corpus_fixtures import write_config, write_corpus


@pytest.fixture
def corpus_config(tmp_path: Path) -> Path:
    corpus = write_corpus(tmp_path / "in")
    return write_config(tmp_path / "in", corpus["config"])


def _mount_tmpfs(where: Path, size: str, read_only: bool = False) -> None:
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")


def _unmount(where: Path) -> None:
    subprocess.run(["umount", str(where)], capture_output=True)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie awaiting its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def test_a_second_run_on_a_held_directory_stops_naming_the_holder(
    tmp_path: Path, corpus_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    with run_lock(out):
        status = main(["run", "--config", str(corpus_config), "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert f"pid {os.getpid()}" in err and "in use" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing was written


def test_the_lock_of_a_dead_process_is_free(tmp_path: Path) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pipeline.runlock import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(RunLockError, match=f"pid {holder.pid}"), run_lock(out):
        pass
    holder.kill()
    holder.wait()
    with run_lock(out, wait_seconds=5):  # the file remains; the lock died with its holder
        assert (out / LOCK_NAME).is_file()


def test_an_unwritable_output_folder_is_reported_before_any_work(
    tmp_path: Path, corpus_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mount = tmp_path / "readonly"
    _mount_tmpfs(mount, "1m", read_only=True)
    try:
        status = main(["run", "--config", str(corpus_config), "--out", str(mount / "run")])
    finally:
        _unmount(mount)
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "cannot be written" in err and str(mount) in err


def test_a_full_disk_stops_with_one_line_and_the_rerun_loses_nothing(
    tmp_path: Path, corpus_config: Path, capsys: pytest.CaptureFixture[str], prefect_harness
) -> None:
    reference = tmp_path / "reference"
    assert (
        main(["run", "--config", str(corpus_config), "--out", str(reference), "--until", "dedup"])
        == 0
    )
    mount = tmp_path / "small"
    _mount_tmpfs(mount, "8m")
    try:
        out = mount / "run"
        assert (
            main(["run", "--config", str(corpus_config), "--out", str(out), "--until", "langid"])
            == 0
        )
        filler = mount / "filler"
        with filler.open("wb") as handle:  # fill the disk: the next stage cannot write
            try:
                while True:
                    handle.write(b"\0" * (1 << 16))
                    handle.flush()
            except OSError:
                pass
        capsys.readouterr()
        status = main(
            ["run", "--config", str(corpus_config), "--out", str(out), "--until", "dedup"]
        )
        err = capsys.readouterr().err
        assert status == 3
        failure = [line for line in err.splitlines() if line.startswith("gristmill:")]
        assert len(failure) == 1 and "No space left on device" in failure[0]
        assert "free some space" in failure[0] and str(out) in failure[0]
        assert "Traceback" not in err
        filler.unlink()
        assert (
            main(["run", "--config", str(corpus_config), "--out", str(out), "--until", "dedup"])
            == 0
        )
        assert compare(digest_run(reference), digest_run(out)) == []
        assert not [p for p in out.rglob("*.tmp")]
    finally:
        _unmount(mount)


def test_sigterm_stops_the_run_within_seconds_with_one_line_and_no_leftovers(
    tmp_path: Path, corpus_config: Path
) -> None:
    out = tmp_path / "run"
    env = own_prefect(tmp_path / "prefect-home")
    child = subprocess.Popen(
        gristmill_run(corpus_config, out),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not (out / "ingest" / "_stage.json").is_file():  # the flow is under way
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    started = descendants(child.pid)
    assert started  # Prefect's embedded server at least
    stopped_at = time.monotonic()
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert time.monotonic() - stopped_at < 10
    assert child.returncode == 128 + signal.SIGTERM
    assert "stopped (SIGTERM)" in err and "run the same command again" in err
    assert "Traceback" not in err
    time.sleep(0.5)
    assert [pid for pid in started if _running(pid)] == []
    again = subprocess.run(
        gristmill_run(corpus_config, out, "--until", "quality"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-2000:]


def test_a_parquet_source_without_its_text_column_is_reported_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"body": ["a document"]}), folder / "rows.parquet")
    config = write_config(
        folder,
        {"sources": [{"name": "t", "kind": "web", "format": "parquet", "paths": ["rows.parquet"]}]},
    )
    out = tmp_path / "run"
    assert main(["run", "--config", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "rows.parquet: no text column 'text'" in err and "Traceback" not in err
    assert not out.exists()  # checked before anything was written


def test_secrets_never_land_in_manifest_records_or_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness
) -> None:
    secret = "pnu_secret_value_42"
    monkeypatch.setenv("PREFECT_API_KEY", secret)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "docs.jsonl").write_text('{"text": "The mill turned all day long by the river."}\n')
    licence = "https://reader:hunter2@licences.example.invalid/terms?token=abc123&lang=en"
    config = write_config(
        folder,
        {
            "sources": [
                {
                    "name": "t",
                    "kind": "web",
                    "format": "jsonl",
                    "paths": ["docs.jsonl"],
                    "license": licence,
                }
            ]
        },
    )
    out = tmp_path / "run"
    assert main(["run", "--config", str(config), "--out", str(out), "--until", "ingest"]) == 0
    written = "".join(
        p.read_text(errors="replace") for p in out.rglob("*") if p.suffix in (".json", ".log")
    )
    assert "licences.example.invalid" in written  # the records are there ...
    for leaked in (secret, "hunter2", "abc123"):  # ... without the secrets
        assert leaked not in written


def test_nothing_is_unpickled_and_checkpoints_load_weights_only() -> None:
    root = Path(__file__).resolve().parents[1]
    sources = [p for d in ("pipeline", "flows", "trainer") for p in (root / d).rglob("*.py")]
    text = {p: p.read_text(encoding="utf-8") for p in sources}
    for path, code in text.items():
        for unsafe in (
            "pickle.load",
            "pickle.loads",
            "allow_pickle=True",
            "dill.",
            "cloudpickle.load",
        ):
            assert unsafe not in code, f"{path}: {unsafe}"
        for line in code.splitlines():
            if "torch.load(" in line and "`" not in line:
                assert "weights_only=True" in line, f"{path}: {line.strip()}"
