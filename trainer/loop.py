"""The training loop: shards in, a checkpoint and a metrics log out.

`train()` looks up the run's objectives (`config.objective`, or several by weight in
`config.objectives`) in trainer.objectives (which columns each reads, which model family and
heads, its loss), reads those columns of their shards (trainer.shards), reads rows in the order
trainer.sampler defines, trains one TransformerLM (trainer.model) with AdamW and warmup + cosine
(trainer.schedule), and writes `out_dir/metrics.jsonl`, a checkpoint every
`config.checkpoint_every` steps under `out_dir/checkpoints/` (the newest `config.keep_checkpoints`
kept) and the final `out_dir/checkpoint.pt` (trainer.checkpoint).

Resume: on start, `train()` continues from the newest checkpoint in `out_dir` that was written by
a run with the same identity (trainer.resume: result-affecting config, shards, model shape,
device, ranks), so re-running a crashed job picks up where its last checkpoint left off;
metrics.jsonl is cut back to that step, so the log and the final model equal those of a run
that never stopped. The sampler's state is the number of samples each objective has consumed.

Determinism: the model is initialised from `torch.manual_seed(config.seed)`, the row order is a
function of (seed, epoch, global sample index) alone, the objective of a mixed run's step is
drawn from (seed, step), and DataLoaders get their own generators so they never draw from the
global RNG; on CPU the same shards + config give the same per-step losses, and a run resumed from
a checkpoint gives the same losses as one that was never interrupted, with any number of
DataLoader workers.

Global batch: a step reads `batch_size x grad_accum x world_size` rows; each part of the loss is
normalised by its count of predictions over the whole global batch (the counts are all-reduced
before the backward passes), so accumulation and ranks give the gradient, and the logged loss,
of one process reading the whole batch at once.

Under `torchrun` with WORLD_SIZE > 1 the loop joins the process group from the environment and
wraps the model in DistributedDataParallel (`parallel: ddp`) or shards it with FSDP2's
`fully_shard` (`parallel: fsdp`); each rank reads its slice of every global batch; rank 0 alone
logs and writes files.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from functools import partial
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
from trainer.resume import (
    ResumeSearch,
    find_resume_point,
    manifest_sha256,
    run_identity,
    shards_summary,
)
from trainer.sampler import EPOCH_KEY, EpochRows, StepBatchSampler
from trainer.schedule import warmup_cosine
from trainer.shards import INDEX_KEY, MANIFEST_NAME, Manifest, ShardDataset, load_manifest
from trainer.telemetry import Telemetry, flops_per_position, peak_flops, silent

Progress = Callable[[str], None]

#: Seeds a mixed run's per-step objective draws apart from every other use of the run seed.
_MIX_STREAM = 0x6D6978  # "mix"


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


#: TrainConfig fields the model takes as they are: its shape and its architecture options.
MODEL_FIELDS = (
    "d_model",
    "n_layers",
    "n_heads",
    "d_ff",
    "dropout",
    "norm",
    "embed_norm",
    "final_norm",
    "head_transform",
    "head_bias",
    "gelu",
    "norm_eps",
)


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
    manifest: Manifest, config: TrainConfig, objective: TrainObjective, *more: TrainObjective
) -> ModelConfig:
    """The model shape for these shards (vocab, length, special ids), this config and the
    family and heads the objectives ask for (the union of their heads; causal only when every
    objective is a decoder one, a mixed run choosing the mask per batch). Learned positions cover
    `config.max_len` when it is set (it must cover the shards' rows), else the shards' longest
    fixed-length column (a sequence-to-sequence objective's targets may be longer than its
    inputs); segment embeddings are as many as the config or the heads ask for, whichever is
    more; an "encoder-decoder" objective gets a decoder as deep as the encoder (T5 and BART's
    layout)."""
    objectives = (objective, *more)
    heads = sorted({head for o in objectives for head in o.heads})
    settings = {k: v for head in heads for k, v in HEAD_SETTINGS.get(head, {}).items()}
    lengths = [c.shape[0] or 0 for c in manifest.columns.values() if c.numeric and c.shape]
    longest = max([manifest.seq_len, *lengths])
    max_len = config.max_len or longest
    if max_len < longest:
        raise ValueError(
            f"{manifest.path}: rows of {longest} tokens exceed train.max_len {max_len}"
        )
    settings["type_vocab_size"] = max(config.type_vocab_size, settings.get("type_vocab_size", 0))
    seq2seq = any(o.family == "encoder-decoder" for o in objectives)
    return ModelConfig(
        vocab_size=manifest.vocab_size,
        max_len=max_len,
        pad_id=manifest.pad_id,
        ignore_index=manifest.ignore_index,
        causal=all(o.family == "decoder" for o in objectives),
        n_decoder_layers=config.n_layers if seq2seq else 0,
        generator_fraction=config.generator_fraction if "rtd" in heads else 0.0,
        **{name: getattr(config, name) for name in MODEL_FIELDS},
        **settings,
    )


def label_width(manifest: Manifest) -> int | None:
    """The length of the shards' `labels` rows (a decoder's length, for sequence-to-sequence
    shards), or None if they have no fixed-length labels."""
    labels = manifest.columns.get("labels")
    return labels.shape[0] if labels is not None and labels.shape else None


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


def check_shared_vocabulary(manifests: list[Manifest]) -> None:
    """Objectives trained on one network must share the tokenizer's ids: same vocabulary size,
    special ids and ignore index in every manifest."""
    first = manifests[0]
    for other in manifests[1:]:
        for field in ("vocab_size", "special_ids", "ignore_index"):
            if getattr(other, field) != getattr(first, field):
                raise ValueError(
                    f"{other.path}: {field} {getattr(other, field)!r} differs from "
                    f"{getattr(first, field)!r} in {first.path}; objectives trained together "
                    "need shards of one tokenizer"
                )


def draw_objective(mix: dict[str, float], seed: int, step: int) -> str:
    """The objective step `step` trains: drawn by weight from (seed, step) alone."""
    names = list(mix)
    if len(names) == 1:
        return names[0]
    weights = np.array([mix[n] for n in names], dtype=np.float64)
    point = np.random.default_rng([seed, _MIX_STREAM, step]).random() * weights.sum()
    index = int(np.searchsorted(np.cumsum(weights), point, side="right"))
    return names[min(index, len(names) - 1)]


def prepare_batch(
    batch: Batch,
    objective: TrainObjective,
    device: torch.device,
    seed: int,
    epoch: int = 0,
) -> Batch:
    """The objective's columns on `device`, after its per-batch transform (if any), which is
    seeded by (seed, epoch, the rows' global indices). A batch carrying each row's epoch
    (`EPOCH_KEY`, from the training sampler) is transformed per epoch it spans."""
    if objective.transform is not None:
        epochs = batch.get(EPOCH_KEY)
        if epochs is None:
            batch = objective.transform(batch, seed, epoch, batch[INDEX_KEY])
        else:
            # Rows are in stream order, so each epoch's rows are one contiguous run.
            parts = []
            for value in torch.unique_consecutive(epochs).tolist():
                rows = (epochs == value).nonzero().squeeze(1)
                part = {k: v[rows] for k, v in batch.items()}
                parts.append(objective.transform(part, seed, int(value), part[INDEX_KEY]))
            batch = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    names = (*objective.columns, *objective.drawn)
    return {name: batch[name].to(device, non_blocking=True) for name in names}


@torch.no_grad()
def evaluate(
    model: Callable[..., Any],
    loader: DataLoader,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager[Any]],
    max_batches: int,
    objective: TrainObjective,
    seed: int,
) -> float:
    """The objective's loss over the first `max_batches` batches of `loader`, each batch weighed
    by the predictions it averages (per labelled position, for the LM objectives)."""
    module = model.func if isinstance(model, partial) else model
    was_training = module.training
    module.eval()
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
    module.train(was_training)
    return float(total / count.clamp(min=1))


def worker_context() -> Any:
    """Workers start from a fork server, not a fork of this process: the trainer often runs
    inside a Prefect flow whose threads (API client, log shipping) must not be forked
    mid-operation."""
    return multiprocessing.get_context("forkserver" if sys.platform == "linux" else "spawn")


def worker_settings(num_workers: int, prefetch_factor: int) -> dict[str, Any]:
    """DataLoader settings for `num_workers` workers: they start from a fork server (see
    `worker_context`), stay up across epochs and validation passes, and keep `prefetch_factor`
    batches each in flight. None of it applies without workers."""
    if num_workers == 0:
        return {"num_workers": 0}
    return {
        "num_workers": num_workers,
        "multiprocessing_context": worker_context(),
        "persistent_workers": True,
        "prefetch_factor": prefetch_factor,
    }


def train_loader(
    dataset: ShardDataset,
    sampler: StepBatchSampler,
    num_workers: int,
    seed: int,
    pin: bool,
    prefetch_factor: int = 2,
) -> DataLoader:
    """A DataLoader of `sampler`'s micro-batches (endless), each built whole by one worker. On
    CUDA batches land in pinned memory, so the copy to the device (`non_blocking`) overlaps
    compute."""
    return DataLoader(
        EpochRows(dataset),
        batch_sampler=sampler,
        pin_memory=pin,
        generator=torch.Generator().manual_seed(seed),
        **worker_settings(num_workers, prefetch_factor),
    )


@dataclass
class Source:
    """One objective of the run: its shards, order, loader and validation rows."""

    objective: TrainObjective
    manifest: Manifest
    train_set: ShardDataset
    val_set: ShardDataset | None
    sampler: StepBatchSampler
    loader: DataLoader | None = None
    batches: Iterator[Batch] | None = None

    def next_batch(self) -> Batch:
        if self.batches is None:
            self.batches = iter(self.loader)  # type: ignore[arg-type]
        return next(self.batches)


def open_source(shards_dir: Path, name: str, config: TrainConfig, ddp: DistInfo) -> Source:
    """Objective `name`'s shards (from `shards_dir`, or its `<shards>/` folder) and sampler."""
    objective = get_objective(name)
    folder = find_shards_dir(shards_dir, objective.shards)
    manifest = load_manifest(folder)
    check_objective(objective, manifest)
    train_set = ShardDataset(folder, "train", columns=objective.columns)
    if len(train_set) == 0:
        raise ValueError(f"{manifest.path}: the train split has no rows")
    val_set = (
        ShardDataset(folder, "val", columns=objective.columns) if "val" in manifest.splits else None
    )
    if val_set is not None and len(val_set) == 0:
        val_set = None
    sampler = StepBatchSampler(
        len(train_set),
        seed=config.seed,
        batch_size=config.batch_size,
        grad_accum=config.grad_accum,
        rank=ddp.rank,
        world_size=ddp.world_size,
    )
    return Source(objective, manifest, train_set, val_set, sampler)


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
    fsdp = ddp.enabled and config.parallel == "fsdp"

    mix = config.mix()
    mixed = len(mix) > 1
    shards_dir = Path(shards_dir)
    sources = {name: open_source(shards_dir, name, config, ddp) for name in mix}
    manifests = [source.manifest for source in sources.values()]
    check_shared_vocabulary(manifests)
    first = manifests[0]
    objectives = [source.objective for source in sources.values()]

    model_cfg = model_config_for(first, config, *objectives)
    if mixed:  # positions for the longest rows of any objective's shards
        longest = max(model_config_for(m, config, *objectives).max_len for m in manifests)
        model_cfg = replace(model_cfg, max_len=longest)
    model = TransformerLM(model_cfg).to(device)
    parameters = count_parameters(model)

    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out_dir / CHECKPOINT_NAME
    metrics_path = out_dir / METRICS_NAME
    precision = _resolve_precision(device, config.precision)
    hashes = {name: manifest_sha256(s.manifest.path) for name, s in sources.items()}
    identity = run_identity(
        config,
        manifest_hash=(
            next(iter(hashes.values()))
            if not mixed
            else hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()
        ),
        device_type=device.type,
        precision=precision,
        world_size=ddp.world_size,
        shards={name: shards_summary(s.manifest.path) for name, s in sources.items()},
        model=model_cfg.to_dict(),
    )
    resume_from, saved = _choose_start(out_dir, identity, resume, ddp, say)
    if saved is not None:
        model.load_state_dict(saved["model"])  # before sharding: every rank holds the full one

    forward: Callable[..., Any] = model
    if fsdp:
        from torch.distributed.fsdp import fully_shard

        for block in model.blocks:  # one unit per block, then the rest (embeddings, head)
            fully_shard(block)
        fully_shard(model)
    elif ddp.enabled:
        forward = DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            # A mixed run's steps leave the heads of the objectives not drawn unused.
            find_unused_parameters=mixed,
        )
    if config.compile:
        forward = torch.compile(forward)  # type: ignore[arg-type]
    optimizer = build_optimizer(model, config)
    scheduler = warmup_cosine(
        optimizer,
        warmup_steps=config.warmup_steps,
        total_steps=config.steps,
        min_lr_ratio=config.min_lr_ratio,
    )

    step = 0
    tokens_seen = 0
    elapsed_before = 0.0
    history: list[float] = []  # per-step losses up to the last checkpoint written or loaded
    val_losses: list[tuple[int, float]] = []
    if saved is not None:
        if fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                set_optimizer_state_dict,
            )

            set_optimizer_state_dict(
                model, optimizer, saved["optimizer"], options=StateDictOptions(full_state_dict=True)
            )
        else:
            optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        for name, state in saved["sampler"].items():
            sources[name].sampler.load_state_dict(state)
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

    pin = device.type == "cuda"
    for source in sources.values():
        source.loader = train_loader(
            source.train_set,
            source.sampler,
            config.num_workers,
            config.seed,
            pin,
            config.prefetch_factor,
        )
    val_loaders = {
        name: DataLoader(
            source.val_set,
            batch_size=config.batch_size,
            shuffle=False,
            pin_memory=pin,
            generator=torch.Generator().manual_seed(config.seed),
            **worker_settings(config.num_workers, config.prefetch_factor),
        )
        for name, source in sources.items()
        if source.val_set is not None
    }
    # Under FSDP every rank must take part in each forward pass, evaluation's included.
    evaluates = ddp.rank == 0 or fsdp

    rows = sum(len(s.train_set) for s in sources.values())
    val_rows = sum(len(s.val_set) for s in sources.values() if s.val_set is not None)
    mode = f"{config.parallel} x{ddp.world_size}, " if ddp.enabled else ""
    say(
        f"[train] {'+'.join(mix)} on {device}: {mode}{parameters:,} parameters, "
        f"{rows} train rows, {val_rows} val rows, "
        f"seq_len {model_cfg.max_len}, steps {step}->{target} of {config.steps}"
    )
    if not val_loaders:
        say("[train] val split empty or absent: skipping validation")

    step_losses: list[torch.Tensor] = []  # losses since then, still on the device
    step_parts: dict[str, torch.Tensor] = {}  # this step's per-part losses, for metrics.jsonl

    def checkpoint(path: Path) -> None:
        if step_losses:  # fold the losses so far into the history (one device sync)
            history.extend(torch.stack(step_losses).tolist())
            step_losses.clear()
        if fsdp:  # collective: every rank takes part, rank 0 gets the full (unsharded) state
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                get_model_state_dict,
                get_optimizer_state_dict,
            )

            full = StateDictOptions(full_state_dict=True, cpu_offload=True)
            model_state = get_model_state_dict(model, options=full)
            optimizer_state = get_optimizer_state_dict(model, optimizer, options=full)
        if ddp.rank != 0:
            return
        if not fsdp:
            model_state, optimizer_state = model.state_dict(), optimizer.state_dict()
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
                "model": model_state,
                "model_config": model_cfg.to_dict(),
                "optimizer": optimizer_state,
                "scheduler": scheduler.state_dict(),
                "sampler": {name: s.sampler.state_dict() for name, s in sources.items()},
                "rng": rng,
                "config": config.model_dump_json(),
                "identity": identity,
                "history": {
                    "losses": torch.tensor(history, dtype=torch.float32),
                    "val_losses": [[s, v] for s, v in val_losses],
                },
                "shards": {
                    "objective": first.objective,
                    "seq_len": first.seq_len,
                    "vocab_size": first.vocab_size,
                    "special_ids": dict(first.special_ids),
                    "ignore_index": first.ignore_index,
                },
            },
        )

    telemetry = Telemetry(
        metrics_path,
        total_steps=config.steps,
        start_step=start_step,
        # A mixed run's figure is its first objective's (the steps of the others cost more or
        # less, with their families and row lengths).
        flops=flops_per_position(model, first.seq_len, label_width(first)),
        peak=peak_flops(device, config.peak_tflops),
        world_size=ddp.world_size,
        pad_id=first.pad_id,
        write=ddp.rank == 0,
        say=say,
        tensorboard=config.tensorboard,
    )
    model.train()
    try:
        while step < target:
            lr = optimizer.param_groups[0]["lr"]
            optimizer.zero_grad(set_to_none=True)
            drawn = draw_objective(mix, config.seed, step)
            source = sources[drawn]
            objective = source.objective
            call = partial(forward, causal=objective.family == "decoder") if mixed else forward
            micro = [
                prepare_batch(source.next_batch(), objective, device, config.seed)
                for _ in range(config.grad_accum)
            ]
            step_loss, step_parts = _accumulate(call, micro, objective, autocast, ddp, config)
            for batch in micro:
                telemetry.count(batch)
            source.sampler.seek(source.sampler.consumed + source.sampler.global_batch)
            local_rows = sum(len(b[objective.columns[0]]) for b in micro)
            tokens_seen += local_rows * ddp.world_size * source.manifest.seq_len
            grad_norm = None
            if config.grad_clip > 0:
                grad_norm = nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                if hasattr(grad_norm, "full_tensor"):  # a DTensor under FSDP
                    grad_norm = grad_norm.full_tensor()
            optimizer.step()
            scheduler.step()
            step += 1
            fault_point("train.step")
            step_losses.append(step_loss)

            val_loss = None
            val_parts: dict[str, float] = {}
            at_end = step == target
            if (
                val_loaders
                and evaluates
                and (at_end or (config.eval_every and step % config.eval_every == 0))
            ):
                for name, loader in val_loaders.items():
                    objective = sources[name].objective
                    val_call = (
                        partial(model, causal=objective.family == "decoder") if mixed else model
                    )
                    val_parts[name] = evaluate(
                        val_call,
                        loader,
                        device,
                        autocast,
                        config.eval_batches,
                        objective,
                        config.seed,
                    )
                weight = sum(mix[name] for name in val_parts)
                val_loss = sum(mix[name] * v for name, v in val_parts.items()) / weight
                val_losses.append((step, val_loss))
            extra: dict[str, Any] = {}
            if mixed:  # each objective's loss under its own name, and which one this was
                extra["objective"] = drawn
                extra[f"{drawn}_loss"] = step_loss
                if len(step_parts) > 1:
                    extra.update({f"{drawn}/{p}": v for p, v in step_parts.items()})
                if val_loss is not None:
                    extra.update({f"val_{n}_loss": v for n, v in val_parts.items()})
            telemetry.step_done(
                step,
                log=step % config.log_every == 0 or at_end or val_loss is not None,
                loss=step_loss,
                lr=lr,
                tokens=tokens_seen,
                elapsed=elapsed_before + time.perf_counter() - started,
                parts={} if mixed else step_parts,
                grad_norm=grad_norm,
                val_loss=val_loss,
                extra=extra,
            )
            if at_end:
                checkpoint(checkpoint_path)
            elif config.checkpoint_every and step % config.checkpoint_every == 0:
                checkpoint(periodic_path(out_dir, step))
                if ddp.rank == 0:
                    prune_periodic(out_dir, config.keep_checkpoints)
    finally:
        telemetry.close()
        for source in sources.values():
            source.batches = None  # shut the loaders' workers down now

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


