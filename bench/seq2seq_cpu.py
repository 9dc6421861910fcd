"""The encoder-decoder on the CPU against the BART it exports as, and what MFU counts for it.

1. **Speed**: tokens/s of a training step (forward, backward, AdamW step; fp32) of our
   encoder-decoder (`TransformerLM` with BART's options, `trainer.presets.BART_OPTIONS`) and of
   transformers' `BartForConditionalGeneration` holding the same weights (mapped by
   trainer/export.py's exporter, as `gristmill export` writes them), on the same batches, in
   one process, alternating for `--rounds` rounds, median reported. Both compute the same
   logits (tests/test_export.py checks it), so this compares two implementations of one
   network. Batches: `--batch` rows of `--source` encoder tokens and `--target` decoder tokens,
   Zipf-distributed ids, every target position labelled (so both project every decoder
   position onto the vocabulary). Tokens/s counts encoder positions, as the trainer's
   `tokens_per_s` does. Shapes: the trainer's default width (`tiny`) and BART-base's width,
   heads and feed-forward size with 2 + 2 of its 6 + 6 layers.
2. **FLOPs**: `trainer.telemetry.flops_per_position` (encoder, decoder and cross-attention; both
   XLNet streams) against the one-stack `flops_per_token` that trainer.loop logs MFU with, at
   full published shapes (computed, not timed; the models are built on the meta device).

transformers is an optional dependency: install it (`.[hf]` or by hand).

    .venv/bin/python bench/seq2seq_cpu.py [--threads 1] [--batch 4] [--source 128] \
        [--target 128] [--steps 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from trainer.export import exporter_for  # noqa: E402
from trainer.model import ModelConfig, TransformerLM, count_parameters  # noqa: E402
from trainer.presets import BART_OPTIONS, PRESETS  # noqa: E402
from trainer.telemetry import flops_per_position, flops_per_token, matmul_parameters  # noqa: E402

SEED = 1234
VOCAB = 8000  # the trainer CPU benchmark's WordPiece vocabulary
SHAPES: dict[str, dict[str, int]] = {
    "tiny (2+2 layers, d_model 128)": {"d_model": 128, "n_layers": 2, "n_heads": 4, "d_ff": 512},
    "bart-base shape, 2+2 layers (d_model 768)": {
        "d_model": 768,
        "n_layers": 2,
        "n_heads": 12,
        "d_ff": 3072,
    },
}


def batches(count: int, rows: int, source: int, target: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(SEED)
    ranks = torch.arange(1, VOCAB - 7 + 1, dtype=torch.float64)
    probs = 1.0 / ranks**1.1
    out = []
    for _ in range(count):
        ids = 7 + torch.multinomial(probs, rows * source, True, generator=generator)
        labels = 7 + torch.multinomial(probs, rows * target, True, generator=generator)
        labels = labels.view(rows, target)
        decoder = torch.cat([torch.full((rows, 1), 6), labels[:, :-1]], dim=1)
        out.append(
            {
                "input_ids": ids.view(rows, source),
                "attention_mask": torch.ones(rows, source, dtype=torch.long),
                "decoder_input_ids": decoder,
                "decoder_attention_mask": torch.ones(rows, target, dtype=torch.long),
                "labels": labels,
            }
        )
    return out


def build(shape: dict[str, int], max_len: int) -> tuple[TransformerLM, nn.Module]:
    import transformers

    cfg = ModelConfig(
        vocab_size=VOCAB, max_len=max_len, n_decoder_layers=shape["n_layers"], **shape,
        **BART_OPTIONS,
    )  # fmt: skip
    torch.manual_seed(SEED)
    ours = TransformerLM(cfg)
    exporter = exporter_for(cfg)
    assert exporter is not None
    config = exporter.config(cfg, {"bos": 5, "eos": 6}, 0)
    hf_config = transformers.AutoConfig.for_model(**config)
    hf_config._attn_implementation = "sdpa"
    theirs = transformers.BartForConditionalGeneration(hf_config)
    theirs.load_state_dict(exporter.weights(cfg, ours.state_dict()), strict=False)
    theirs.tie_weights()
    return ours.train(), theirs.train()


def step_fn(model: nn.Module, ours: bool) -> Callable[[dict[str, torch.Tensor]], None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def step(batch: dict[str, torch.Tensor]) -> None:
        if ours:
            loss = model(
                batch["input_ids"],
                batch["labels"],
                attention_mask=batch["attention_mask"],
                decoder_input_ids=batch["decoder_input_ids"],
                decoder_attention_mask=batch["decoder_attention_mask"],
            )
        else:
            loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def rate(step: Callable, data: list[dict[str, torch.Tensor]], source: int) -> float:
    step(data[0])  # warm-up
    start = time.perf_counter()
    for batch in data[1:]:
        step(batch)
    seconds = time.perf_counter() - start
    return sum(b["input_ids"].numel() for b in data[1:]) / seconds


def speed(args: argparse.Namespace) -> None:
    columns = "ours tokens/s | BART tokens/s | ours / BART | per round | params ours | params BART"
    print(f"| shape | {columns} |")
    print("|---|---:|---:|---:|---|---:|---:|")
    data = batches(args.steps + 1, args.batch, args.source, args.target)
    for name, shape in SHAPES.items():
        ours, theirs = build(shape, max(args.source, args.target))
        ours_step, theirs_step = step_fn(ours, True), step_fn(theirs, False)
        rounds = []
        for _ in range(args.rounds):
            rounds.append(
                (rate(ours_step, data, args.source), rate(theirs_step, data, args.source))
            )
        mine = statistics.median(r[0] for r in rounds)
        hers = statistics.median(r[1] for r in rounds)
        per_round = ", ".join(f"{a:.0f}/{b:.0f}" for a, b in rounds)
        print(
            f"| {name} | {mine:,.0f} | {hers:,.0f} | **{mine / hers:.2f}x** | {per_round} | "
            f"{count_parameters(ours) / 1e6:.2f} M | {count_parameters(theirs) / 1e6:.2f} M |"
        )


def flops_table() -> None:
    print("\n| model | S | T | flops_per_position | one-stack flops_per_token | logged / right |")
    print("|---|---:|---:|---:|---:|---:|")
    fields = {
        k: v
        for k, v in PRESETS["bart-base"].fields.items()
        if k in ModelConfig.__dataclass_fields__
    }
    with torch.device("meta"):
        bart = TransformerLM(ModelConfig(vocab_size=32000, n_decoder_layers=6, **fields))
        xlnet = TransformerLM(
            ModelConfig(
                vocab_size=32000, max_len=512, d_model=768, n_layers=12, n_heads=12, d_ff=3072,
                two_stream=True,
            )
        )  # fmt: skip
    rows = [
        ("bart-base, span-shaped targets", bart, 512, 114),
        ("bart-base, denoise (targets as long)", bart, 512, 512),
        ("XLNet-base shape, plm", xlnet, 512, None),
    ]
    for name, model, source, target in rows:
        right = flops_per_position(model, source, target)
        logged = flops_per_token(
            matmul_parameters(model), model.cfg.n_layers, model.cfg.d_model, source
        )
        shown = "-" if target is None else str(target)
        print(
            f"| {name} | {source} | {shown} | {right:.4g} | {logged:.4g} | {logged / right:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--source", type=int, default=128)
    parser.add_argument("--target", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import transformers

    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{platform.machine()}, {args.threads} thread(s); batch {args.batch} x "
        f"{args.source} -> {args.target}, {args.steps} steps x {args.rounds} rounds\n"
    )
    speed(args)
    flops_table()


if __name__ == "__main__":
    main()
