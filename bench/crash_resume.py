"""Kill `gristmill run` with SIGKILL at named points across the stages, re-run it, and check
that nothing was lost, doubled or half-read.

Usage:
    python bench/crash_resume.py [--only POINT,...] [--shared-server] [--keep DIR]
                                 [--results FILE]

A corpus with several partitions per stage (ingest cuts the web source into four partitions,
shards roll over every 100 rows) is run once uninterrupted, then once per trial into a fresh run
directory: with ``GRISTMILL_FAULT`` set (see :mod:`pipeline.faults`) the run must die by
SIGKILL at that point; a plain re-run must then exit 0. One trial kills five times, at different
points, before its one re-run. Every trial checks:

- **identical**: the outputs (every stage's kept and dropped partitions, dedup's signatures,
  buckets, plan and index, the ingest unit records, the tokenizer, the shards and their
  manifest, the trained tensors) are byte-identical to the uninterrupted run's;
- **accounting**: in every document stage's `_stage.json` and every partition marker,
  ``docs_in == docs_kept + docs_dropped`` (and the reasons add up), and each stage takes in what
  the stage before it kept;
- **no temporary file** is left anywhere in the run directory after the re-run;
- **no partial file read**: at the moment of each kill, every file under its final name opens
  whole (Parquet, Arrow, JSON, the checkpoint's archive); after the re-run every file a marker,
  unit record, stage record or shard manifest lists matches its recorded sha256, size and rows,
  and every unit of every stage is up to date, i.e. each consumer's recorded fingerprint (which
  hashes the bytes it read) matches its inputs as they finally are.

Each child runs in its own session (process group); after each run, whatever is left in the
group (Prefect's embedded server outlives a SIGKILLed parent) is recorded and killed.
``--shared-server`` starts one Prefect server for all runs instead of one per run (faster; the
children then have no server of their own to leave behind).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.output_digest import compare, digest_run  # noqa: E402
from pipeline.rundir import TEMPORARY_NAME  # noqa: E402

#: The trials: each is the list of ``GRISTMILL_FAULT`` values of its successive killed runs.
TRIALS: list[list[str]] = [
    ["write.before_rename:3"],  # an ingest partition mid-write (temp file complete, no rename)
    ["partition.before_marker:2"],  # a partition's data written, its marker not
    ["ingest.next_partition:2"],  # between two partitions of one input
    ["stage.recorded:1"],  # ingest recorded, the flow not yet on langid
    ["write.before_rename:30"],  # a write in the middle of the filter stages
    ["dedup.signatures:3"],
    ["dedup.bucket:9"],  # bucket units part-way through reading the partitions
    ["dedup.cluster"],  # clusters decided, the plan not written
    ["dedup.apply:3"],  # a partition split, its index not written
    ["tokenizer.save"],
    ["shards.shard_written:2"],  # two train shards written, the rest and the manifest not
    ["train.step:3"],  # mid-training, one step after the checkpoint of step 2
    ["train.checkpoint:2"],  # step 4's checkpoint complete under its temporary name
    ["card.write"],
    [
        "ingest.next_partition:3",
        "dedup.bucket:4",
        "tokenizer.save",
        "shards.shard_written:1",
        "train.step:2",
    ],
]

#: What ``--until`` each trial runs to; the test stops at `shards` to skip training.
UNTIL = "card"
RUN_TIMEOUT_S = 600


# -- the corpus ---------------------------------------------------------------------------------
def build_corpus(folder: Path, train_steps: int = 6) -> Path:
    """The tests' small mixed corpus, cut so every stage has several partitions and shards;
    returns the run config's path."""
    from tests.corpus_fixtures import write_config, write_corpus

    corpus = write_corpus(folder)
    config = corpus["config"]
    for source in config["sources"]:
        if source["name"] == "web":
            source["limits"] = {"partition_bytes": 8000}  # 4 partitions of ~45 documents
    config["shards"]["rows_per_shard"] = 100
    config["train"]["steps"] = train_steps
    config["train"]["checkpoint_every"] = 2  # a kill mid-training resumes from a checkpoint
    return write_config(folder, config)


