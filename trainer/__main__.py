"""Command line: `python -m trainer --shards DIR --out DIR [--config FILE] [--objective NAME]
[--steps N] [--resume | --fresh]`.

Trains with TrainConfig's defaults, then the fields of `--config` (a YAML or JSON file holding
TrainConfig's fields, or a run config whose `train:` section holds them), then the few overrides
given here. Run again after a crash and it continues from the newest checkpoint in OUT that the
same settings and shards wrote. The same command runs under `torchrun` (one process per rank):

    torchrun --nproc_per_node 2 -m trainer --shards run/shards --out run/train --config train.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from trainer.config import TrainConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    parser.add_argument("--shards", type=Path, required=True, help="folder holding manifest.json")
    parser.add_argument("--out", type=Path, required=True, help="where checkpoint/metrics go")
    parser.add_argument(
        "--config", type=Path, help="YAML/JSON with TrainConfig's fields (or a `train:` section)"
    )
    parser.add_argument("--objective", help="training objective (default: TrainConfig's)")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: TrainConfig's)")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--resume",
        action="store_true",
        help="insist on continuing from a checkpoint in OUT (default: continue if one matches)",
    )
    start.add_argument(
        "--fresh", action="store_true", help="start from step 0, ignoring checkpoints in OUT"
    )
    args = parser.parse_args(argv)

    overrides = {
        k: v
        for k, v in (
            ("objective", args.objective),
            ("steps", args.steps),
            ("device", args.device),
            ("seed", args.seed),
            ("checkpoint_every", args.checkpoint_every),
        )
        if v is not None
    }
    fields: dict = {}
    if args.config is not None:
        import yaml

        try:
            loaded = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            parser.error(f"{args.config}: {str(err).splitlines()[0]}")
        if not isinstance(loaded, dict):
            parser.error(f"{args.config}: expected a mapping of TrainConfig fields")
        fields = loaded.get("train", loaded)
    try:
        config = TrainConfig(**{**fields, **overrides})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        parser.error(f"{args.config or 'train config'}: {where}: {first['msg']}")

    from trainer.loop import train  # torch loads only once the arguments are good

    resume = True if args.resume else False if args.fresh else None
    result = train(args.shards, args.out, config, resume=resume)
    print(
        f"[train] {result.steps} steps, final loss "
        f"{result.losses[-1] if result.losses else float('nan'):.3f}, metrics -> {result.metrics}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
