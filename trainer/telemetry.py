"""What a training run shows while it runs: metrics.jsonl, TensorBoard scalars, a progress bar.

The loop calls `Telemetry.count(batch)` for every micro-batch and `Telemetry.step_done(...)`
after every optimizer step; on logged steps (every `train.log_every`, the last, and each one
that validated) the record below is written to `metrics.jsonl`, to TensorBoard when enabled, and
to the console (the progress bar's figures on a terminal, the `[train] step ...` line otherwise).

A record holds `step`, `loss` (the step's mean over its micro-batches) and the objective's named
parts (`mlm_loss`, `nsp_loss`, ...), `lr` (the one the step used), `tokens` (token positions fed
so far, all ranks), `elapsed` (wall seconds of the run so far), `grad_norm` (before clipping;
absent when `train.grad_clip` is 0), `val_loss` on validated steps, and the speed since the
previous logged step (the
window holds everything the loop did since, a validation pass included):

- `tokens_per_s`: token *positions* per second, padding included (rows x seq_len, all ranks):
  what the model computes on, and what MFU is reckoned from;
- `real_tokens_per_s`: non-padding tokens per second (those `attention_mask` keeps), counted on
  this rank and multiplied by the number of ranks (the ranks read disjoint slices of the same
  shards, so this is an estimate under DDP; counting them exactly would need a collective on
  every logged step);
- `mfu`: model FLOPs utilisation, `tokens_per_s * flops_per_token / (peak_flops * ranks)`, with
  the FLOPs of one token's forward and backward pass, after PaLM (Chowdhery et al. 2022,
  appendix B) and Kaplan et al. 2020:

      flops_per_token = 6 * N + 12 * n_layers * d_model * seq_len

  `N` is the number of parameters in matrix multiplies: every parameter but the position and
  segment embedding tables (lookups, no multiply); the token embedding counts, since it is also
  the output projection. `6 * N` is 2 FLOPs per multiply-add forward and 4 backward; the second
  term is attention's score and value products (`QK^T` and `AV`: `2 * 2 * seq_len * d_model` a
  token and layer forward, times 3 with the backward pass), counted in full for causal models
  too, as PaLM does. These are model FLOPs, not what the implementation executes: the MLM loss
  projects only the labelled positions onto the vocabulary, so for MLM the head's share of
  `6 * N` is counted though mostly skipped, and activation recomputation, if any, is not counted.
  Encoder-decoder and two-stream models do more work per input position than this one-stack
  formula says; `flops_per_position` counts them (below) per *encoder input* position, the
  positions `tokens_per_s` counts:

  - encoder-decoder (T5, BART; source length S, target length T): per row
    `6 * (N_enc * S + N_dec * T + N_kv * S) + 12 * d_model * (L_enc * S^2 + L_dec * (T^2 + T * S))`,
    divided by S. `N_enc` is the encoder blocks and its norms; `N_dec` the decoder blocks (less
    the cross-attention's key and value projections), its norms and the tied output projection
    (the head runs on decoder positions only); `N_kv` those key and value projections, which
    read the S encoder states; the attention terms are the decoder's causal self-attention
    (T x T, counted in full) and its cross-attention (T x S).
  - two-stream (XLNet's "plm"): both streams run through the blocks with the same weights,
    the query stream at every position (this implementation predicts from it at every position
    and masks the loss), the content stream in all blocks but the last (whose output feeds
    nothing): P = `2 * n_layers - 1` block passes, so
    `6 * (N - N_blocks + N_blocks * P / n_layers) + 12 * P * d_model * S` per position.

  trainer.loop reckons MFU with `flops_per_position` for every family, with the shards' row
  length as S and their `labels` width as T (`tests/test_telemetry.py` checks it against a
  count by hand). A mixed run's figure is its first objective's.
  `peak_flops` is one device's dense bf16 peak (`PEAK_TFLOPS`, found by the CUDA device's name)
  or `train.peak_tflops` when set; on the CPU, or on a GPU the table lacks, `mfu` is null unless
  `train.peak_tflops` gives it.

Speed figures are wall-clock, so they differ between two runs of the same config; they are
listed in `WALL_CLOCK_KEYS` so comparisons of two runs' records can leave them out.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import torch
from torch import nn

from pipeline.errors import UserFacingError

Progress = Callable[[str], None]

#: Dense bf16 tensor-core peak TFLOP/s of one device, by a part of its CUDA name, from the
#: vendors' datasheets (without sparsity). Tried in order: the first name found in the device's
#: name wins, so a specific name goes before a shorter one it contains.
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM
    ("H200", 989.0),  # also GH200
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
)

#: Record fields measured with the wall clock (not reproducible from run to run).
WALL_CLOCK_KEYS = frozenset({"elapsed", "tokens_per_s", "real_tokens_per_s", "mfu"})

#: Where TensorBoard event files go, under the run's output folder.
TENSORBOARD_DIR = "tensorboard"


def silent(_line: str) -> None:
    """A progress callback that shows nothing (what the loop uses when given none)."""


def matmul_parameters(model: nn.Module) -> int:
    """`N` of the FLOPs formula: trainable parameters, less the position and segment embedding
    tables (looked up, never multiplied). The tied token embedding counts once."""
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for name in ("pos_emb", "type_emb"):
        table = getattr(model, name, None)
        if isinstance(table, nn.Embedding):
            total -= table.weight.numel()
    return total


def flops_per_token(n_params: int, n_layers: int, d_model: int, seq_len: int) -> float:
    """Training FLOPs per token position: `6 * N + 12 * n_layers * d_model * seq_len`."""
    return 6.0 * n_params + 12.0 * n_layers * d_model * seq_len


def _numel(*modules: nn.Module | nn.Parameter | None) -> int:
    total = 0
    for module in modules:
        if isinstance(module, nn.Parameter):
            total += module.numel()
        elif module is not None:
            total += sum(p.numel() for p in module.parameters())
    return total


def flops_per_position(model: nn.Module, source_len: int, target_len: int | None = None) -> float:
    """Training FLOPs per encoder input position (what `tokens_per_s` counts) of a
    trainer.model.TransformerLM of any family: the one-stack formula (`flops_per_token`) for an
    encoder or a decoder, and the module docstring's for an encoder-decoder (`target_len`: the
    decoder's length, the shards' `labels` width; default `source_len`) and for XLNet's two
    streams."""
    cfg = model.cfg  # type: ignore[union-attr]
    n_all = matmul_parameters(model)
    d, source = cfg.d_model, source_len
    if cfg.n_decoder_layers:
        target = source_len if target_len is None else target_len
        shared = _numel(model.emb_ln)  # type: ignore[arg-type]  # applied on both sides
        encoder = _numel(model.blocks, model.ln_f) + shared  # type: ignore[arg-type]
        # The cross-attention's key and value rows of the fused projection read the encoder.
        kv = sum(
            block.cross.qkv.weight[d:].numel() + block.cross.qkv.bias[d:].numel()
            for block in model.decoder  # type: ignore[union-attr]
        )
        decoder = n_all - encoder + shared - kv  # decoder blocks, ln_dec, tied head, its bias
        dense = 6.0 * (encoder * source + decoder * target + kv * source)
        attention = (
            12.0
            * d
            * (cfg.n_layers * source**2 + cfg.n_decoder_layers * (target**2 + target * source))
        )
        return (dense + attention) / source
    if cfg.two_stream:
        passes = 2 * cfg.n_layers - 1
        blocks = _numel(model.blocks)  # type: ignore[arg-type]
        dense = 6.0 * (n_all - blocks + blocks * passes / cfg.n_layers)
        return dense + 12.0 * passes * d * source
    return flops_per_token(n_all, cfg.n_layers, d, source)


def peak_flops(device: torch.device, override_tflops: float | None) -> float | None:
    """One device's peak FLOP/s: `override_tflops` if given, else the table's figure for this
    CUDA device; None on the CPU and on GPUs the table does not know."""
    if override_tflops is not None:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    tflops = table_tflops(torch.cuda.get_device_name(device))
    return None if tflops is None else tflops * 1e12


def table_tflops(device_name: str) -> float | None:
    """`PEAK_TFLOPS`'s figure for a CUDA device name, or None if the table lacks it."""
    for part, tflops in PEAK_TFLOPS:
        if part in device_name:
            return tflops
    return None


