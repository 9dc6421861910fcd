"""The `gristmill` command: `run` a config through the chain, or run the embedded `demo`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from flows import prefect_env

# Before anything imports Prefect: its embedded server's start-up limit and telemetry off.
prefect_env.configure()

from pipeline.config import ConfigError, RunConfig, load_config  # noqa: E402
from pipeline.rundir import RunDir  # noqa: E402
from pipeline.stages import DOCUMENT_STAGES, STAGES  # noqa: E402

DEMO_OUT = "runs/demo"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gristmill", description="Corpus preparation and pretraining, stage by stage."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--until",
            default="card",
            choices=STAGES,
            metavar="STAGE",
            help=f"stop after this stage ({', '.join(STAGES)})",
        )
        p.add_argument(
            "--runner",
            default="threads",
            choices=("threads", "dask"),
            help="threads: this machine's cores (default); dask: a Dask cluster",
        )
        p.add_argument("--workers", type=int, default=None, help="parallel tasks (default: cores)")

    run = sub.add_parser("run", help="run a config through the chain")
    run.add_argument("--config", required=True, help="YAML run config")
    run.add_argument("--out", required=True, help="run directory")
    common(run)
    demo = sub.add_parser("demo", help="run the whole chain on the embedded default corpus")
    demo.add_argument("--out", default=DEMO_OUT, help=f"run directory (default {DEMO_OUT})")
    common(demo)
    return parser


def demo_config(out: Path) -> Path:
    """Write the embedded corpus under ``out/sources`` and its run config; return the config."""
    import yaml

    from pipeline.demo_corpus import write_demo_corpus

    sources = write_demo_corpus(out / "sources")
    for source in sources:
        source["paths"] = [f"sources/{p}" for p in source["paths"]]
    config = {"sources": sources}
    path = out / "demo-config.yaml"
    text = "# The embedded demo: text already installed with Python and its packages.\n"
    text += yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def execute(
    config: RunConfig, out: Path, until: str, runner: str, workers: int | None, title: str
) -> dict[str, Any]:
    from flows.chain import run_chain
    from flows.runners import make_task_runner

    flow_ = run_chain.with_options(task_runner=make_task_runner(runner, workers))
    return flow_(config, str(out), until=until, title=title)


def report(out: Path, results: dict[str, Any]) -> None:
    print(f"\ngristmill: run directory {out}")
    for stage, result in results.items():
        state = "skipped (up to date)" if result["skipped"] else "done"
        line = f"  {stage:<10} {state:<21} {result['seconds']:>7.1f}s"
        counts = result.get("counts")
        if counts:
            line += f"  {counts['docs_in']} in -> {counts['docs_kept']} kept"
        print(line)
    run = RunDir(out)
    where = {
        "documents": run.stage_dir(DOCUMENT_STAGES[-1]),
        "dropped": run.dropped_root,
        "tokenizer": run.tokenizer_path,
        "shards": run.shards_dir,
        "checkpoint": run.checkpoint_path,
        "card": run.card_paths[0],
    }
    print("outputs:")
    for name, path in where.items():
        if path.exists():
            print(f"  {name:<10} {path}")
    if "train" in results and results["train"].get("first_loss") is not None:
        print(
            f"  loss       {results['train']['first_loss']:.3f} -> "
            f"{results['train']['last_loss']:.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.out)
    try:
        if args.command == "demo":
            out.mkdir(parents=True, exist_ok=True)
            config_path = demo_config(out)
            title = "gristmill demo (embedded default corpus)"
        else:
            config_path = Path(args.config)
            title = f"gristmill run of {config_path.name}"
        config = load_config(config_path)
    except ConfigError as error:
        print(f"gristmill: {error}", file=sys.stderr)
        return 2
    print(f"gristmill: {len(config.sources)} sources from {config_path}; writing to {out}")
    try:
        results = execute(config, out, args.until, args.runner, args.workers, title)
    except RuntimeError as error:
        if not prefect_env.is_startup_failure(error):
            raise
        print(f"gristmill: {prefect_env.startup_failure_message()}", file=sys.stderr)
        return 3
    report(out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
