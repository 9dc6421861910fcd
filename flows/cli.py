"""The `gristmill` command: `run` a config through the chain, run the embedded `demo`, `train` a
model on shards already built, `export` a trained model for `transformers`, `schedule` a config
as a Prefect deployment, inspect runs (`show`, `stats`, `dropped`, `diff`, `check`; see
:mod:`flows.commands`), train a quality classifier (`quality-model train`; see
:mod:`flows.quality_model`), or compare variants of the data on tiny models (`ablate`; see
:mod:`flows.ablate_command`)."""

from __future__ import annotations

import argparse
import errno
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from flows import ablate_command, commands, prefect_env, quality_model, stopping
from flows.api_server import ServerStartError
from flows.console import log_traceback, quiet_console

# Before anything imports Prefect: its embedded server's start-up limit and telemetry off.
prefect_env.configure()

from pipeline import __version__  # noqa: E402
from pipeline.config import RunConfig, load_config  # noqa: E402
from pipeline.errors import UserFacingError  # noqa: E402
from pipeline.rundir import RunDir  # noqa: E402
from pipeline.runlock import run_lock  # noqa: E402
from pipeline.stages import DOCUMENT_STAGES, STAGES  # noqa: E402

DEMO_OUT = "runs/demo"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gristmill", description="Corpus preparation and pretraining, stage by stage."
    )
    parser.add_argument("--version", action="version", version=f"gristmill {__version__}")
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
            default="processes",
            choices=("processes", "threads", "dask"),
            help="processes: worker processes, one per core (default); threads: in this "
            "process; dask: a Dask cluster",
        )
        p.add_argument("--workers", type=int, default=None, help="parallel tasks (default: cores)")
        p.add_argument(
            "--recheck",
            action="store_true",
            help="go through the flow even when the run looks up to date (every step then "
            "checks its own outputs)",
        )
        p.add_argument(
            "--wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="if another run holds the run directory, wait this long for it (default: 0)",
        )

    run = sub.add_parser("run", help="run a config through the chain")
    run.add_argument("--config", required=True, help="YAML run config")
    run.add_argument("--out", required=True, help="run directory")
    common(run)
    demo = sub.add_parser("demo", help="run the whole chain on the embedded default corpus")
    demo.add_argument("--out", default=DEMO_OUT, help=f"run directory (default {DEMO_OUT})")
    common(demo)
    train = sub.add_parser("train", help="train a model on built shards (the train stage's code)")
    train.add_argument("--shards", required=True, help="shards/<objective>/ or the shards folder")
    train.add_argument("--out", required=True, help="where checkpoints and metrics.jsonl go")
    train.add_argument("--objective", help="training objective (default: the train config's)")
    train.add_argument("--steps", type=int, help="optimizer steps (default: the train config's)")
    train.add_argument(
        "--resume", action="store_true", help="insist on continuing from a checkpoint in --out"
    )
    export = sub.add_parser(
        "export", help="write a trained model and its tokenizer as a transformers folder"
    )
    export.add_argument(
        "src", metavar="SRC", help="a run directory, a training output folder or a checkpoint"
    )
    export.add_argument("--out", required=True, help="the folder to write (safetensors etc.)")
    export.add_argument(
        "--tokenizer", help="the tokenizer folder (default: the run's tokenizer/ beside SRC)"
    )
    commands.add_parsers(sub)
    quality_model.add_parser(sub)
    ablate_command.add_parser(sub)
    sched = sub.add_parser(
        "schedule", help="serve a config as a Prefect deployment with a cron schedule"
    )
    sched.add_argument("--config", required=True, help="YAML run config")
    sched.add_argument(
        "--out", required=True, metavar="RUN_ROOT", help="each run writes a dated folder here"
    )
    sched.add_argument("--cron", required=True, help='cron schedule, e.g. "0 3 * * *"')
    sched.add_argument("--name", default=None, help="deployment name (default: the config's)")
    sched.add_argument("--until", default="card", choices=STAGES, metavar="STAGE")
    return parser


def train_command(args: argparse.Namespace, out: Path) -> int:
    """`gristmill train`: the train stage's `trainer.loop.train` on the given shards."""
    from trainer.config import TrainConfig

    overrides = {"objective": args.objective, "steps": args.steps}
    config = TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
    from trainer.loop import train  # torch loads only once the arguments are good

    result = train(Path(args.shards), out, config, resume=True if args.resume else None)
    trained = "+".join(config.mix())
    print(f"gristmill: {result.steps} steps of {trained}; metrics -> {result.metrics}")
    return 0


def export_command(args: argparse.Namespace, out: Path) -> int:
    """`gristmill export`: trainer.export on the given source."""
    from trainer.export import export_model  # torch loads only once the arguments are good

    result = export_model(Path(args.src), out, args.tokenizer)
    print(
        f"gristmill: {result.checkpoint} -> {result.out} as {result.architecture} "
        f"(load with transformers.{result.auto_class}.from_pretrained and AutoTokenizer)"
    )
    return 0


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
    from flows.api_server import prefect_api

    # The API server (when the run starts its own), the worker processes and the imports below
    # all get going at once; the flow waits for the server only when it starts.
    with prefect_api() as api:
        from prefect import tags

        from flows.chain import run_chain
        from flows.runners import make_task_runner, step_executor
        from flows.visibility import run_tags
        from pipeline.steps.filter import warm_up

        flow_ = run_chain.with_options(task_runner=make_task_runner(runner, workers))
        warm = partial(warm_up, config, until)
        with step_executor(runner, workers, warm), tags(*run_tags(config, until)):
            api.ready()
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


