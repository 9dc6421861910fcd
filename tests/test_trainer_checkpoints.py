"""Tests for the trainer's periodic checkpoints and its resume after a crash.

A crash is simulated by a progress callback that raises at a given step's log line: the loop has
then written that step's metrics record but not its checkpoint, as when a job dies mid-run.
Models are tiny and runs a few dozen steps, so the whole file takes seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tests.shard_fixtures import write_shards
from trainer.__main__ import main as cli_main
from trainer.config import TrainConfig
from trainer.loop import TrainResult, train
from trainer.outputs import CHECKPOINT_NAME, METRICS_NAME, PERIODIC_DIR
from trainer.telemetry import WALL_CLOCK_KEYS

TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "batch_size": 8}


class Crash(RuntimeError):
    """Stands in for the process dying."""


def crash_at(step: int, lines: list[str]) -> Callable[[str], None]:
    """A progress callback that records lines and raises at `step`'s log line."""

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith(f"[train] step {step}/"):
            raise Crash(line)

    return progress


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shards(tmp_path_factory.mktemp("shards") / "mlm", train_rows=64, val_rows=8)


def files_of(out: Path) -> dict[str, bytes]:
    """Every checkpoint in a run folder, by name relative to it."""
    found = [out / CHECKPOINT_NAME, *sorted((out / PERIODIC_DIR).glob("*"))]
    return {str(p.relative_to(out)): p.read_bytes() for p in found if p.is_file()}


def metrics_without_wall_time(out: Path) -> list[dict[str, float]]:
    records = [json.loads(line) for line in (out / METRICS_NAME).read_text().splitlines()]
    for record in records:
        for key in WALL_CLOCK_KEYS:
            del record[key]
    return records


def test_a_crashed_run_resumes_and_ends_as_an_uninterrupted_one(
    shards: Path, tmp_path: Path
) -> None:
    config = TrainConfig(steps=20, checkpoint_every=4, log_every=3, eval_every=10, **TINY)
    whole = train(shards, tmp_path / "whole", config, progress=None)
    assert sorted(files_of(tmp_path / "whole")) == [
        CHECKPOINT_NAME,
        f"{PERIODIC_DIR}/step-00000012.pt",  # the last two periodic ones; 20 is the final
        f"{PERIODIC_DIR}/step-00000016.pt",
    ]

    out = tmp_path / "crashed"
    with pytest.raises(Crash):
        train(shards, out, config, progress=crash_at(15, []))
    # Step 15 was logged, the last checkpoint is step 12's.
    assert [r["step"] for r in metrics_without_wall_time(out)][-2:] == [12, 15]
    assert not (out / CHECKPOINT_NAME).exists()
    (out / PERIODIC_DIR / ".step-00000016.pt.tmp").write_bytes(b"half a checkpoint")

    lines: list[str] = []
    resumed = train(shards, out, config, progress=lines.append)
    assert f"[train] resuming from {out / PERIODIC_DIR / 'step-00000012.pt'} at step 12" in lines
    assert resumed.start_step == 12 and resumed.steps == 20
    assert resumed.losses == pytest.approx(whole.losses, abs=1e-6)
    assert [s for s, _ in resumed.val_losses] == [s for s, _ in whole.val_losses] == [10, 20]
    assert [v for _, v in resumed.val_losses] == pytest.approx([v for _, v in whole.val_losses])
    assert resumed.tokens_seen == whole.tokens_seen
    # metrics.jsonl is cut back to step 12 and then continues: no line twice, none missing.
    got, want = metrics_without_wall_time(out), metrics_without_wall_time(tmp_path / "whole")
    assert [r["step"] for r in got] == [r["step"] for r in want] == [3, 6, 9, 10, 12, 15, 18, 20]
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        assert all(a[k] == pytest.approx(b[k], abs=1e-6) for k in a)
    # The same files, byte for byte (step 12's written before the crash, the rest after it).
    assert files_of(out) == files_of(tmp_path / "whole")
    assert not list(out.rglob("*.tmp"))
    for name in files_of(out):
        saved = torch.load(out / name, map_location="cpu", weights_only=True)
        assert set(saved) >= {"model", "optimizer", "scheduler", "sampler", "rng", "identity"}


