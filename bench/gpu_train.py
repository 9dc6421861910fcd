"""Training speed on a GPU: tokens/s, MFU and the loader's share of step time.

Cases: a BERT-base-shaped encoder on `mlm` shards and a GPT-2-small-shaped decoder on `clm`
shards (packed rows, document mask), each at sequence lengths 512 and 1024; bf16 autocast,
`torch.compile` and fused AdamW on CUDA. The shards come from a corpus through the real pipeline
(bench/train_data.py: `train_tokenizer`, `build_shards`), and every step is the trainer's own:
the loader as `trainer/loop.py` builds it (`ShardDataset` + `StepBatchSampler`, pinned memory,
worker processes with prefetch), `prepare_batch`, the objective's loss under autocast, backward,
gradient clipping, the optimizer and the LR schedule.

Per case: `--warmup` steps untimed (compilation happens there), then `--steps` timed ones, with
one device sync at the end. Reported:

- `tokens_per_s`: token positions (padding included) per second; `real_tokens_per_s`: the
  non-padding ones;
- `mfu`: `tokens_per_s * flops_per_token / peak`, `flops_per_token = 6 N + 12 L d S`
  (trainer/telemetry.py, which the trainer's metrics use too), peak from its table of GPUs or
  `--peak-tflops`;
- `loader_share`: the wall time the step loop spent waiting for the next batch (`next()` on the
  DataLoader and `prepare_batch`, which queues the host-to-device copy) over the timed steps'
  wall time. With the GPU running asynchronously behind the host, this is the time the loader
  could have held the GPU up: an upper bound on its real cost.

The vocabulary is what `train_tokenizer` reaches on the corpus (up to `--vocab`, BERT's 30522 by
default); the JSON names it, and the MFU formula counts it.

    python bench/gpu_train.py [--data ../shared/data] [--steps 40] [--warmup 15] \
        [--workers 4] [--json bench/gpu_train.json]
    python bench/gpu_train.py --cpu-smoke [--json out.json]   # tiny shapes, fp32, no compile

`--cpu-smoke` runs the same code on the CPU with a tiny model, sequence lengths 32 and 64, a few
steps and the demo corpus, so a test can check the script works where no GPU is.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from train_data import DEFAULT_DATA, build, corpus  # noqa: E402

from trainer.config import TrainConfig  # noqa: E402
from trainer.distributed import resolve_device  # noqa: E402
from trainer.loop import (  # noqa: E402
    _autocast,
    _resolve_precision,
    build_optimizer,
    model_config_for,
    prepare_batch,
    train_loader,  # noqa: E402
)
from trainer.model import TransformerLM, count_parameters  # noqa: E402
from trainer.objectives import get_objective  # noqa: E402
from trainer.sampler import StepBatchSampler  # noqa: E402
from trainer.schedule import warmup_cosine  # noqa: E402
from trainer.shards import ShardDataset, load_manifest  # noqa: E402
from trainer.telemetry import flops_per_token, matmul_parameters, peak_flops  # noqa: E402

#: The models, as TrainConfig fields: the papers' shapes. BERT-base (Devlin et al. 2019): 12
#: layers, width 768, 12 heads, feed-forward 3072; GPT-2 small (Radford et al. 2019): the same
#: shape, decoder-only. Batch sizes: 64 x 512 and 32 x 1024, 32k positions a step, about
#: BERT's phase-2 batch in positions (256 x 512 over 4 devices ~ 64 x 512 each).
MODELS: dict[str, dict[str, Any]] = {
    "bert-base": {"objective": "mlm", "d_model": 768, "n_layers": 12, "n_heads": 12, "d_ff": 3072},
    "gpt2-small": {"objective": "clm", "d_model": 768, "n_layers": 12, "n_heads": 12, "d_ff": 3072},
}
SEQ_LENS = (512, 1024)
TOKENS_PER_BATCH = 32_768

#: The smoke run's models: the tests' tiny shape, as an encoder and as a decoder.
SMOKE_MODELS: dict[str, dict[str, Any]] = {
    "tiny-mlm": {"objective": "mlm", "d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64},
    "tiny-clm": {"objective": "clm", "d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64},
}
SMOKE_SEQ_LENS = (32, 64)
SMOKE_TOKENS_PER_BATCH = 256
SEED = 1234


def loader(shards: Path, objective: str, config: TrainConfig, device: torch.device) -> DataLoader:
    """The training DataLoader as trainer/loop.py builds it (endless: the sampler runs on
    through the epochs)."""
    columns = get_objective(objective).columns
    dataset = ShardDataset(shards / objective, "train", columns=columns)
    sampler = StepBatchSampler(len(dataset), seed=SEED, batch_size=config.batch_size)
    return train_loader(
        dataset,
        sampler,
        config.num_workers,
        SEED,
        pin=device.type == "cuda",
        prefetch_factor=config.prefetch_factor,
    )


def endless(data: DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    yield from data


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_case(
    name: str,
    shape: dict[str, Any],
    shards: Path,
    seq_len: int,
    batch_size: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Train `--warmup` + `--steps` steps of one model at one length; its figures."""
    torch.manual_seed(SEED)
    config = TrainConfig(
        **shape,
        batch_size=batch_size,
        steps=args.warmup + args.steps,
        warmup_steps=args.warmup,
        precision=args.precision,
        compile=args.compile,
        device=args.device,
        num_workers=args.workers,
    )
    device = resolve_device(config.device)
    objective = get_objective(config.objective)
    manifest = load_manifest(shards / objective.shards)
    model = TransformerLM(model_config_for(manifest, config, objective)).to(device)
    optimizer = build_optimizer(model, config)
    scheduler = warmup_cosine(optimizer, warmup_steps=config.warmup_steps, total_steps=config.steps)
    forward: nn.Module = torch.compile(model) if config.compile else model  # type: ignore[assignment]
    autocast = _autocast(device, config.precision)
    batches = endless(loader(shards, objective.shards, config, device))
    model.train()

    waited = 0.0
    positions = 0
    real = torch.zeros((), dtype=torch.int64, device=device)
    started = 0.0
    for step in range(config.steps):
        if step == args.warmup:
            sync(device)
            started = time.perf_counter()
            waited, positions = 0.0, 0
            real.zero_()
        before = time.perf_counter()
        batch = prepare_batch(next(batches), objective, device, SEED, 0)
        waited += time.perf_counter() - before
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            out = objective.loss(forward, batch)
        out.total.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        positions += batch["input_ids"].numel()
        real += batch["attention_mask"].sum()
    sync(device)
    seconds = time.perf_counter() - started
    loss = float(out.total.detach())
    n_matmul = matmul_parameters(model)
    flops = flops_per_token(n_matmul, config.n_layers, config.d_model, seq_len)
    peak = peak_flops(device, args.peak_tflops)
    tokens_per_s = positions / seconds
    return {
        "model": name,
        "objective": config.objective,
        "seq_len": seq_len,
        "batch_size": batch_size,
        "vocab_size": manifest.vocab_size,
        "parameters": count_parameters(model),
        "matmul_parameters": n_matmul,
        "flops_per_token": flops,
        "precision": _resolve_precision(device, config.precision),
        "compile": config.compile,
        "steps": args.steps,
        "seconds": round(seconds, 4),
        "step_ms": round(1000 * seconds / args.steps, 2),
        "tokens_per_s": round(tokens_per_s, 1),
        "real_tokens_per_s": round(float(real) / seconds, 1),
        "mfu": None if peak is None else round(tokens_per_s * flops / peak, 4),
        "loader_share": round(waited / seconds, 4),
        "last_loss": round(loss, 4),
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny, fp32, CPU, no compile")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="corpus (books/)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=15, help="untimed steps (compilation)")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers")
    parser.add_argument("--vocab", type=int, default=30522, help="vocabulary asked for (BERT's)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the table")
    parser.add_argument("--only", default=None, help="comma-separated models (bert-base,...)")
    parser.add_argument("--seq-lens", default=None, help="comma-separated, e.g. 512,1024")
    parser.add_argument("--work", type=Path, default=None, help="keep corpus and shards here")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    args.device, args.precision, args.compile = "auto", "bf16", True
    args.models, args.seq_len_list, args.tokens = MODELS, SEQ_LENS, TOKENS_PER_BATCH
    if args.cpu_smoke:
        args.device, args.precision, args.compile = "cpu", "fp32", False
        args.models, args.seq_len_list, args.tokens = (
            SMOKE_MODELS,
            SMOKE_SEQ_LENS,
            SMOKE_TOKENS_PER_BATCH,
        )
        args.steps, args.warmup, args.workers = min(args.steps, 2), min(args.warmup, 1), 0
        args.vocab, args.data = min(args.vocab, 1000), None
    elif not torch.cuda.is_available():
        parser.error("no CUDA device: run on a GPU machine, or use --cpu-smoke")
    if args.only:
        args.models = {k: v for k, v in args.models.items() if k in args.only.split(",")}
    if args.seq_lens:
        args.seq_len_list = tuple(int(s) for s in args.seq_lens.split(","))
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory(prefix="gristmill-gpu-bench-") as scratch:
        work = args.work or Path(scratch)
        what, documents = corpus(args.data, demo_bytes=100_000 if args.cpu_smoke else 1_500_000)
        started = time.perf_counter()
        folders = build(documents, work, args.seq_len_list, args.vocab)
        built = time.perf_counter() - started
        print(f"[bench] {what}: {len(documents)} documents; tokenizer and shards in {built:.0f} s")
        cases = []
        for name, shape in args.models.items():
            for seq_len in args.seq_len_list:
                batch = max(1, args.tokens // seq_len)
                case = run_case(name, shape, folders[seq_len], seq_len, batch, args)
                cases.append(case)
                print(f"[bench] {name} @ {seq_len}: {case['tokens_per_s']:,.0f} tokens/s")
    result = {
        "device": device_name(device),
        "torch": torch.__version__,
        "corpus": what,
        "smoke": args.cpu_smoke,
        "cases": cases,
    }
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        f"device: {result['device']}, torch {result['torch']}, corpus: {result['corpus']}",
        "| model | seq | batch | vocab | params | tokens/s | real tokens/s | MFU | loader share "
        "| step ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in result["cases"]:
        mfu = "n/a" if c["mfu"] is None else f"{c['mfu']:.1%}"
        lines.append(
            f"| {c['model']} ({c['objective']}) | {c['seq_len']} | {c['batch_size']} "
            f"| {c['vocab_size']} | {c['parameters'] / 1e6:.2f} M | {c['tokens_per_s']:,.0f} "
            f"| {c['real_tokens_per_s']:,.0f} | {mfu} | {c['loader_share']:.2%} | {c['step_ms']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
