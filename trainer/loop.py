"""The training loop: shards in, a checkpoint and a metrics log out.

`train()` looks up `config.objective` in trainer.objectives (which columns it reads, which model
family and heads, its loss), reads those columns of its shards (trainer.shards), samples rows
with the resumable sampler (trainer.sampler), trains the TransformerLM (trainer.model) with AdamW
and warmup + cosine (trainer.schedule), and writes `out_dir/metrics.jsonl`, a checkpoint every
`config.checkpoint_every` steps under `out_dir/checkpoints/` (the newest
`config.keep_checkpoints` kept) and the final `out_dir/checkpoint.pt` (trainer.checkpoint).

Resume: on start, `train()` continues from the newest checkpoint in `out_dir` that was written by
a run with the same identity (trainer.resume: result-affecting config, shards, device, ranks), so
re-running a crashed job picks up where its last checkpoint left off; metrics.jsonl is cut back
to that step, so the log and the final model equal those of a run that never stopped.

Determinism: the model is initialised from `torch.manual_seed(config.seed)`, the row order comes
from (seed, epoch) alone, and DataLoaders get their own generators so they never draw from the
global RNG; on CPU the same shards + config give the same per-step losses, and a run resumed from
a checkpoint gives the same losses as one that was never interrupted.

Under `torchrun` with WORLD_SIZE > 1 the loop joins the process group from the environment, wraps
the model in DistributedDataParallel and gives each rank its own slice of every epoch; rank 0
alone logs, evaluates and writes files.
"""

from __future__ import annotations

import multiprocessing
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from pipeline.faults import fault_point
from trainer.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    load_checkpoint,
    periodic_checkpoints,
    periodic_path,
    prune_periodic,
    remove_temp_files,
    save_checkpoint,
    trim_metrics,
)
from trainer.config import TrainConfig
from trainer.distributed import DistInfo, init_distributed, resolve_device
from trainer.model import HEAD_SETTINGS, HEADS, ModelConfig, TransformerLM, count_parameters
from trainer.objectives import Batch, LossOutput, TrainObjective, get_objective
from trainer.outputs import CHECKPOINT_NAME, METRICS_NAME
from trainer.resume import ResumeSearch, find_resume_point, manifest_sha256, run_identity
from trainer.sampler import ResumableSampler
from trainer.schedule import warmup_cosine
from trainer.shards import INDEX_KEY, MANIFEST_NAME, Manifest, ShardDataset, load_manifest
from trainer.telemetry import Telemetry, flops_per_token, matmul_parameters, peak_flops, silent

Progress = Callable[[str], None]


@dataclass
class TrainResult:
    """What a run has done after one call of `train()`. `losses` (one per step) and `val_losses`
    cover the whole run, the steps before a resumed-from checkpoint included (they come from its
    history), as do `steps` and `tokens_seen`; `seconds` is this call's wall time."""

    losses: list[float]
    val_losses: list[tuple[int, float]]
    checkpoint: Path
    metrics: Path
    steps: int
    tokens_seen: int  # token positions fed to the model (rows x seq_len, padding included)
    parameters: int
    seconds: float  # wall time of this call
    device: str
    start_step: int = 0  # the step this call started from (0, or the checkpoint's step)


def _resolve_precision(device: torch.device, precision: str) -> str:
    """`bf16` for `bf16`, and for `auto` on a CUDA device that supports it; else `fp32`."""
    use_bf16 = precision == "bf16" or (
        precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
    )
    return "bf16" if use_bf16 else "fp32"