# -- running a child ----------------------------------------------------------------------------
@dataclass
class ChildRun:
    """One `gristmill run` in its own process group."""

    returncode: int
    seconds: float
    left_behind: list[str]  # command lines of the group's processes alive after it ended
    log: Path


def _group_members(pgid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live process in process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # fields after the command's closing parenthesis: state ppid pgrp ...
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (OSError, ValueError, IndexError):
            continue
        members.append((int(entry.name), cmdline))
    return members


def run_gristmill(
    config: Path,
    out: Path,
    log: Path,
    *,
    fault: str | None = None,
    until: str = UNTIL,
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT_S,
) -> ChildRun:
    """Run `python -m flows.cli run` as a session leader; kill what it leaves in its group."""
    child_env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    child_env.pop("GRISTMILL_FAULT", None)
    if fault:
        child_env["GRISTMILL_FAULT"] = fault
    command = [sys.executable, "-m", "flows.cli", "run", "--config", str(config)]
    command += ["--out", str(out), "--until", until]
    started = time.perf_counter()
    with log.open("ab") as sink:
        sink.write(f"\n$ GRISTMILL_FAULT={fault or ''} {' '.join(command)}\n".encode())
        sink.flush()
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=child_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            returncode = proc.wait()
    seconds = time.perf_counter() - started
    time.sleep(0.2)  # let an orderly shutdown finish before looking
    left = _group_members(proc.pid)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)
        for _ in range(50):
            if not _group_members(proc.pid):
                break
            time.sleep(0.1)
    return ChildRun(returncode, seconds, [cmd for _, cmd in left], log)


# -- checks -------------------------------------------------------------------------------------
def temporaries(root: Path) -> list[str]:
    """Temporary files anywhere under ``root`` (relative paths)."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and TEMPORARY_NAME.match(p.name)
    )


def _opens_whole(path: Path) -> None:
    """Read ``path`` completely by its format; raise if it is cut short or damaged."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.suffix == ".parquet":
        pq.read_table(path)
    elif path.suffix == ".arrow":
        with pa.OSFile(str(path), "rb") as source:
            pa.ipc.open_stream(source).read_all()
    elif path.suffix == ".json":
        json.loads(path.read_text(encoding="utf-8"))
    elif path.suffix == ".jsonl":
        for line in path.read_text(encoding="utf-8").splitlines():
            json.loads(line)
    elif path.suffix == ".pt":
        with zipfile.ZipFile(path) as archive:  # torch.save writes a zip archive
            bad = archive.testzip()
            if bad is not None:
                raise ValueError(f"damaged member {bad}")


def partial_files(root: Path) -> list[str]:
    """Files under their final names that do not read whole: what a reader could have met."""
    problems = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or TEMPORARY_NAME.match(path.name):
            continue
        try:
            _opens_whole(path)
        except Exception as error:  # any failure to read is the finding
            problems.append(f"{path.relative_to(root)}: {type(error).__name__}: {error}")
    return problems


def _document_stages(until: str) -> list[str]:
    from pipeline.stages import stages_until

    return [spec.name for spec in stages_until(until) if spec.documents]


