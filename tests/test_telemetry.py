"""Tests for trainer/telemetry.py (metrics.jsonl speed fields, MFU, TensorBoard, the console)
and the GPU training benchmark's CPU smoke run (bench/gpu_train.py --cpu-smoke)."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest
import torch

from pipeline.errors import UserFacingError
from tests.shard_fixtures import write_shards
from trainer.config import TrainConfig
from trainer.loop import train
from trainer.model import ModelConfig, TransformerLM
from trainer.telemetry import (
    TENSORBOARD_DIR,
    Telemetry,
    flops_per_position,
    flops_per_token,
    matmul_parameters,
    peak_flops,
    silent,
    table_tflops,
    wants_bar,
)

TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "batch_size": 8}
SEQ_LEN = 32
HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shards(tmp_path_factory.mktemp("shards") / "mlm", train_rows=64, val_rows=8)


def records_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_metrics_carry_speed_grad_norm_and_no_mfu_on_cpu(shards: Path, tmp_path: Path) -> None:
    config = TrainConfig(steps=4, log_every=2, eval_every=0, tensorboard=False, **TINY)
    lines: list[str] = []
    train(shards, tmp_path, config, progress=lines.append)
    records = records_of(tmp_path)
    assert [r["step"] for r in records] == [2, 4]
    for record in records:
        assert record["grad_norm"] > 0
        assert record["tokens_per_s"] > 0
        # Rows are padded to 32 after 16 to 32 real tokens: the real rate is below the positions'.
        assert 0.4 < record["real_tokens_per_s"] / record["tokens_per_s"] < 1
        assert record["mfu"] is None  # CPU, no train.peak_tflops
    assert any(line.startswith("[train] step 2/4 loss ") and "tok/s" in line for line in lines)
    assert not (tmp_path / TENSORBOARD_DIR).exists()


def test_mfu_with_a_peak_override_is_the_stated_formula(shards: Path, tmp_path: Path) -> None:
    config = TrainConfig(steps=3, log_every=1, eval_every=0, peak_tflops=0.01, **TINY)
    train(shards, tmp_path, config, progress=None)
    saved = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    # N by hand: every parameter but the position table (the head is the token embedding).
    n = sum(v.numel() for k, v in saved["model"].items() if k != "pos_emb.weight")
    flops = 6 * n + 12 * TINY["n_layers"] * TINY["d_model"] * SEQ_LEN
    for record in records_of(tmp_path):
        assert record["mfu"] == pytest.approx(record["tokens_per_s"] * flops / 0.01e12, rel=1e-3)


def test_flops_formula_and_peak_table() -> None:
    model = TransformerLM(
        ModelConfig(vocab_size=100, max_len=16, d_model=8, n_layers=1, n_heads=2, d_ff=16)
    )
    blocks = 2 * 8 + (8 * 24 + 24) + (8 * 8 + 8) + 2 * 8 + (8 * 16 + 16) + (16 * 8 + 8)
    n = 100 * 8 + blocks + 2 * 8 + 100  # token embedding, one block, final norm, head bias
    assert matmul_parameters(model) == n
    assert flops_per_token(n, 1, 8, 16) == 6 * n + 12 * 8 * 16
    assert table_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert table_tflops("NVIDIA H100 PCIe") == 756.0
    assert table_tflops("NVIDIA H200") == table_tflops("NVIDIA GH200 480GB") == 989.0
    assert table_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert table_tflops("NVIDIA L40") == 181.0 and table_tflops("NVIDIA L4") == 121.0
    assert table_tflops("Tesla T4") is None
    assert peak_flops(torch.device("cpu"), None) is None
    assert peak_flops(torch.device("cpu"), 2.5) == 2.5e12


def test_flops_per_position_counts_encoder_decoder_and_two_streams() -> None:
    shape = {"vocab_size": 100, "max_len": 16, "d_model": 8, "n_heads": 2, "d_ff": 16}
    block = 2 * 8 + (8 * 24 + 24) + (8 * 8 + 8) + 2 * 8 + (8 * 16 + 16) + (16 * 8 + 8)
    cross = 2 * 8 + (8 * 24 + 24) + (8 * 8 + 8)  # its LayerNorm, fused projection, output
    kv = 2 * 8 * 8 + 2 * 8  # the cross-attention's key and value rows read the encoder
    seq2seq = TransformerLM(ModelConfig(**shape, n_layers=1, n_decoder_layers=1))
    encoder = block + 2 * 8  # the block and the final LayerNorm
    decoder = block + cross - kv + 2 * 8 + 100 * 8 + 100  # ... its LayerNorm, the tied head
    assert matmul_parameters(seq2seq) == encoder + decoder + kv
    source, target = 16, 4
    dense = 6 * (encoder * source + decoder * target + kv * source)
    attention = 12 * 8 * (source**2 + target**2 + target * source)
    assert flops_per_position(seq2seq, source, target) == pytest.approx((dense + attention) / 16)
    # As long on both sides, it is more than the one-stack formula (the decoder's attention).
    one_stack = flops_per_token(matmul_parameters(seq2seq), 1, 8, source)
    assert flops_per_position(seq2seq, source) > one_stack
    # XLNet's two streams over 2 blocks: 3 block passes (the last content one is skipped).
    xlnet = TransformerLM(ModelConfig(**shape, n_layers=2, two_stream=True))
    n = matmul_parameters(xlnet)
    assert n == 100 * 8 + 2 * block + 2 * 8 + 100 + 8  # ... the query stream's start vector
    expected = 6 * (n - 2 * block + 2 * block * 3 / 2) + 12 * 3 * 8 * source
    assert flops_per_position(xlnet, source) == pytest.approx(expected)
    plain = TransformerLM(ModelConfig(**shape, n_layers=2))
    assert flops_per_position(plain, source) == flops_per_token(
        matmul_parameters(plain), 2, 8, source
    )


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="the tensorboard package is not installed")
def test_tensorboard_event_file_is_written(shards: Path, tmp_path: Path) -> None:
    config = TrainConfig(steps=2, log_every=1, eval_every=0, tensorboard=True, **TINY)
    train(shards, tmp_path, config, progress=None)
    events = list((tmp_path / TENSORBOARD_DIR).glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(tmp_path / TENSORBOARD_DIR))
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    assert {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s"} <= set(tags)
    assert [e.step for e in accumulator.Scalars("train/loss")] == [1, 2]


def test_tensorboard_asked_for_but_missing_is_one_clear_line(
    shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Missing, whether or not it is installed here: its import fails.
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    config = TrainConfig(steps=1, tensorboard=True, **TINY)
    with pytest.raises(UserFacingError, match="tensorboard package is not installed"):
        train(shards, tmp_path, config, progress=None)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert wants_bar(print, Terminal()) and not wants_bar(print, io.StringIO())
    assert not wants_bar(silent, Terminal())
    lines: list[str] = []
    telemetry = Telemetry(
        tmp_path / "metrics.jsonl",
        total_steps=4,
        start_step=0,
        flops=1.0,
        peak=None,
        world_size=1,
        pad_id=0,
        write=True,
        say=lines.append,
        tensorboard=False,
        bar=True,
    )
    with telemetry:
        for step in range(1, 5):
            telemetry.count({"input_ids": torch.ones(2, 8, dtype=torch.long)})
            telemetry.step_done(
                step,
                log=step % 2 == 0,
                loss=torch.tensor(1.5),
                lr=1e-3,
                tokens=16 * step,
                elapsed=0.1 * step,
                parts={},
                grad_norm=None,
                val_loss=0.5 if step == 4 else None,
            )
    shown = capsys.readouterr().err
    assert "4/4" in shown and "<" in shown  # steps done / total, elapsed<remaining (the ETA)
    assert "val_loss 0.50" in shown
    assert lines == []  # the bar replaces the step lines
    records = records_of(tmp_path)
    assert [r["step"] for r in records] == [2, 4]
    assert all(r["real_tokens_per_s"] == r["tokens_per_s"] for r in records)  # no padding


def test_gpu_bench_smoke_runs_on_the_cpu(tmp_path: Path) -> None:
    bench = Path(__file__).resolve().parents[1] / "bench" / "gpu_train.py"
    spec = importlib.util.spec_from_file_location("gpu_train_bench", bench)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    out = tmp_path / "result.json"
    result = module.main(["--cpu-smoke", "--json", str(out), "--work", str(tmp_path / "work")])
    assert json.loads(out.read_text()) == result
    cases = result["cases"]
    assert [(c["objective"], c["seq_len"]) for c in cases] == [
        ("mlm", 32),
        ("mlm", 64),
        ("clm", 32),
        ("clm", 64),
    ]
    for case in cases:
        assert case["tokens_per_s"] > 0 and case["mfu"] is None
        assert 0 <= case["loader_share"] < 1
        assert case["precision"] == "fp32" and not case["compile"]
        assert case["flops_per_token"] == flops_per_token(
            case["matmul_parameters"], 1, 32, case["seq_len"]
        )