def _accumulate(
    call: Callable[..., Any],
    micro: list[Batch],
    objective: TrainObjective,
    autocast: Callable[[], AbstractContextManager[Any]],
    ddp: DistInfo,
    config: TrainConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Forward and backward over one step's micro-batches; returns the step's loss and its parts
    as one process reading the whole global batch would see them (the same on every rank).

    With the objective's `counts`, each part's gradient is normalised by the part's prediction
    count over the global batch: every micro-batch's mean is weighed by its count over that total
    (times world_size, which DDP's and FSDP's gradient averaging divide out again). Without,
    micro-batches weigh equally.
    """
    device = micro[0][objective.columns[0]].device
    if objective.counts is None:
        step_loss = torch.zeros((), device=device)
        parts: dict[str, torch.Tensor] = {}
        for index, batch in enumerate(micro):
            with _no_sync(call, ddp, last=index == len(micro) - 1):
                with autocast():
                    out = objective.loss(call, batch)
                (out.total / len(micro)).backward()
            step_loss += out.total.detach().float() / len(micro)
            for part, value in out.parts.items():
                parts[part] = parts.get(part, 0) + value.detach().float() / len(micro)
        if ddp.enabled:
            packed = torch.stack([step_loss, *parts.values()]) / ddp.world_size
            dist.all_reduce(packed)
            step_loss, parts = packed[0], dict(zip(parts, packed[1:], strict=True))
        return step_loss, parts

    counts = [objective.counts(batch) for batch in micro]
    names = list(counts[0])
    local = torch.stack(
        [torch.stack([c[n].to(torch.float64) for n in names]) for c in counts]
    )  # (micro, part)
    total = local.sum(dim=0)
    if ddp.enabled:
        dist.all_reduce(total)
    share = local * ddp.world_size / total.clamp(min=1)  # (micro, part), float64
    sums = torch.zeros(len(names), dtype=torch.float64, device=device)
    for index, batch in enumerate(micro):
        with _no_sync(call, ddp, last=index == len(micro) - 1):
            with autocast():
                out = objective.loss(call, batch)
            loss = sum(
                objective.part_weight(n) * out.parts[n].float() * share[index, j].float()
                for j, n in enumerate(names)
            )
            loss.backward()  # type: ignore[union-attr]
        sums += torch.stack([out.parts[n].detach().double() for n in names]) * local[index]
    if ddp.enabled:
        dist.all_reduce(sums)
    means = (sums / total.clamp(min=1)).float()
    step_loss = sum(objective.part_weight(n) * means[j] for j, n in enumerate(names))
    return step_loss, dict(zip(names, means, strict=True))  # type: ignore[return-value]


def _no_sync(call: Callable[..., Any], ddp: DistInfo, last: bool) -> AbstractContextManager[Any]:
    """DDP's `no_sync()` on all but the last micro-batch (gradients all-reduce once a step)."""
    module = call.func if isinstance(call, partial) else call
    if ddp.enabled and not last and hasattr(module, "no_sync"):
        return module.no_sync()
    return nullcontext()