def accounting_problems(root: Path, until: str = UNTIL) -> list[str]:
    """``in = kept + dropped`` in every document stage's record and marker, and each stage's
    ``in`` equal to the previous stage's ``kept``."""
    from pipeline.rundir import RunDir, read_json

    run = RunDir(root)
    problems: list[str] = []
    previous: tuple[str, int] | None = None
    for stage in _document_stages(until):
        record = run.stage_record(stage)
        if record is None:
            problems.append(f"{stage}: no _stage.json")
            previous = None
            continue
        counts = record["counts"]
        if counts["docs_in"] != counts["docs_kept"] + counts["docs_dropped"]:
            problems.append(f"{stage}: {counts['docs_in']} in != kept + dropped")
        if sum(counts["dropped"].values()) != counts["docs_dropped"]:
            problems.append(f"{stage}: dropped reasons do not add up to docs_dropped")
        if previous is not None and counts["docs_in"] != previous[1]:
            problems.append(f"{stage}: {counts['docs_in']} in, {previous[0]} kept {previous[1]}")
        previous = (stage, counts["docs_kept"])
        total = {"docs_in": 0, "docs_kept": 0, "docs_dropped": 0}
        for part in record["partitions"]:
            marker = run.marker_path(stage, part)
            if not marker.is_file():
                problems.append(f"{stage}/{part}: no marker")
                continue
            stats = read_json(marker)["stats"]
            if stats["docs_in"] != stats["docs_kept"] + stats["docs_dropped"]:
                problems.append(f"{stage}/{part}: in != kept + dropped")
            for key in total:
                total[key] += stats[key]
        if total != {key: counts[key] for key in total}:
            problems.append(f"{stage}: markers add up to {total}, the record says {counts}")
    return problems


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listed_file_problems(root: Path, until: str = UNTIL) -> list[str]:
    """Every file a record lists is there with its recorded sha256, size and rows, and no
    file is there that no record lists."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.dedup.artifacts import read_info
    from pipeline.rundir import RunDir, read_json
    from pipeline.stages import STAGES

    run = RunDir(root)
    problems: list[str] = []
    stages = STAGES[: STAGES.index(until) + 1]
    for stage in _document_stages(until):
        record = run.stage_record(stage) or {"partitions": {}}
        listed = record["partitions"]
        present = {p.stem for p in run.stage_dir(stage).glob("*.parquet")}
        if present != set(listed):
            problems.append(f"{stage}: partitions {sorted(present ^ set(listed))} unlisted/missing")
        for part, sha in listed.items():
            kept, dropped = run.kept_path(stage, part), run.dropped_path(stage, part)
            marker_path = run.marker_path(stage, part)
            if not (kept.is_file() and marker_path.is_file()):
                problems.append(f"{stage}/{part}: missing")
                continue
            marker = read_json(marker_path)
            stats = marker["stats"]
            if not (_sha256(kept) == marker["kept_sha256"] == sha):
                problems.append(f"{stage}/{part}: kept file's sha256 is not the recorded one")
            if kept.stat().st_size != marker["kept_bytes"]:
                problems.append(f"{stage}/{part}: kept file's size is not the recorded one")
            if pq.read_metadata(kept).num_rows != stats["docs_kept"]:
                problems.append(f"{stage}/{part}: kept rows != docs_kept")
            if marker["dropped_bytes"] is None:
                if dropped.exists() or stats["docs_dropped"]:
                    problems.append(f"{stage}/{part}: dropped file where none is recorded")
            elif (
                not dropped.is_file()
                or dropped.stat().st_size != marker["dropped_bytes"]
                or pq.read_metadata(dropped).num_rows != stats["docs_dropped"]
            ):
                problems.append(f"{stage}/{part}: dropped file is not the recorded one")
    if "ingest" in stages:
        unit_parts = []
        for unit in sorted((root / "ingest" / "_units").glob("*.json")):
            unit_parts += read_json(unit)["parts"]
        ingest = run.stage_record("ingest") or {"partitions": {}}
        if sorted(unit_parts) != sorted(ingest["partitions"]):
            problems.append("ingest: unit records and the stage record list different parts")
    if "dedup" in stages:
        for path in sorted(run.stage_dir("dedup").glob("_*/*.parquet")):
            if read_info(path) is None:
                problems.append(f"{run.relative(path)}: no dedup record in its metadata")
    if "tokenizer" in stages:
        record = run.stage_record("tokenizer") or {}
        if not run.tokenizer_path.is_file() or _sha256(run.tokenizer_path) != record.get("sha256"):
            problems.append("tokenizer: tokenizer.json is not the recorded one")
    if "shards" in stages:
        for manifest_path in sorted(run.shards_dir.glob("*/manifest.json")):
            folder = manifest_path.parent
            manifest = read_json(manifest_path)
            if manifest["tokenizer_sha256"] != _sha256(run.tokenizer_path):
                problems.append(f"{run.relative(folder)}: made with another tokenizer")
            listed = set()
            for split in manifest["splits"].values():
                for entry in split["files"]:
                    path = folder / entry["path"]
                    listed.add(path)
                    if not path.is_file() or _sha256(path) != entry["sha256"]:
                        problems.append(f"{run.relative(path)}: not the recorded shard")
                        continue
                    with pa.OSFile(str(path), "rb") as source:
                        rows = pa.ipc.open_stream(source).read_all().num_rows
                    if rows != entry["rows"]:
                        problems.append(
                            f"{run.relative(path)}: {rows} rows, {entry['rows']} listed"
                        )
            for path in folder.glob("*/*.arrow"):
                if path not in listed:
                    problems.append(f"{run.relative(path)}: a shard no manifest lists")
    return problems


def stale_units(config_path: Path, root: Path, until: str = UNTIL) -> list[str]:
    """Units of work a further run would redo; empty when every consumer's fingerprint matches
    its inputs' final bytes. Runs the steps in this process, without Prefect."""
    from pipeline.config import load_config
    from pipeline.ingest.plan import plan_units
    from pipeline.rundir import RunDir
    from pipeline.stages import stages_until
    from pipeline.steps import dedup as dedup_steps
    from pipeline.steps.filter import filter_stage
    from pipeline.steps.ingest import ingest_step
    from pipeline.steps.records import RunContext

    config = load_config(config_path)
    run = RunDir(root)
    stale: list[str] = []
    parts: list[str] = []

    def note(stage: str, summaries: list[dict[str, Any]], key: str = "part") -> None:
        stale.extend(f"{stage}/{s.get(key, '')}" for s in summaries if not s["skipped"])

    for spec in stages_until(until):
        if spec.work == "ingest":
            units = plan_units(config.sources, config.base_dir)
            summaries = [s for unit in units for s in ingest_step(run, config, unit)]
            note("ingest", summaries)
            parts = sorted(s["part"] for s in summaries)
        elif spec.work == "filter":
            note(spec.name, filter_stage(run, config, spec.name, parts))
        elif spec.work == "dedup":
            note("dedup-signatures", [dedup_steps.signature_step(run, config, p) for p in parts])
            keys = dedup_steps.bucket_keys(config)
            buckets = [dedup_steps.bucket_step(run, config, parts, key) for key in keys]
            note("dedup-bucket", buckets, "key")
            note("dedup-cluster", [dedup_steps.cluster_step(run, config, parts)])
            note("dedup", [dedup_steps.apply_step(run, config, part) for part in parts])
        elif spec.work == "per_partition_then_merge":
            units = [spec.load()(run, config, part) for part in parts]
            note(spec.name, units)
            title = f"gristmill run of {config_path.name}"
            note(
                spec.name,
                [spec.load_merge()(RunContext(run, config, parts, title), units)],
                "stage",
            )
        else:
            title = f"gristmill run of {config_path.name}"  # as the command names it
            note(spec.name, [spec.load()(RunContext(run, config, parts, title))], "stage")
    return stale


