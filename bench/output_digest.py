"""Digests of a run's outputs, to show that a change leaves every output byte-identical.

Usage:
    python bench/output_digest.py RUN_DIR [--json FILE]        # digest a finished run
    python bench/output_digest.py --demo DIR [--json FILE]     # run `gristmill demo` first
    python bench/output_digest.py --compare A.json B.json      # list what differs

What is digested: every stage's kept and dropped Parquet partitions, the tokenizer, every shard
file and shard manifest, and the trained model's tensors (read with `weights_only=True`, so the
container's layout does not count, only the weights). Records holding timings (`_stage.json`,
`manifest.json`, `metrics.jsonl`) are left out: they differ between any two runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

DOCUMENT_GLOBS = ("*/*.parquet", "dropped/*/*.parquet")
FILE_GLOBS = ("tokenizer/tokenizer.json", "shards/**/*.arrow", "shards/*/manifest.json")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _checkpoint_digest(path: Path) -> str:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    model = state.get("model", state)
    digest = hashlib.sha256()
    for name in sorted(model):
        tensor = model[name]
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def digest_run(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every output that must not change between equal runs."""
    out: dict[str, str] = {}
    for pattern in (*DOCUMENT_GLOBS, *FILE_GLOBS):
        for path in sorted(root.glob(pattern)):
            if path.is_file() and not path.name.startswith("."):
                out[str(path.relative_to(root))] = _sha256(path.read_bytes())
    checkpoint = root / "train" / "checkpoint.pt"
    if checkpoint.is_file():
        out["train/checkpoint.pt (tensors)"] = _checkpoint_digest(checkpoint)
    return dict(sorted(out.items()))


def compare(a: dict[str, str], b: dict[str, str]) -> list[str]:
    """Lines naming every output that is missing on one side or differs."""
    lines = []
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            lines.append(f"only in {'second' if key not in a else 'first'}: {key}")
        elif a[key] != b[key]:
            lines.append(f"differs: {key}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", help="a finished run directory")
    parser.add_argument("--demo", help="run `gristmill demo --out DIR` first, then digest DIR")
    parser.add_argument("--json", help="write the digests to this file")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="two digest files")
    args = parser.parse_args()
    if args.compare:
        first, second = (json.loads(Path(p).read_text()) for p in args.compare)
        lines = compare(first, second)
        print("\n".join(lines) if lines else f"identical: {len(first)} outputs")
        return 1 if lines else 0
    root = Path(args.demo or args.run or "")
    if args.demo:
        cli = Path(sys.executable).parent / "gristmill"
        subprocess.run([str(cli), "demo", "--out", str(root)], check=True)
    digests = digest_run(root)
    total = _sha256(json.dumps(digests, sort_keys=True).encode())
    print(f"{len(digests)} outputs of {root}; combined digest {total}")
    if args.json:
        Path(args.json).write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