def check_writable(out: Path) -> None:
    """Make sure ``out`` exists and can be written, before any work starts."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise OutputFolderError(
            f"{out}: the output folder cannot be written ({error.strerror or error}); "
            "choose another --out or fix its permissions"
        ) from None


class OutputFolderError(UserFacingError):
    """The run directory cannot be created or written."""


def describe_os_error(error: OSError) -> str:
    """One line for an environmental fault: the file and the reason, and what to do."""
    where = error.filename or "a file of the run"
    reason = error.strerror or str(error)
    hint = {
        errno.ENOSPC: "free some space and run the same command again to resume",
        errno.EDQUOT: "free some space and run the same command again to resume",
        errno.EROFS: "the folder is read-only: choose another --out",
        errno.EACCES: "permission denied: fix the permissions or choose another --out",
    }.get(error.errno or 0, "fix it and run the same command again to resume")
    return f"{where}: {reason}; {hint}"


def _run(args: argparse.Namespace, out: Path) -> int:
    """The command, under the run directory's lock; errors are the caller's to report."""
    if args.command == ablate_command.COMMAND:
        return ablate_command.run(args, check_writable)
    if args.command == "train":
        return train_command(args, out)
    if args.command == "export":
        return export_command(args, out)
    if args.command == "run":
        config_path = Path(args.config)
        config = load_config(config_path)  # a bad config is reported before anything is written
        title = f"gristmill run of {config_path.name}"
    check_writable(out)
    with run_lock(out, wait_seconds=args.wait):
        if args.command == "demo":
            config_path = demo_config(out)
            title = "gristmill demo (embedded default corpus)"
            config = load_config(config_path)
        print(f"gristmill: {len(config.sources)} sources from {config_path}; writing to {out}")
        from pipeline.uptodate import finished_results

        done = None if args.recheck else finished_results(config, RunDir(out), args.until)
        if done is not None:  # answered without starting Prefect
            stages = {name: {"status": "done", "skipped": True, "seconds": 0.0} for name in done}
            RunDir(out).update_manifest(stages=stages)
            print("gristmill: up to date (same config, inputs and gristmill version)")
            report(out, done)
            return 0
        from flows.chain import run_chain  # noqa: F401  (sets up Prefect's logging)

        undo_console = quiet_console(RunDir(out).log_path)
        try:
            results = execute(config, out, args.until, args.runner, args.workers, title)
        finally:
            undo_console()
    report(out, results)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command; every failure ends as one line on stderr and an exit status:
    2 for what the user must fix (config, inputs, a run directory in use), 3 for the
    environment (a full disk, a read-only folder, Prefect not starting), 1 for a defect of
    gristmill (its traceback is in the run's log file)."""
    args = _parser().parse_args(argv)
    if args.command in (*commands.INSPECT_COMMANDS, quality_model.COMMAND):
        try:
            if args.command == quality_model.COMMAND:
                return quality_model.run(args)
            return commands.inspect(args)
        except UserFacingError as error:
            return _fail(str(error), 2)
        except OSError as error:
            return _fail(describe_os_error(error), 3)
    out = Path(args.out)
    if args.command == "schedule":
        return _schedule(args, out)
    previous = stopping.install(out)
    try:
        return _run(args, out)
    except ServerStartError as error:
        return _fail(str(error), 3)
    except UserFacingError as error:
        return _fail(str(error), 2)
    except OSError as error:
        return _fail(describe_os_error(error), 3)
    except Exception as error:
        if prefect_env.is_startup_failure(error):
            return _fail(prefect_env.startup_failure_message(), 3)
        log_path = RunDir(out).log_path
        try:
            log_traceback(log_path, error)
            where = f"; the traceback is in {log_path}"
        except OSError:
            where = ""
        return _fail(f"internal error: {type(error).__name__}: {error}{where}", 1)
    finally:
        stopping.restore(previous)


def _schedule(args: argparse.Namespace, root: Path) -> int:
    """`gristmill schedule`: serve the deployment until stopped (Ctrl-C or SIGTERM)."""
    config_path = Path(args.config)
    name = args.name or config_path.stem
    try:
        from flows.schedule import serve_schedule

        print(
            f"gristmill: serving deployment gristmill-scheduled/{name} ({args.cron}); runs "
            f"write dated folders under {root}"
        )
        serve_schedule(config_path, root, args.cron, name, args.until)
    except UserFacingError as error:
        return _fail(str(error), 2)
    except OSError as error:
        return _fail(describe_os_error(error), 3)
    except KeyboardInterrupt:
        return 130
    return 0


def _fail(message: str, status: int) -> int:
    print(f"gristmill: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