def output_digests(root: Path) -> dict[str, str]:
    """`bench/output_digest.py`'s digests plus dedup's unit outputs and ingest's unit records."""
    out = digest_run(root)
    for pattern in ("dedup/_*/*.parquet", "ingest/_units/*.json"):
        for path in sorted(root.glob(pattern)):
            out[path.relative_to(root).as_posix()] = _sha256(path)
    return dict(sorted(out.items()))


# -- trials -------------------------------------------------------------------------------------
@dataclass
class TrialResult:
    """What one trial saw; :attr:`ok` says whether it passed."""

    faults: list[str]
    killed: list[bool] = field(default_factory=list)
    temporaries_at_kill: list[str] = field(default_factory=list)
    partial_at_kill: list[str] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)
    resumed_rc: int | None = None
    differences: list[str] = field(default_factory=list)
    accounting: list[str] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    temporaries_left: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def partial_read(self) -> list[str]:
        """Evidence that a partial file was visible or used: files that did not read whole at a
        kill, listed files that are not what was recorded, units made from other bytes."""
        return self.partial_at_kill + self.listed + [f"stale: {s}" for s in self.stale]

    @property
    def ok(self) -> bool:
        return (
            all(self.killed)
            and self.resumed_rc == 0
            and not self.differences
            and not self.accounting
            and not self.partial_read
            and not self.temporaries_left
        )