def open_tensorboard(log_dir: Path, wanted: bool | None, purge_step: int | None) -> Any | None:
    """A `SummaryWriter` on `log_dir`, or None. `wanted=None`: when the tensorboard package is
    importable; `True`: required (a one-line error without it); `False`: never. `purge_step`
    drops events at or after it that an interrupted earlier run left (a resumed run rewrites
    them)."""
    if wanted is False:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        if wanted:
            raise UserFacingError(
                "train.tensorboard is true but the tensorboard package is not installed "
                "(pip install tensorboard, or gristmill's 'tensorboard' extra)"
            ) from exc
        return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def wants_bar(say: Progress, stream: IO[str] | None = None) -> bool:
    """A progress bar when lines are shown at all and the stream is a terminal."""
    stream = sys.stderr if stream is None else stream
    return say is not silent and hasattr(stream, "isatty") and stream.isatty()


class Telemetry:
    """Metrics of one run's logged steps, to metrics.jsonl, TensorBoard and the console.

    `metrics_path` is opened for appending (the loop has already created or trimmed it) when
    `write` is true (rank 0); other ranks only count. `flops` is `flops_per_token` of the model;
    `peak` the per-device peak FLOP/s or None (no MFU); `world_size` the number of ranks.
    """

    def __init__(
        self,
        metrics_path: Path,
        *,
        total_steps: int,
        start_step: int,
        flops: float,
        peak: float | None,
        world_size: int,
        pad_id: int,
        write: bool,
        say: Progress,
        tensorboard: bool | None = None,
        bar: bool | None = None,
    ) -> None:
        self.total_steps = total_steps
        self.flops = flops
        self.peak = peak
        self.world_size = world_size
        self.pad_id = pad_id
        self.say = say
        self.file: IO[str] | None = metrics_path.open("a", encoding="utf-8") if write else None
        purge = start_step + 1 if start_step else None
        self.writer = (
            open_tensorboard(metrics_path.parent / TENSORBOARD_DIR, tensorboard, purge)
            if write
            else None
        )
        self.bar: Any | None = None
        if write and (wants_bar(say) if bar is None else bar):
            from tqdm import tqdm  # installed with `datasets`, a core dependency

            self.bar = tqdm(
                total=total_steps,
                initial=start_step,
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
            )
        self._real: torch.Tensor | None = None  # real tokens since the last log, on the device
        self._positions = 0  # token positions since the last log, this rank
        self._since = time.perf_counter()

    def count(self, batch: dict[str, torch.Tensor]) -> None:
        """Count a micro-batch's token positions and real (non-padding) tokens, without a
        device sync."""
        ids = batch["input_ids"]
        mask = batch.get("attention_mask")
        real = (mask != 0).sum() if mask is not None else (ids != self.pad_id).sum()
        self._real = real if self._real is None else self._real + real
        self._positions += ids.numel()

    def step_done(
        self,
        step: int,
        *,
        log: bool,
        loss: torch.Tensor,
        lr: float,
        tokens: int,
        elapsed: float,
        parts: dict[str, torch.Tensor],
        grad_norm: torch.Tensor | None,
        val_loss: float | None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """After optimizer step `step`: advance the bar; on a logged step (`log`), write and
        return the record (else None). `extra` adds fields after the loss parts (a mixed run's
        objective and its per-objective losses); tensors in it are written as floats."""
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
        if not log:
            return None
        loss_value = float(loss)  # syncs the device, so the clock below sees the work done
        now = time.perf_counter()
        seconds = max(now - self._since, 1e-9)
        real = int(self._real) if self._real is not None else 0
        positions_per_s = self._positions * self.world_size / seconds
        record: dict[str, Any] = {
            "step": step,
            "loss": loss_value,
            "lr": lr,
            "tokens": tokens,
            "elapsed": round(elapsed, 4),
        }
        record.update({part: float(value) for part, value in parts.items()})
        for key, value in (extra or {}).items():
            record[key] = float(value) if isinstance(value, torch.Tensor) else value
        if grad_norm is not None:
            record["grad_norm"] = float(grad_norm)
        if val_loss is not None:
            record["val_loss"] = val_loss
        record["tokens_per_s"] = round(positions_per_s, 1)
        record["real_tokens_per_s"] = round(real * self.world_size / seconds, 1)
        record["mfu"] = (
            None
            if self.peak is None
            else round(positions_per_s * self.flops / (self.peak * self.world_size), 6)
        )
        self._real, self._positions = None, 0
        if self.file is not None:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, int | float):
                    tag = "val/loss" if key == "val_loss" else f"train/{key}"
                    self.writer.add_scalar(tag, value, step)
            self.writer.flush()
        self._show(record)
        self._since = time.perf_counter()  # console and file writes stay out of the next window
        return record

    def _show(self, record: dict[str, Any]) -> None:
        val_loss = record.get("val_loss")
        if self.bar is not None:
            shown = {"loss": f"{record['loss']:.2f}", "tok/s": f"{record['tokens_per_s']:,.0f}"}
            if record["mfu"] is not None:
                shown["mfu"] = f"{record['mfu']:.1%}"
            self.bar.set_postfix(shown, refresh=True)
            if val_loss is not None:
                line = f"[train] step {record['step']} val_loss {val_loss:.2f}"
                self.bar.write(line, file=sys.stderr)
            return
        line = (
            f"[train] step {record['step']}/{self.total_steps} loss {record['loss']:.2f} "
            f"lr {record['lr']:.1e} {record['tokens_per_s']:,.0f} tok/s"
        )
        if record["mfu"] is not None:
            line += f" mfu {record['mfu']:.1%}"
        if val_loss is not None:
            line += f" val_loss {val_loss:.2f}"
        self.say(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.file is not None:
            self.file.close()
            self.file = None

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