def _autocast(device: torch.device, precision: str) -> Callable[[], AbstractContextManager[Any]]:
    """bf16 autocast when the resolved precision is bf16; else a no-op context."""
    if _resolve_precision(device, precision) != "bf16":
        return nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on Linear weights only.

    Biases, LayerNorm weights and the embeddings (the token embedding doubles as the output head)
    get no decay, as in BERT / GPT-2 practice: decaying them mostly shrinks scales the next layer
    re-learns. On CUDA the fused kernel updates every parameter in one launch per group (same
    update rule; the CPU keeps the default implementation, which the tests' losses pin).
    """
    no_decay: set[int] = set()
    for module in model.modules():
        if isinstance(module, nn.Embedding | nn.LayerNorm):
            no_decay.update(id(p) for p in module.parameters(recurse=False))
    decay, plain = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        if param.ndim < 2 or id(param) in no_decay:
            plain.append(param)
        else:
            decay.append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    fused = all(p.device.type == "cuda" for p in model.parameters())
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=fused or None)


def find_shards_dir(shards_dir: Path | str, objective: str) -> Path:
    """`shards_dir` if it holds a manifest, else `shards_dir/<objective>` if that does."""
    shards_dir = Path(shards_dir)
    if (
        not (shards_dir / MANIFEST_NAME).is_file()
        and (shards_dir / objective / MANIFEST_NAME).is_file()
    ):
        return shards_dir / objective
    return shards_dir


def model_config_for(
    manifest: Manifest, config: TrainConfig, objective: TrainObjective
) -> ModelConfig:
    """The model shape for these shards (vocab, length, special ids), this config and the
    family the objective asks for. Learned positions cover `config.max_len` when it is set (it
    must cover the shards' rows), else the shards' longest fixed-length column (a
    sequence-to-sequence objective's targets may be longer than its inputs); segment embeddings
    are as many as the config or the objective's heads ask for, whichever is more; an
    "encoder-decoder" objective gets a decoder as deep as the encoder (T5 and BART's layout)."""
    heads = {k: v for head in objective.heads for k, v in HEAD_SETTINGS.get(head, {}).items()}
    lengths = [c.shape[0] or 0 for c in manifest.columns.values() if c.numeric and c.shape]
    longest = max([manifest.seq_len, *lengths])
    max_len = config.max_len or longest
    if max_len < longest:
        raise ValueError(
            f"{manifest.path}: rows of {longest} tokens exceed train.max_len {max_len}"
        )
    heads["type_vocab_size"] = max(config.type_vocab_size, heads.get("type_vocab_size", 0))
    return ModelConfig(
        vocab_size=manifest.vocab_size,
        max_len=max_len,
        d_model=config.d_model,
        n_layers=config.n_layers,
        n_heads=config.n_heads,
        d_ff=config.d_ff,
        dropout=config.dropout,
        pad_id=manifest.pad_id,
        ignore_index=manifest.ignore_index,
        causal=objective.family == "decoder",
        n_decoder_layers=config.n_layers if objective.family == "encoder-decoder" else 0,
        generator_fraction=config.generator_fraction if "rtd" in objective.heads else 0.0,
        norm=config.norm,
        embed_norm=config.embed_norm,
        final_norm=config.final_norm,
        head_transform=config.head_transform,
        head_bias=config.head_bias,
        gelu=config.gelu,
        norm_eps=config.norm_eps,
        **heads,
    )


def check_objective(objective: TrainObjective, manifest: Manifest) -> None:
    """Refuse shards of another objective, or lacking a column, and heads the model lacks."""
    if manifest.objective != objective.shards:
        raise ValueError(
            f"{manifest.path}: objective is {manifest.objective!r}; training objective "
            f"{objective.name!r} reads {objective.shards!r} shards"
        )
    missing = [c for c in objective.columns if c not in manifest.columns]
    if missing:
        raise ValueError(
            f"{manifest.path}: no column {missing}, which {objective.name!r} reads; "
            "rebuild the shards"
        )
    lacking = sorted(set(objective.heads) - HEADS)
    if lacking:
        raise ValueError(f"{objective.name!r} needs heads {lacking}; the model has {sorted(HEADS)}")


def prepare_batch(
    batch: Batch,
    objective: TrainObjective,
    device: torch.device,
    seed: int,
    epoch: int,
) -> Batch:
    """The objective's columns on `device`, after its per-batch transform (if any), which is
    seeded by (seed, epoch, the rows' global indices)."""
    if objective.transform is not None:
        batch = objective.transform(batch, seed, epoch, batch[INDEX_KEY])
    names = (*objective.columns, *objective.drawn)
    return {name: batch[name].to(device, non_blocking=True) for name in names}


@torch.no_grad()
def evaluate(
    model: TransformerLM,
    loader: DataLoader,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager[Any]],
    max_batches: int,
    objective: TrainObjective,
    seed: int,
) -> float:
    """The objective's loss over the first `max_batches` batches of `loader`, each batch weighed
    by the predictions it averages (per labelled position, for the LM objectives)."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = torch.zeros((), dtype=torch.int64, device=device)
    for index, batch in enumerate(loader):
        if index >= max_batches:
            break
        batch = prepare_batch(batch, objective, device, seed, epoch=0)
        with autocast():
            out: LossOutput = objective.loss(model, batch)
        total += out.total.double() * out.weight
        count += out.weight
    model.train(was_training)
    return float(total / count.clamp(min=1))


def _choose_start(
    out_dir: Path,
    identity: dict[str, Any],
    resume: bool | None,
    ddp: DistInfo,
    say: Progress,
) -> tuple[Path | None, dict[str, Any] | None]:
    """The checkpoint this run continues from and its payload, or (None, None) for step 0.

    Rank 0 decides (and tidies the folder: temporary files of an interrupted write, and periodic
    checkpoints that cannot be used or, on a fresh start, are stale); the other ranks load the
    file it names, so all ranks start from the same step.
    """
    chosen: Path | None = None
    payload: dict[str, Any] | None = None
    failure: tuple[str, str] | None = None  # (exception kind, message) when resume=True fails
    if ddp.rank == 0:
        remove_temp_files(out_dir)
        search = find_resume_point(out_dir, identity) if resume is not False else ResumeSearch()
        chosen, payload = search.path, search.payload
        if chosen is None and resume:
            if search.passed_over:
                reasons = "; ".join(f"{path}: {why}" for path, why in search.passed_over)
                failure = ("mismatch", f"cannot resume: {reasons}")
            else:
                failure = ("missing", f"{out_dir}: no checkpoint to resume from")
        else:
            # Periodic checkpoints passed over are useless here; on a fresh start all are stale
            # and would otherwise outlive this run's own in keep-last-K pruning.
            passed = {path for path, _ in search.passed_over}
            doomed = [p for _, p in periodic_checkpoints(out_dir) if chosen is None or p in passed]
            for path, why in search.passed_over:
                note = "; deleted" if path in doomed else ""
                say(f"[train] not resuming from {path}: {why}{note}")
            for path in doomed:
                path.unlink(missing_ok=True)
            if chosen is None and (search.passed_over or doomed):
                say(f"[train] starting from step 0 in {out_dir}")
    if ddp.enabled:
        shared: list[Any] = [str(chosen) if chosen else None, failure]
        dist.broadcast_object_list(shared, src=0)
        chosen = Path(shared[0]) if shared[0] else None
        failure = shared[1]
        if ddp.rank != 0 and chosen is not None:
            payload = load_checkpoint(chosen)
    if failure is not None:
        kind, message = failure
        raise FileNotFoundError(message) if kind == "missing" else ValueError(message)
    return chosen, payload


def train(
    shards_dir: Path,
    out_dir: Path,
    config: TrainConfig,
    progress: Progress | None = print,
    *,
    resume: bool | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Train on `shards_dir` (a folder holding manifest.json, or its parent holding
    `<objective>/manifest.json`) and write metrics and checkpoints to `out_dir`.

    `resume=None` (the default) continues from the newest checkpoint in `out_dir` made by a run
    with the same identity (model, optimizer, scheduler, sampler position, RNG, step, loss
    history), and otherwise starts from step 0, saying via `progress` which files it passed over
    and why; a run already at `config.steps` returns at once. `resume=True` insists: it raises if
    no checkpoint qualifies. `resume=False` starts from step 0 and deletes the periodic
    checkpoints already there. `stop_after=k` ends this call after global step `k`
    (checkpointing to checkpoint.pt) while the LR schedule still targets `config.steps`, as if
    the job had been interrupted; a later call carries on exactly.
    """
    started = time.perf_counter()
    if stop_after is not None and stop_after < 1:
        raise ValueError(f"stop_after must be >= 1, got {stop_after}")
    ddp = init_distributed()
    say: Progress = progress if (progress is not None and ddp.rank == 0) else silent
    try:
        return _train(shards_dir, Path(out_dir), config, say, resume, stop_after, ddp, started)
    finally:
        if ddp.started_here:
            dist.destroy_process_group()


def _train(
    shards_dir: Path,
    out_dir: Path,
    config: TrainConfig,
    say: Progress,
    resume: bool | None,
    stop_after: int | None,
    ddp: DistInfo,
    started: float,
) -> TrainResult:
    random.seed(config.seed)
    np.random.seed(config.seed % 2**32)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device, ddp.local_rank)
    autocast = _autocast(device, config.precision)

    objective = get_objective(config.objective)
    shards_dir = find_shards_dir(shards_dir, objective.shards)
    manifest = load_manifest(shards_dir)
    check_objective(objective, manifest)
    train_set = ShardDataset(shards_dir, "train", columns=objective.columns)
    if len(train_set) == 0:
        raise ValueError(f"{manifest.path}: the train split has no rows")
    if len(train_set) < ddp.world_size:
        raise ValueError(f"{manifest.path}: fewer train rows than ranks ({ddp.world_size})")
    val_set = (
        ShardDataset(shards_dir, "val", columns=objective.columns)
        if "val" in manifest.splits
        else None
    )
    if val_set is not None and len(val_set) == 0:
        val_set = None

    model_cfg = model_config_for(manifest, config, objective)
    model = TransformerLM(model_cfg).to(device)
    parameters = count_parameters(model)
    optimizer = build_optimizer(model, config)
    scheduler = warmup_cosine(
        optimizer,
        warmup_steps=config.warmup_steps,
        total_steps=config.steps,
        min_lr_ratio=config.min_lr_ratio,
    )
    sampler = ResumableSampler(
        len(train_set), seed=config.seed, rank=ddp.rank, world_size=ddp.world_size
    )
    # The cursor counts rows the loop has actually consumed; the sampler itself runs ahead when
    # DataLoader workers prefetch, so checkpoints record the cursor.
    cursor = ResumableSampler(
        len(train_set), seed=config.seed, rank=ddp.rank, world_size=ddp.world_size
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out_dir / CHECKPOINT_NAME
    metrics_path = out_dir / METRICS_NAME
    precision = _resolve_precision(device, config.precision)
    identity = run_identity(
        config,
        manifest_hash=manifest_sha256(manifest.path),
        device_type=device.type,
        precision=precision,
        world_size=ddp.world_size,
    )
    resume_from, saved = _choose_start(out_dir, identity, resume, ddp, say)
    step = 0
    tokens_seen = 0
    elapsed_before = 0.0
    history: list[float] = []  # per-step losses up to the last checkpoint written or loaded
    val_losses: list[tuple[int, float]] = []
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        cursor.load_state_dict(saved["sampler"][ddp.rank])
        step = int(saved["step"])
        tokens_seen = int(saved["tokens_seen"])
        history = [float(x) for x in saved["history"]["losses"].tolist()]
        val_losses = [(int(s), float(v)) for s, v in saved["history"]["val_losses"]]
        torch.set_rng_state(saved["rng"]["torch"])
        if device.type == "cuda" and "cuda" in saved["rng"]:
            torch.cuda.set_rng_state(saved["rng"]["cuda"], device)
        if ddp.rank == 0:
            elapsed_before = trim_metrics(metrics_path, step)
        say(f"[train] resuming from {resume_from} at step {step}")
        del saved
    elif ddp.rank == 0:
        metrics_path.write_text("", encoding="utf-8")
    start_step = step
    target = config.steps if stop_after is None else min(config.steps, stop_after)

    forward: nn.Module = model
    if ddp.enabled:
        forward = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.compile:
        forward = torch.compile(forward)  # type: ignore[assignment]

    loader_seed = torch.Generator().manual_seed(config.seed)
    # Workers start from a fork server, not a fork of this process: the trainer often runs inside
    # a Prefect flow whose threads (API client, log shipping) must not be forked mid-operation.
    worker_context = (
        multiprocessing.get_context("forkserver" if sys.platform == "linux" else "spawn")
        if config.num_workers > 0
        else None
    )
    # Workers (if any) stay up across epochs and validation passes and keep `prefetch_factor`
    # batches each in flight; on CUDA batches land in pinned memory so the copy to the device
    # (`non_blocking`) overlaps compute.
    workers: dict[str, Any] = (
        {"persistent_workers": True, "prefetch_factor": config.prefetch_factor}
        if config.num_workers > 0
        else {}
    )
    train_loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        multiprocessing_context=worker_context,
        pin_memory=device.type == "cuda",
        **workers,
        # Full batches only, unless an epoch is shorter than one batch.
        drop_last=len(train_set) // ddp.world_size >= config.batch_size,
        generator=loader_seed,
    )
    val_loader = (
        DataLoader(
            val_set,
            batch_size=config.batch_size,
            shuffle=False,
            num_workers=config.num_workers,
            multiprocessing_context=worker_context,
            pin_memory=device.type == "cuda",
            **workers,
            generator=torch.Generator().manual_seed(config.seed),
        )
        if val_set is not None
        else None
    )

    def batches() -> Iterator[dict[str, torch.Tensor]]:
        while True:
            sampler.set_epoch(cursor.epoch, cursor.position)
            yield from train_loader
            cursor.set_epoch(cursor.epoch + 1)

    say(
        f"[train] {objective.name} on {device}: {parameters:,} parameters, "
        f"{len(train_set)} train rows, {len(val_set) if val_set else 0} val rows, "
        f"seq_len {manifest.seq_len}, steps {step}->{target} of {config.steps}"
    )
    if val_set is None:
        say("[train] val split empty or absent: skipping validation")

    step_losses: list[torch.Tensor] = []  # losses since then, still on the device
    step_parts: dict[str, torch.Tensor] = {}  # this step's per-part losses, for metrics.jsonl

    def checkpoint(path: Path) -> None:
        if step_losses:  # fold the losses so far into the history (one device sync)
            history.extend(torch.stack(step_losses).tolist())
            step_losses.clear()
        states = [cursor.state_dict()]
        if ddp.enabled:
            states = [None] * ddp.world_size
            dist.all_gather_object(states, cursor.state_dict())
        if ddp.rank != 0:
            return
        rng: dict[str, torch.Tensor] = {"torch": torch.get_rng_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(device)
        save_checkpoint(
            path,
            {
                "format": CHECKPOINT_FORMAT,
                "version": CHECKPOINT_VERSION,
                "step": step,
                "tokens_seen": tokens_seen,
                "model": model.state_dict(),
                "model_config": model_cfg.to_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "sampler": states,
                "rng": rng,
                "config": config.model_dump_json(),
                "identity": identity,
                "history": {
                    "losses": torch.tensor(history, dtype=torch.float32),
                    "val_losses": [[s, v] for s, v in val_losses],
                },
                "shards": {
                    "objective": manifest.objective,
                    "seq_len": manifest.seq_len,
                    "vocab_size": manifest.vocab_size,
                    "special_ids": dict(manifest.special_ids),
                    "ignore_index": manifest.ignore_index,
                },
            },
        )

    telemetry = Telemetry(
        metrics_path,
        total_steps=config.steps,
        start_step=start_step,
        flops=flops_per_token(
            matmul_parameters(model), model_cfg.n_layers, model_cfg.d_model, manifest.seq_len
        ),
        peak=peak_flops(device, config.peak_tflops),
        world_size=ddp.world_size,
        pad_id=manifest.pad_id,
        write=ddp.rank == 0,
        say=say,
        tensorboard=config.tensorboard,
    )
    tokens_per_row = manifest.seq_len * ddp.world_size  # every rank takes as many rows
    batch_iter = batches()
    model.train()
    try:
        while step < target:
            lr = optimizer.param_groups[0]["lr"]
            optimizer.zero_grad(set_to_none=True)
            step_loss = torch.zeros((), device=device)
            step_parts.clear()
            for micro in range(config.grad_accum):
                batch = prepare_batch(
                    next(batch_iter), objective, device, config.seed, cursor.epoch
                )
                rows = len(batch[objective.columns[0]])
                last_micro = micro == config.grad_accum - 1
                sync = nullcontext()
                if ddp.enabled and not last_micro:
                    sync = forward.no_sync()  # type: ignore[operator]
                with sync:
                    with autocast():
                        out = objective.loss(forward, batch)
                    (out.total / config.grad_accum).backward()
                step_loss += out.total.detach() / config.grad_accum
                for part, value in out.parts.items():
                    share = value.detach().float() / config.grad_accum
                    step_parts[part] = step_parts.get(part, torch.zeros((), device=device)) + share
                cursor.advance(rows)
                tokens_seen += rows * tokens_per_row
                telemetry.count(batch)
            grad_norm = None
            if config.grad_clip > 0:
                grad_norm = nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            fault_point("train.step")
            step_losses.append(step_loss)

            val_loss = None
            at_end = step == target
            if (
                val_loader is not None
                and ddp.rank == 0
                and (at_end or (config.eval_every and step % config.eval_every == 0))
            ):
                val_loss = evaluate(
                    model, val_loader, device, autocast, config.eval_batches, objective, config.seed
                )
                val_losses.append((step, val_loss))
            telemetry.step_done(
                step,
                log=step % config.log_every == 0 or at_end or val_loss is not None,
                loss=step_loss,
                lr=lr,
                tokens=tokens_seen,
                elapsed=elapsed_before + time.perf_counter() - started,
                parts=step_parts,
                grad_norm=grad_norm,
                val_loss=val_loss,
            )
            if at_end:
                checkpoint(checkpoint_path)
            elif config.checkpoint_every and step % config.checkpoint_every == 0:
                checkpoint(periodic_path(out_dir, step))
                if ddp.rank == 0:
                    prune_periodic(out_dir, config.keep_checkpoints)
    finally:
        telemetry.close()

    seconds = time.perf_counter() - started
    losses = history + (torch.stack(step_losses).tolist() if step_losses else [])
    if step > start_step:
        say(
            f"[train] done: step {step}/{config.steps}, {tokens_seen:,} tokens, "
            f"{seconds:.1f}s; checkpoint -> {checkpoint_path}"
        )
    else:
        say(f"[train] {resume_from} is already at step {step}: nothing to train")
    return TrainResult(
        losses=[float(x) for x in losses],
        val_losses=val_losses,
        checkpoint=checkpoint_path,
        metrics=metrics_path,
        steps=step,
        tokens_seen=tokens_seen,
        parameters=parameters,
        seconds=seconds,
        device=str(device),
        start_step=start_step,
    )