def check_finished(
    config: Path, root: Path, until: str = UNTIL
) -> tuple[list[str], list[str], list[str], list[str]]:
    """(accounting problems, listed-file problems, stale units, temporary files) of a run."""
    return (
        accounting_problems(root, until),
        listed_file_problems(root, until) + partial_files(root),
        stale_units(config, root, until),
        temporaries(root),
    )


def run_trial(
    faults: list[str],
    config: Path,
    out: Path,
    baseline: dict[str, str],
    *,
    until: str = UNTIL,
    env: dict[str, str] | None = None,
) -> TrialResult:
    """Kill a run at each of ``faults`` in turn, re-run it once, check everything."""
    started = time.perf_counter()
    result = TrialResult(list(faults))
    log = out.with_suffix(".log")
    for fault in faults:
        child = run_gristmill(config, out, log, fault=fault, until=until, env=env)
        result.killed.append(child.returncode == -signal.SIGKILL)
        result.left_behind += child.left_behind
        result.temporaries_at_kill += temporaries(out)
        result.partial_at_kill += partial_files(out)
    resumed = run_gristmill(config, out, log, until=until, env=env)
    result.resumed_rc = resumed.returncode
    result.left_behind += resumed.left_behind
    if resumed.returncode == 0:
        result.differences = compare(baseline, output_digests(out))
        result.accounting, result.listed, result.stale, result.temporaries_left = check_finished(
            config, out, until
        )
    result.seconds = time.perf_counter() - started
    return result


def baseline_run(
    config: Path, out: Path, *, until: str = UNTIL, env: dict[str, str] | None = None
) -> dict[str, str]:
    """Run once uninterrupted, check it as a trial is checked, return its digests."""
    child = run_gristmill(config, out, out.with_suffix(".log"), until=until, env=env)
    if child.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed ({child.returncode}); see {child.log}")
    problems = [p for group in check_finished(config, out, until) for p in group]
    if problems:
        raise RuntimeError(f"the uninterrupted run does not check out: {problems}")
    return output_digests(out)


