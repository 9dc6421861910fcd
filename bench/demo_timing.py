"""Wall time, peak memory and per-stage times of `gristmill demo`, cold and then warm.

Usage: python bench/demo_timing.py [--out DIR]

Runs the demo twice into a fresh run directory under `/usr/bin/time -v`: the first run does all
the work, the second should skip every stage. Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline.stages import STAGES


def timed_demo(out: Path) -> dict:
    gristmill = Path(sys.executable).parent / "gristmill"
    proc = subprocess.run(
        ["/usr/bin/time", "-v", str(gristmill), "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    hours, minutes, seconds = (float(g or 0) for g in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "wall": hours * 3600 + minutes * 60 + seconds,
        "rss_mb": rss / 1024,
        "stages": manifest["stages"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="gristmill-demo-")) / "run"
    if out.exists():
        shutil.rmtree(out)
    cold = timed_demo(out)
    warm = timed_demo(out)
    stages = [s for s in STAGES if s in cold["stages"]]
    print("| run | wall s | peak RSS MB | " + " | ".join(stages) + " |")
    print("|---|---:|---:|" + "---:|" * len(stages))
    for name, result in (("first (cold)", cold), ("second (cached)", warm)):
        cells = [
            f"{result['stages'][s]['seconds']:.1f}"
            + (" (skipped)" if result["stages"][s]["skipped"] else "")
            for s in stages
        ]
        print(
            f"| {name} | {result['wall']:.1f} | {result['rss_mb']:.0f} | "
            + " | ".join(cells)
            + " |"
        )
    card = json.loads((out / "card" / "card.json").read_text())
    print("\nfunnel:", [(f["stage"], f["docs_in"], f["docs_kept"]) for f in card["funnel"]])
    print("train:", card.get("train"))


if __name__ == "__main__":
    main()