def test_identical_runs_write_byte_identical_checkpoints(shards: Path, tmp_path: Path) -> None:
    config = TrainConfig(steps=4, checkpoint_every=2, dropout=0.1, **TINY)  # dropout: RNG in use
    first = files_of(train(shards, tmp_path / "a", config, progress=None).checkpoint.parent)
    second = files_of(train(shards, tmp_path / "b", config, progress=None).checkpoint.parent)
    assert sorted(first) == [CHECKPOINT_NAME, f"{PERIODIC_DIR}/step-00000002.pt"]
    assert first == second

    saved = torch.load(tmp_path / "a" / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
    assert saved["step"] == 4 and saved["history"]["losses"].shape == (4,)
    assert TrainConfig.model_validate_json(saved["config"]) == config
    assert "elapsed" not in saved  # nothing from the wall clock


def _run(shards: Path, out: Path, config: TrainConfig) -> tuple[TrainResult, list[str]]:
    lines: list[str] = []
    return train(shards, out, config, progress=lines.append), lines


def test_damaged_checkpoints_are_passed_over_with_the_reason(shards: Path, tmp_path: Path) -> None:
    config = TrainConfig(steps=6, checkpoint_every=2, **TINY)
    out = tmp_path / "run"
    whole, _ = _run(shards, out, config)
    want = files_of(out)
    final, step4 = out / CHECKPOINT_NAME, out / PERIODIC_DIR / "step-00000004.pt"
    final.write_bytes(final.read_bytes()[:1000])  # cut short
    step4.write_bytes(b"\0" * 100)

    result, lines = _run(shards, out, config)
    assert any(
        line.startswith(f"[train] not resuming from {final}: unreadable (") for line in lines
    )
    assert any(
        line.startswith(f"[train] not resuming from {step4}: unreadable (")
        and line.endswith("; deleted")
        for line in lines
    )
    assert result.start_step == 2 and result.losses == whole.losses  # fell back to step 2
    assert files_of(out) == want

    # Nothing usable at all: step 0, said so.
    for path in (final, *(out / PERIODIC_DIR).glob("*.pt")):
        path.write_bytes(path.read_bytes()[:-50])
    result, lines = _run(shards, out, config)
    assert sum(line.startswith("[train] not resuming from ") for line in lines) == 3
    assert f"[train] starting from step 0 in {out}" in lines
    assert result.start_step == 0 and result.losses == whole.losses
    assert files_of(out) == want


def test_checkpoints_of_another_config_or_other_shards_are_not_used(
    shards: Path, tmp_path: Path
) -> None:
    config = TrainConfig(steps=3, checkpoint_every=2, **TINY)
    out = tmp_path / "run"
    _run(shards, out, config)

    # checkpoint_every, keep_checkpoints and num_workers do not change the result: reused as is.
    result, lines = _run(shards, out, config.model_copy(update={"checkpoint_every": 1}))
    assert result.start_step == 3 and lines[-1].endswith("is already at step 3: nothing to train")

    config = config.model_copy(update={"lr": 2e-3})
    result, lines = _run(shards, out, config)
    final = out / CHECKPOINT_NAME
    assert f"[train] not resuming from {final}: config differs (lr 0.001 -> 0.002)" in lines
    assert result.start_step == 0

    other = write_shards(tmp_path / "other" / "mlm", train_rows=64, val_rows=8, seed=1)
    result, lines = _run(other, out, config)
    assert any(
        line.startswith(f"[train] not resuming from {final}: shards differ (manifest sha256 ")
        for line in lines
    )
    assert result.start_step == 0

    with pytest.raises(ValueError, match=r"cannot resume: .*config differs \(steps 3 -> 5\)"):
        train(shards, out, config.model_copy(update={"steps": 5}), None, resume=True)


def test_a_finished_run_is_not_trained_again(shards: Path, tmp_path: Path) -> None:
    config = TrainConfig(steps=3, **TINY)
    first, _ = _run(shards, tmp_path, config)
    before = (tmp_path / METRICS_NAME).read_text(), files_of(tmp_path)
    again, lines = _run(shards, tmp_path, config)
    assert lines[-1] == f"[train] {first.checkpoint} is already at step 3: nothing to train"
    assert again.losses == first.losses and again.val_losses == first.val_losses
    assert again.steps == 3 and again.tokens_seen == first.tokens_seen
    assert ((tmp_path / METRICS_NAME).read_text(), files_of(tmp_path)) == before

    # resume=False starts over (and ends with the same files: the run is deterministic).
    fresh = train(shards, tmp_path, config, progress=None, resume=False)
    assert fresh.start_step == 0 and fresh.losses == first.losses
    assert files_of(tmp_path) == before[1]


def test_cli_continues_by_default_and_starts_over_with_fresh(
    shards: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["--shards", str(shards), "--out", str(tmp_path), "--steps", "3"]
    assert cli_main([*args, "--checkpoint-every", "2"]) == 0
    assert (tmp_path / PERIODIC_DIR / "step-00000002.pt").is_file()
    capsys.readouterr()
    assert cli_main(args) == 0  # checkpoint_every does not change the result: nothing to do
    assert "is already at step 3: nothing to train" in capsys.readouterr().out
    assert cli_main([*args, "--fresh"]) == 0
    out = capsys.readouterr().out
    assert "[train] done: step 3/3" in out and not list((tmp_path / PERIODIC_DIR).glob("*.pt"))
