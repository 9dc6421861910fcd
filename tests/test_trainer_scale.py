"""The trainer at scale: exact resume for every objective, SIGKILL, torchrun with DDP and FSDP2,
ranks x workers reading each sample once an epoch, refused checkpoints, and mixed objectives.

Shards come from real builders (pipeline.shards) over a small corpus and tokenizer; every
trainer objective reads the shards of its data-side objective, built by `SHARD_BUILDERS`, so a
new objective joins the parametrised tests by its registry entry (and a new data-side objective
by one line there). Models are tiny; the multi-process tests start two processes each (gloo).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch.utils.data import get_worker_info

from pipeline.objectives.clm import CLMConfig
from pipeline.objectives.denoise import DenoiseConfig
from pipeline.objectives.mlm import MLMConfig
from pipeline.objectives.nsp import NSPConfig
from pipeline.objectives.plm import PLMConfig
from pipeline.objectives.span import SpanConfig
from pipeline.shards import ShardsConfig, build_shards
from pipeline.tokenizer import TokenizerConfig, train_tokenizer
from tests.shard_fixtures import write_shards
from tests.test_tokenizer_and_shards import TOKENIZER, write_corpus
from trainer.config import TrainConfig
from trainer.loop import draw_objective, train, train_loader
from trainer.objectives import OBJECTIVES
from trainer.outputs import CHECKPOINT_NAME, METRICS_NAME
from trainer.sampler import EPOCH_KEY, StepBatchSampler
from trainer.shards import INDEX_KEY, ShardDataset

ROOT = Path(__file__).resolve().parents[1]
#: Each data-side objective's shards config (row length 32, BERT pairs 64).
SHARD_BUILDERS: dict[str, Any] = {
    "mlm": lambda: MLMConfig(seq_len=32),
    "clm": lambda: CLMConfig(seq_len=32),
    "nsp": lambda: NSPConfig(seq_len=64),
    "plm": lambda: PLMConfig(seq_len=32),
    "span": lambda: SpanConfig(inputs_length=32),
    "denoise": lambda: DenoiseConfig(seq_len=32),
}
TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "batch_size": 8}
#: A short run: every step logged, no validation, no periodic checkpoints.
SHORT = {**TINY, "steps": 40, "log_every": 1, "eval_every": 0, "eval_batches": 1}
SHORT["checkpoint_every"] = 0


def build(folder: Path, tokenizer: Path, corpus: list[Path]) -> Path:
    config = ShardsConfig(
        objectives=sorted(SHARD_BUILDERS),
        **{name: make() for name, make in SHARD_BUILDERS.items()},
        rows_per_shard=300,
        val_fraction=0.1,
        encode_batch_docs=64,
    )
    build_shards(corpus, tokenizer, folder, config)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_corpus(tmp_path_factory.mktemp("scale-corpus"))


@pytest.fixture(scope="module")
def shards(corpus: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`shards/<data-side objective>/` for every builder, from one WordPiece tokenizer."""
    work = tmp_path_factory.mktemp("scale-shards")
    train_tokenizer(corpus, work / "tokenizer.json", TOKENIZER)
    return build(work / "shards", work / "tokenizer.json", corpus)


def metrics(out: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in (out / METRICS_NAME).read_text().splitlines()]
    for record in records:
        del record["elapsed"]
    return records


def same_records(got: list[dict[str, Any]], want: list[dict[str, Any]], tol: float) -> None:
    """The same training records (validation aside: a call stopped early validates at its end)."""
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for a, b in zip(got, want, strict=True):
        a, b = (({k: v for k, v in r.items() if not k.startswith("val_")}) for r in (a, b))
        assert a.keys() == b.keys()
        for key, value in a.items():
            assert value == pytest.approx(b[key], abs=tol), (a["step"], key)


# --- every objective ----------------------------------------------------------------------------


