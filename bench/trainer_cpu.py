"""Training speed on the CPU: our MLM model against transformers' BertForMaskedLM, and the loader.

1. **Models**: tokens/s of a training step (forward, backward, AdamW step; fp32) of our encoder
   (`TransformerLM` with the `mlm` objective's loss, as trainer/loop.py runs it) and of
   transformers' `BertForMaskedLM` built to the same shape (width, layers, heads, feed-forward,
   vocabulary, length; dropout off; SDPA attention; no segment embeddings, as our MLM model
   has none), on the same batches, in one process, alternating (ours, theirs, ours, ...) for
   `--rounds` rounds, median reported. Two shapes: the trainer's default `tiny` (2 layers,
   d_model 128, 4 heads, feed-forward 512) and a 2-layer BERT-base-shaped one (d_model 768,
   12 heads, feed-forward 3072). The two are not the same network: BERT normalises after each
   residual and after the embeddings and has a head transform (dense, GELU, LayerNorm) before
   the vocabulary projection, which it applies at every position; ours is pre-norm and projects
   only the labelled positions (15%) onto the vocabulary. The figure is what a user gets from
   each, for the same shape.
2. **Loader**: rows/s and tokens/s (positions, and real non-padding tokens) of our loader alone
   (`ShardDataset` + `StepBatchSampler` in a `DataLoader`, as trainer/loop.py builds it) with
   0 and 2 worker processes, against the rate the models consume tokens at.

The batches come from `mlm` shards of length `--seq-len` built by the real pipeline from the
books of `../shared/data` (else the demo corpus), with a WordPiece vocabulary of `--vocab`
(bench/train_data.py). transformers is an optional dependency: install it (`.[hf]` or by hand).

    .venv/bin/python bench/trainer_cpu.py [--threads 1] [--batch 8] [--seq-len 128] \
        [--steps 4] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from train_data import DEFAULT_DATA, build, corpus  # noqa: E402

from trainer.config import TrainConfig  # noqa: E402
from trainer.loop import (  # noqa: E402
    build_optimizer,
    model_config_for,
    train_loader,  # noqa: E402
)
from trainer.model import TransformerLM, count_parameters  # noqa: E402
from trainer.objectives import get_objective  # noqa: E402
from trainer.sampler import StepBatchSampler  # noqa: E402
from trainer.shards import ShardDataset, load_manifest  # noqa: E402

SEED = 1234
#: The two shapes, as TrainConfig fields: the trainer's default, and BERT-base's width, heads
#: and feed-forward size (Devlin et al. 2019) with 2 of its 12 layers.
SHAPES: dict[str, dict[str, int]] = {
    "tiny": {"d_model": 128, "n_layers": 2, "n_heads": 4, "d_ff": 512},
    "bert-base (2 layers)": {"d_model": 768, "n_layers": 2, "n_heads": 12, "d_ff": 3072},
}
Batch = dict[str, torch.Tensor]


def our_loader(shards: Path, batch_size: int, workers: int) -> DataLoader:
    """The trainer's loader for `mlm` shards (trainer/loop.py's settings, CPU; endless)."""
    dataset = ShardDataset(shards / "mlm", "train", columns=get_objective("mlm").columns)
    sampler = StepBatchSampler(len(dataset), seed=SEED, batch_size=batch_size)
    return train_loader(dataset, sampler, workers, SEED, pin=False, prefetch_factor=4)


def loader_rate(shards: Path, batch_size: int, workers: int, batches: int) -> dict[str, float]:
    """Rows/s, positions/s and real tokens/s of the loader alone over `batches` batches (after
    one untimed batch, which starts the workers)."""
    data = our_loader(shards, batch_size, workers)
    iterator = iter(data)
    next(iterator)
    rows = positions = real = 0
    started = time.perf_counter()
    for _ in range(batches):
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(data)
            batch = next(iterator)
        rows += len(batch["input_ids"])
        positions += batch["input_ids"].numel()
        real += int(batch["attention_mask"].sum())
    seconds = time.perf_counter() - started
    del iterator, data
    return {
        "workers": workers,
        "rows_per_s": rows / seconds,
        "tokens_per_s": positions / seconds,
        "real_tokens_per_s": real / seconds,
    }


def ours(shards: Path, shape: dict[str, int]) -> tuple[nn.Module, Callable[[Batch], Any]]:
    config = TrainConfig(**shape)
    objective = get_objective("mlm")
    torch.manual_seed(SEED)
    model = TransformerLM(model_config_for(load_manifest(shards / "mlm"), config, objective))
    optimizer = build_optimizer(model, config)

    def step(batch: Batch) -> None:
        optimizer.zero_grad(set_to_none=True)
        objective.loss(model, batch).total.backward()
        optimizer.step()

    return model, step


def theirs(shards: Path, shape: dict[str, int]) -> tuple[nn.Module, Callable[[Batch], Any]]:
    from transformers import BertConfig, BertForMaskedLM

    manifest = load_manifest(shards / "mlm")
    config = BertConfig(
        vocab_size=manifest.vocab_size,
        hidden_size=shape["d_model"],
        num_hidden_layers=shape["n_layers"],
        num_attention_heads=shape["n_heads"],
        intermediate_size=shape["d_ff"],
        max_position_embeddings=manifest.seq_len,
        type_vocab_size=1,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        pad_token_id=manifest.pad_id,
    )
    config._attn_implementation = "sdpa"
    torch.manual_seed(SEED)
    model = BertForMaskedLM(config)
    # The same optimiser settings as ours (AdamW, betas, weight decay on matrices only).
    optimizer = build_optimizer(model, TrainConfig(**shape))

    def step(batch: Batch) -> None:
        optimizer.zero_grad(set_to_none=True)
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
        )
        out.loss.backward()
        optimizer.step()

    return model, step


def model_rates(
    shards: Path, batches: list[Batch], shape: dict[str, int], steps: int, rounds: int
) -> dict[str, Any]:
    """Median tokens/s (positions) of each side over `rounds` alternating rounds of `steps`
    steps (after one untimed warm-up step each)."""
    sides = {"ours": ours(shards, shape), "transformers": theirs(shards, shape)}
    for _, step in sides.values():
        step(batches[0])
    timings: dict[str, list[float]] = {name: [] for name in sides}
    cursor = 1
    for _ in range(rounds):
        chosen = [batches[(cursor + i) % len(batches)] for i in range(steps)]
        cursor += steps
        positions = sum(b["input_ids"].numel() for b in chosen)
        for name, (_, step) in sides.items():
            started = time.perf_counter()
            for batch in chosen:
                step(batch)
            timings[name].append(positions / (time.perf_counter() - started))
    out: dict[str, Any] = {}
    for name, (model, _) in sides.items():
        out[name] = {
            "parameters": count_parameters(model),
            "tokens_per_s": statistics.median(timings[name]),
            "rounds": timings[name],
        }
    out["ours_over_theirs"] = out["ours"]["tokens_per_s"] / out["transformers"]["tokens_per_s"]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: per core)")
    parser.add_argument("--batch", type=int, default=8, help="rows per batch")
    parser.add_argument("--seq-len", type=int, default=128, help="BERT's phase-1 length")
    parser.add_argument("--vocab", type=int, default=8000, help="the tokenizer stage's default")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loader-batches", type=int, default=300)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="gristmill-cpu-bench-") as scratch:
        what, documents = corpus(args.data)
        shards = build(documents, Path(scratch), (args.seq_len,), args.vocab, ("mlm",))
        folder = shards[args.seq_len]
        vocab = load_manifest(folder / "mlm").vocab_size
        print(f"[bench] {what}: {len(documents)} documents, vocabulary {vocab}")
        loader = [
            loader_rate(folder, args.batch, workers, args.loader_batches) for workers in (0, 2)
        ]
        for rate in loader:
            print(f"[bench] loader, {rate['workers']} workers: {rate['tokens_per_s']:,.0f} tok/s")
        data = our_loader(folder, args.batch, 0)
        batches = [b for _, b in zip(range(1 + args.steps * args.rounds), data, strict=False)]
        models = {}
        for name, shape in SHAPES.items():
            models[name] = model_rates(folder, batches, shape, args.steps, args.rounds)
            print(f"[bench] {name}: ours / transformers {models[name]['ours_over_theirs']:.2f}x")
    result = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "corpus": what,
        "vocab_size": vocab,
        "batch": [args.batch, args.seq_len],
        "loader": loader,
        "models": models,
    }
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def table(result: dict[str, Any]) -> str:
    rows, seq = result["batch"]
    lines = [
        f"batches {rows} x {seq}, vocabulary {result['vocab_size']}, {result['machine']}",
        "| shape | ours tokens/s | BertForMaskedLM tokens/s | ours / theirs | params ours "
        "| params theirs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in result["models"].items():
        lines.append(
            f"| {name} | {m['ours']['tokens_per_s']:,.0f} | "
            f"{m['transformers']['tokens_per_s']:,.0f} | {m['ours_over_theirs']:.2f}x | "
            f"{m['ours']['parameters'] / 1e6:.2f} M | "
            f"{m['transformers']['parameters'] / 1e6:.2f} M |"
        )
    slowest = min(m["ours"]["tokens_per_s"] for m in result["models"].values())
    fastest = max(m["ours"]["tokens_per_s"] for m in result["models"].values())
    lines += [
        "",
        "| loader | rows/s | tokens/s | real tokens/s | x tiny's training rate "
        "| x bert-base-2L's |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for rate in result["loader"]:
        lines.append(
            f"| {rate['workers']} workers | {rate['rows_per_s']:,.0f} | "
            f"{rate['tokens_per_s']:,.0f} | {rate['real_tokens_per_s']:,.0f} | "
            f"{rate['tokens_per_s'] / fastest:,.0f}x | {rate['tokens_per_s'] / slowest:,.0f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