# -- reporting ----------------------------------------------------------------------------------
def _mark(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def table(results: list[TrialResult]) -> str:
    lines = [
        "| # | fault point(s) | killed? | temp files at kill | resumed rc | identical? "
        "| accounting ok? | partial file read? | temp files left | left in the group | s |",
        "|---:|---|---|---:|---:|---|---|---|---:|---|---:|",
    ]
    for index, r in enumerate(results, 1):
        left = sorted({_short(cmd) for cmd in r.left_behind})
        lines.append(
            f"| {index} | {' → '.join(f'`{f}`' for f in r.faults)} "
            f"| {'/'.join('SIGKILL' if k else '**no**' for k in r.killed)} "
            f"| {len(r.temporaries_at_kill)} | {r.resumed_rc} "
            f"| {_mark(not r.differences and r.resumed_rc == 0)} "
            f"| {_mark(not r.accounting and r.resumed_rc == 0)} "
            f"| {'**YES**' if r.partial_read else 'no'} | {len(r.temporaries_left)} "
            f"| {', '.join(left) or 'nothing'} | {r.seconds:.0f} |"
        )
    return "\n".join(lines)


def _short(cmdline: str) -> str:
    if "uvicorn" in cmdline and "prefect" in cmdline:
        return "Prefect server (uvicorn)"
    return cmdline[:60]


def details(results: list[TrialResult]) -> str:
    out = []
    for index, r in enumerate(results, 1):
        for label, items in (
            ("differs", r.differences),
            ("accounting", r.accounting),
            ("partial", r.partial_read),
            ("temporary files left", r.temporaries_left),
        ):
            if items:
                out.append(f"- trial {index} {label}: " + "; ".join(items[:10]))
    return "\n".join(out)


COLUMNS = """\
Corpus: `tests/corpus_fixtures.py`'s (58 records: web, code, two books), the web source cut into
four ingest partitions, shards of 100 rows, 6 training steps checkpointed every 2; every run to
`--until card`, each trial in a fresh run directory. A fault point `name:N` kills on its N-th hit
in the process (`pipeline/faults.py` lists the points); `a → b` is one trial killed at `a`, then
at `b`, ..., then re-run once. *temp files at kill*: temporary files the kills left (swept by the
re-run); *identical*: every output byte-identical to the uninterrupted run's; *accounting*: in =
kept + dropped in every stage record and marker, each stage's in = the previous stage's kept;
*partial file read*: a file under its final name that did not read whole at a kill, a listed file
not matching its recorded sha256/size/rows after the re-run, or a unit a further run would redo
(its recorded input hashes differ from its inputs' final bytes); *left in the group*: processes of
the killed run's process group still alive after it died (then killed by the harness)."""


def leftovers(results: list[TrialResult], shared: bool) -> str:
    """A line on what killed runs left running."""
    kills = sum(len(r.killed) for r in results)
    servers = sum(1 for r in results for cmd in r.left_behind if _short(cmd).startswith("Prefect"))
    other = sorted(
        {_short(c) for r in results for c in r.left_behind} - {"Prefect server (uvicorn)"}
    )
    if shared:
        where = "the children used one shared Prefect server, so they had none of their own"
    elif servers == 0:
        where = f"no Prefect server outlived its parent ({kills} kills)"
    else:
        where = (
            f"Prefect's embedded server outlived its SIGKILLed parent after {servers} of {kills} "
            "kills: it is started by the `gristmill` process and stopped by an `atexit` handler, "
            "which SIGKILL never runs, so a killed run leaves it serving until someone kills it"
        )
    return f"Left running: {where}" + (f"; also {', '.join(other)}" if other else "") + "."


def write_results(path: Path, section: str) -> None:
    """Replace (or append) the crash-and-resume section of ``path``."""
    heading = "## Crash and resume: SIGKILL at named points"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmark results\n"
    if heading in text:
        before, rest = text.split(heading, 1)
        after = rest[rest.find("\n## ") :] if "\n## " in rest else "\n"
        text = before.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n" + after
    else:
        text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    path.write_text(text, encoding="utf-8")


@contextmanager
def prefect_server(home: Path) -> Iterator[dict[str, str]]:
    """One Prefect server for all runs (``--shared-server``); yields the children's env."""
    os.environ["PREFECT_HOME"] = str(home)
    from flows import prefect_env

    prefect_env.configure()
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    try:
        yield {"PREFECT_API_URL": server.api_url}
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated fault points: one trial each")
    parser.add_argument("--shared-server", action="store_true", help="one Prefect server")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temp one)")
    parser.add_argument("--results", help="also write the table into this Markdown file")
    args = parser.parse_args()
    trials = [[p] for p in args.only.split(",")] if args.only else TRIALS
    work = Path(args.keep or tempfile.mkdtemp(prefix="gristmill-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "prefect-home"
    env = {"PREFECT_HOME": str(home)}
    started = time.perf_counter()
    with prefect_server(home) if args.shared_server else nullcontext({}) as server_env:
        env.update(server_env)
        config = build_corpus(work / "corpus")
        print(f"corpus and runs in {work}", flush=True)
        baseline = baseline_run(config, work / "baseline", env=env)
        print(f"uninterrupted run: {len(baseline)} outputs", flush=True)
        results = []
        for index, faults in enumerate(trials, 1):
            result = run_trial(faults, config, work / f"trial-{index:02d}", baseline, env=env)
            results.append(result)
            print(
                f"trial {index} {'+'.join(faults)}: {'ok' if result.ok else 'FAILED'} "
                f"({result.seconds:.0f}s)",
                flush=True,
            )
    minutes = (time.perf_counter() - started) / 60
    passed = sum(r.ok for r in results)
    command = "python bench/crash_resume.py" + (" --shared-server" if args.shared_server else "")
    section = "\n".join(
        [
            "## Crash and resume: SIGKILL at named points",
            "",
            f"Command: `{command}`. {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores (shared with "
            f"other work), Python {platform.python_version()}. {len(results)} trials, "
            f"{passed} passed, {minutes:.1f} min in all.",
            "",
            COLUMNS,
            "",
            table(results),
            "",
            details(results) or "Every check held in every trial.",
            "",
            leftovers(results, shared=args.shared_server),
        ]
    )
    print("\n" + section)
    if args.results:
        write_results(Path(args.results), section)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