def test_every_objective_has_shards_and_its_parts_add_up(shards: Path) -> None:
    for name, objective in OBJECTIVES.items():
        assert objective.shards in SHARD_BUILDERS, f"add a shards builder for {name!r}"
        assert objective.counts is not None, f"{name!r}: give counts, for global-batch losses"


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_a_run_stopped_and_resumed_equals_one_that_was_not(
    name: str, shards: Path, tmp_path: Path
) -> None:
    config = TrainConfig(objective=name, **SHORT)
    whole = train(shards, tmp_path / "whole", config, progress=None)
    assert whole.steps == 40 and len(whole.losses) == 40
    # The parts add up to the logged total, with the objective's factors.
    objective = OBJECTIVES[name]
    for record in metrics(tmp_path / "whole"):
        parts = {k: v for k, v in record.items() if k.endswith("_loss") and k != "val_loss"}
        total = sum(objective.part_weight(k) * v for k, v in parts.items())
        assert record["loss"] == pytest.approx(total, rel=1e-5)

    once = tmp_path / "once"
    train(shards, once, config, progress=None, stop_after=20)
    resumed = train(shards, once, config, progress=None, resume=True)
    assert resumed.start_step == 20
    assert resumed.losses == pytest.approx(whole.losses, abs=1e-6)

    # Twice, the second time with DataLoader workers (their number is not part of the order).
    twice = tmp_path / "twice"
    train(shards, twice, config, progress=None, stop_after=13)
    train(shards, twice, config, progress=None, stop_after=29, resume=True)
    workers = config.model_copy(update={"num_workers": 2})
    again = train(shards, twice, workers, progress=None, resume=True)
    assert again.start_step == 29
    assert again.losses == pytest.approx(whole.losses, abs=1e-6)
    for out in (once, twice):
        same_records(metrics(out), metrics(tmp_path / "whole"), 1e-6)


def test_resume_at_an_epoch_boundary_and_mid_epoch(tmp_path: Path) -> None:
    # 80 rows, 8 a step: step 10 ends epoch 0 exactly, step 13 ends 24 rows into epoch 1.
    small = write_shards(tmp_path / "small" / "mlm", train_rows=80, val_rows=0)
    config = TrainConfig(**{**SHORT, "steps": 16})
    whole = train(small, tmp_path / "whole", config, progress=None)
    for stop, where in ((10, (80, 1, 0)), (13, (104, 1, 24))):
        out = tmp_path / f"stop-{stop}"
        first = train(small, out, config, progress=None, stop_after=stop)
        state = torch.load(first.checkpoint, weights_only=True)["sampler"]["mlm"]
        assert (state["consumed"], state["epoch"], state["position"]) == where
        rest = train(small, out, config, progress=None, resume=True)
        assert rest.losses == pytest.approx(whole.losses, abs=1e-6)


# --- a killed process ---------------------------------------------------------------------------


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GRISTMILL_FAULT"}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **extra)
    return env


def cli(shards: Path, out: Path, config: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "trainer",
        "--shards",
        str(shards),
        "--out",
        str(out),
        "--config",
        str(config),
        *args,
    ]


def test_a_run_killed_by_sigkill_resumes_exactly(shards: Path, tmp_path: Path) -> None:
    fields = {**SHORT, "objective": "clm", "checkpoint_every": 5}
    config_file = tmp_path / "train.yaml"
    config_file.write_text(yaml.safe_dump({"train": fields}))
    whole = train(shards, tmp_path / "whole", TrainConfig(**fields), progress=None)

    out = tmp_path / "killed"
    killed = subprocess.run(
        cli(shards, out, config_file),
        env=child_env(GRISTMILL_FAULT="train.step:23"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (out / CHECKPOINT_NAME).exists()
    # Killed in step 23, before its log line: 22 logged, step 20 the newest checkpoint.
    assert max(r["step"] for r in metrics(out)) == 22

    resumed = subprocess.run(
        cli(shards, out, config_file, "--resume"),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout and "at step 20" in resumed.stdout
    saved = torch.load(out / CHECKPOINT_NAME, weights_only=True)
    assert saved["history"]["losses"].tolist() == pytest.approx(whole.losses, abs=1e-6)
    same_records(metrics(out), metrics(tmp_path / "whole"), 1e-6)


# --- ranks and workers --------------------------------------------------------------------------


class WorkerTagged(ShardDataset):
    """A ShardDataset whose items say which DataLoader worker read them."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        info = get_worker_info()
        item["worker"] = torch.tensor(-1 if info is None else info.id)
        return item


def test_every_sample_of_an_epoch_is_read_once_across_two_ranks_and_two_workers(
    shards: Path,
) -> None:
    dataset = WorkerTagged(shards / "mlm", "train", columns=("input_ids",))
    rows, batch, accum, world = len(dataset), 4, 2, 2
    steps = rows // (batch * accum * world) + 2  # past the end of epoch 0
    seen: list[tuple[int, int, int, int]] = []  # (epoch, row, rank, worker)
    for rank in range(world):
        sampler = StepBatchSampler(
            rows, seed=5, batch_size=batch, grad_accum=accum, rank=rank, world_size=world
        )
        loader = iter(train_loader(dataset, sampler, num_workers=2, seed=5, pin=False))
        for _ in range(steps * accum):
            got = next(loader)
            seen += [
                (int(e), int(i), rank, int(w))
                for e, i, w in zip(got[EPOCH_KEY], got[INDEX_KEY], got["worker"], strict=True)
            ]
        del loader
    epoch0 = [(row, rank, worker) for epoch, row, rank, worker in seen if epoch == 0]
    assert sorted(row for row, _, _ in epoch0) == list(range(rows))  # each row once
    assert {(rank, worker) for _, rank, worker in epoch0} == {(0, 0), (0, 1), (1, 0), (1, 1)}


def torchrun(shards: Path, out: Path, config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        *cli(shards, out, config)[1:],
    ]
    return subprocess.run(
        command, env=child_env(**env), capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_under_torchrun_equal_one_and_resume_after_a_kill(
    parallel: str, shards: Path, tmp_path: Path
) -> None:
    # Global batch 16 both ways: 2 ranks x 2 micro-batches of 4, or 1 process x 2 of 8.
    fields = {**SHORT, "steps": 12, "batch_size": 4, "grad_accum": 2, "parallel": parallel}
    config_file = tmp_path / "train.yaml"
    config_file.write_text(yaml.safe_dump({"train": {**fields, "checkpoint_every": 4}}))
    # Both ranks killed in step 7, then the job started again: it resumes from step 4.
    killed = torchrun(shards / "mlm", tmp_path / "two", config_file, GRISTMILL_FAULT="train.step:7")
    assert killed.returncode != 0 and (tmp_path / "two" / "checkpoints").is_dir()
    done = torchrun(shards / "mlm", tmp_path / "two", config_file)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "at step 4" in done.stdout, done.stdout
    one = train(shards / "mlm", tmp_path / "one", TrainConfig(**{**fields, "batch_size": 8}), None)
    two = metrics(tmp_path / "two")
    assert [r["loss"] for r in two] == pytest.approx(one.losses, abs=1e-5)
    same_records(two, metrics(tmp_path / "one"), 1e-5)
    saved = torch.load(tmp_path / "two" / CHECKPOINT_NAME, weights_only=True)  # rank 0 wrote it
    assert saved["identity"]["world_size"] == 2 and saved["step"] == 12


# --- refused checkpoints ------------------------------------------------------------------------


def test_corrupt_and_mismatched_checkpoints_are_refused_saying_what_differs(
    shards: Path, corpus: list[Path], tmp_path: Path
) -> None:
    config = TrainConfig(**{**SHORT, "steps": 2})
    out = tmp_path / "run"
    train(shards, out, config, progress=None)
    final = out / CHECKPOINT_NAME

    def refusal(shards_dir: Path, config: TrainConfig) -> str:
        with pytest.raises(ValueError) as err:
            train(shards_dir, out, config.model_copy(update={"steps": 4}), None, resume=True)
        return str(err.value)

    # Another objective on the same shards (rtd reads mlm's).
    message = refusal(shards, config.model_copy(update={"objective": "rtd"}))
    assert message.startswith(f"cannot resume: {final}: ")
    assert "objective 'mlm' -> 'rtd'" in message
    assert "model shape differs (generator_fraction 0.0 -> 0.25)" in message
    # Other shapes.
    message = refusal(shards, config.model_copy(update={"d_model": 64, "d_ff": 128}))
    assert "config differs (steps 2 -> 4, d_model 32 -> 64, d_ff 64 -> 128)" in message
    assert "model shape differs (d_model 32 -> 64, d_ff 64 -> 128)" in message
    # Another tokenizer (and so another vocabulary).
    other = tmp_path / "bpe"
    other.mkdir()
    train_tokenizer(corpus, other / "tokenizer.json", TokenizerConfig(kind="bpe", vocab_size=300))
    built = build(other / "shards", other / "tokenizer.json", corpus)
    message = refusal(built, config)
    old, new = (json.loads((s / "mlm" / "manifest.json").read_text()) for s in (shards, built))
    vocab = f"vocab_size {old['vocab_size']} -> {new['vocab_size']}"
    assert old["vocab_size"] != new["vocab_size"]
    tokenizer = f"{old['tokenizer_sha256'][:12]}… -> {new['tokenizer_sha256'][:12]}…"
    assert f"mlm shards differ ({vocab}, tokenizer_sha256 {tokenizer})" in message
    assert f"model shape differs ({vocab})" in message

    # A corrupt file: cut short.
    final.write_bytes(final.read_bytes()[:2000])
    message = refusal(shards, config.model_copy(update={"steps": 2}))
    assert message.startswith(f"cannot resume: {final}: unreadable (")


# --- mixed objectives ---------------------------------------------------------------------------


def test_objectives_are_drawn_by_weight_from_seed_and_step() -> None:
    mix = {"mlm": 3.0, "clm": 1.0}
    draws = [draw_objective(mix, 1234, step) for step in range(2000)]
    assert draws == [draw_objective(mix, 1234, step) for step in range(2000)]
    assert 0.7 < draws.count("mlm") / 2000 < 0.8
    assert draws != [draw_objective(mix, 99, step) for step in range(2000)]
    assert {draw_objective({"clm": 1.0}, 1, s) for s in range(20)} == {"clm"}


def test_a_mixed_mlm_and_clm_run_trains_every_objective_and_resumes_exactly(
    shards: Path, tmp_path: Path
) -> None:
    fields = {**SHORT, "steps": 60, "lr": 3e-3, "objectives": {"mlm": 1.0, "clm": 1.0}}
    config = TrainConfig(**fields)
    whole = train(shards, tmp_path / "whole", config, progress=None)
    records = metrics(tmp_path / "whole")
    assert [r["step"] for r in records] == list(range(1, 61))
    for name in ("mlm", "clm"):
        losses = [r[f"{name}_loss"] for r in records if r["objective"] == name]
        assert len(losses) >= 20  # about half of the 60 steps each
        assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10, (name, losses)
    # One network: both objectives' heads and masks on one model (the decoder's shared too).
    saved = torch.load(tmp_path / "whole" / CHECKPOINT_NAME, weights_only=True)
    assert saved["model_config"]["causal"] is False
    assert set(saved["sampler"]) == {"mlm", "clm"}
    steps = {n: sum(r["objective"] == n for r in records) for n in ("mlm", "clm")}
    assert {n: s["consumed"] // 8 for n, s in saved["sampler"].items()} == steps

    out = tmp_path / "part"
    train(shards, out, config, progress=None, stop_after=25)
    resumed = train(shards, out, config, progress=None, resume=True)
    assert resumed.losses == pytest.approx(whole.losses, abs=1e-6)
    same_records(metrics(out), records, 1e-6)
