"""The ablation, step by step: plan, prepare each variant's documents, the shared pieces
(validation set, tokenizer, validation rows), each variant's shards, one model per variant and
seed, the report. :func:`run_ablation` runs them in order in this process; the Prefect flow
(``flows/ablate.py``) runs the same functions as tasks, variants in parallel.

Layout of ``DIR``::

    DIR/variants/<name>/      a run directory of the variant's document stages (links)
    DIR/cache/<stage>-<key>/  the stage cache the variants share (pipeline.ablate.prepare)
    DIR/shared/               validation.parquet, tokenizer/, validation shards
    DIR/arms/<name>/          training documents, shards (train + shared val), seed-<n>/
    DIR/report/               ablation.json, ablation.md, val_loss.png, train_loss.png
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.ablate import heldout, training
from pipeline.ablate.prepare import StageCache, prepare_documents
from pipeline.ablate.report import build_report, write_report
from pipeline.ablate.variants import (
    BUILTIN,
    DEFAULT_VARIANTS,
    AblationError,
    Variant,
    apply_variant,
    parse_sweep,
    parse_variants,
)
from pipeline.config import RunConfig
from pipeline.objectives.registry import OBJECTIVES
from pipeline.rundir import RunDir, atomic_write_json, read_json
from pipeline.stages import DOCUMENT_STAGES

Say = Callable[[str], None]
#: The variant the validation set is drawn from: the config as given.
REFERENCE = "full"
#: The variant the tokenizer is trained on: every other variant's documents are a subset of its
#: documents (filters only remove), so its vocabulary covers them all and favours none of the
#: filtered variants; its documents overlapping the validation set are left out.
TOKENIZER_ON = "raw"


@dataclass
class Plan:
    """What one ablation compares and how (picklable: tasks receive it)."""

    out: str
    config: RunConfig
    variants: list[Variant]
    baseline: str
    seeds: int
    tokens: int
    objective: str
    #: variants whose documents are prepared: the compared ones, `raw` and `full`
    prepared: list[Variant] = field(default_factory=list)

    def variant(self, name: str) -> Variant:
        for variant in [*self.variants, *self.prepared]:
            if variant.name == name:
                return variant
        raise KeyError(name)

    def variant_dir(self, name: str) -> Path:
        return Path(self.out) / "variants" / name

    def arm_dir(self, name: str) -> Path:
        return Path(self.out) / "arms" / name

    @property
    def shared_dir(self) -> Path:
        return Path(self.out) / "shared"

    @property
    def cache(self) -> StageCache:
        return StageCache(Path(self.out) / "cache")

    def data_of(self, name: str) -> str:
        """The variant whose training data ``name`` uses (a replicate: its original's)."""
        return self.variant(name).replicate_of or name


def make_plan(
    config: RunConfig,
    out: str | Path,
    variants: str | None = None,
    sweep: str | None = None,
    seeds: int = 3,
    tokens: int | None = None,
    objective: str = "clm",
    baseline: str | None = None,
) -> Plan:
    """Check the arguments and decide what runs; an :class:`AblationError` names what is
    wrong."""
    if objective not in OBJECTIVES:
        raise AblationError(
            f"--objective {objective!r}: known objectives are {', '.join(OBJECTIVES)}"
        )
    if seeds < 1:
        raise AblationError(f"--seeds {seeds}: at least one seed (several to tell noise apart)")
    chosen = parse_sweep(sweep) if sweep else []
    if variants or not sweep:
        chosen = parse_variants(variants or ",".join(DEFAULT_VARIANTS)) + chosen
    names = [v.name for v in chosen]
    for variant in chosen:
        if variant.replicate_of and variant.replicate_of not in names:
            raise AblationError(f"{variant.name}: list {variant.replicate_of} too, its original")
    base = baseline or ("raw" if "raw" in names else names[0])
    if base not in names:
        raise AblationError(f"baseline {base!r} is not among the variants ({', '.join(names)})")
    if tokens is not None and tokens < 1:
        raise AblationError(f"--tokens {tokens}: a positive token budget")
    budget = tokens or training.default_tokens(config, objective)
    for variant in chosen:
        apply_variant(config, variant)  # every overlay valid before any work
    prepared = [v for v in chosen if not v.replicate_of]
    for name in (TOKENIZER_ON, REFERENCE):
        if name not in [v.name for v in prepared]:
            prepared.append(BUILTIN[name])
    return Plan(str(out), config, chosen, base, seeds, budget, objective, prepared)


def prepare_variant(plan: Plan, name: str, say: Say = print) -> dict[str, Any]:
    """The variant's document stages in ``DIR/variants/<name>/`` (shared through the cache)."""
    config = apply_variant(plan.config, plan.variant(name))
    return prepare_documents(config, plan.variant_dir(name), plan.cache, say)


def _final_files(plan: Plan, name: str) -> list[Path]:
    run = RunDir(plan.variant_dir(name))
    record = run.stage_record(DOCUMENT_STAGES[-1])
    if record is None:
        raise ValueError(f"{run.root}: the variant's documents are not prepared")
    return [run.kept_path(DOCUMENT_STAGES[-1], part) for part in sorted(record["partitions"])]


def shared_pieces(plan: Plan, say: Say = print) -> dict[str, Any]:
    """The validation set (from `full`), the tokenizer (on `raw` less the validation set) and
    the validation rows; return their counts."""
    from pipeline.tokenizer.train import train_tokenizer

    started = time.perf_counter()
    shared = plan.shared_dir
    validation = shared / "validation.parquet"
    val = heldout.select_validation(
        _final_files(plan, REFERENCE), plan.config.shards.val_fraction, validation
    )
    pool = heldout.training_documents(
        _final_files(plan, TOKENIZER_ON), validation, plan.config.dedup, shared / "tokenizer-docs"
    )
    tokenizer = shared / "tokenizer" / "tokenizer.json"
    info = train_tokenizer(pool["files"], tokenizer, plan.config.tokenizer)
    manifest = training.build_split(
        [validation], tokenizer, shared / "validation-shards", plan.config, plan.objective
    )
    say(
        f"[ablate] validation: {val['docs']} documents, {manifest['splits']['train']['rows']} "
        f"rows; tokenizer: {info['vocab_size']} tokens from {info['docs']} documents"
    )
    return {
        "validation": {**val, "rows": manifest["splits"]["train"]["rows"]},
        "tokenizer": info,
        "seconds": round(time.perf_counter() - started, 3),
    }


def arm_data(plan: Plan, name: str, say: Say = print) -> dict[str, Any]:
    """The variant's training documents (less the validation overlap) and its shards."""
    started = time.perf_counter()
    arm = plan.arm_dir(name)
    docs = heldout.training_documents(
        _final_files(plan, name),
        plan.shared_dir / "validation.parquet",
        plan.config.dedup,
        arm / "documents",
    )
    if not docs["files"]:
        raise AblationError(f"variant {name}: no training documents left")
    tokenizer = plan.shared_dir / "tokenizer" / "tokenizer.json"
    objective_dir = arm / "shards" / plan.objective
    training.build_split(docs["files"], tokenizer, arm / "shards", plan.config, plan.objective)
    manifest = training.attach_validation(
        objective_dir, plan.shared_dir / "validation-shards" / plan.objective
    )
    train_split = manifest["splits"]["train"]
    record = {
        "docs": docs["docs"],
        "removed_for_validation": docs["removed_for_validation"],
        "tokens": train_split["tokens"],
        "rows": train_split["rows"],
        "val_rows": manifest["splits"]["val"]["rows"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    atomic_write_json(arm / "data.json", record)
    say(f"[ablate] {name}: {record['docs']} training documents, {record['tokens']} tokens")
    return record


def train_arm_seed(plan: Plan, name: str, seed: int, say: Say = print) -> dict[str, Any]:
    """One model of variant ``name`` with ``seed``, on its (or its original's) shards."""
    data_arm = plan.arm_dir(plan.data_of(name))
    data = read_json(data_arm / "data.json")
    config = training.train_config(plan.config, plan.objective, plan.tokens, seed, data["val_rows"])
    result = training.train_seed(
        data_arm / "shards" / plan.objective, plan.arm_dir(name) / f"seed-{seed}", config
    )
    say(f"[ablate] {name} seed {seed}: val loss {result['final_val_loss']:.4f}")
    return result


def seeds_for(plan: Plan, name: str) -> list[int]:
    return training.seeds_of(plan.config, plan.seeds, plan.variant(name).replicate_of is not None)


def finish(
    plan: Plan,
    prepared: dict[str, dict[str, Any]],
    shared: dict[str, Any],
    data: dict[str, dict[str, Any]],
    runs: dict[str, list[dict[str, Any]]],
    wall_seconds: float,
) -> dict[str, Any]:
    """Write the report from every step's results; return it."""
    arms = []
    for variant in plan.variants:
        source = plan.data_of(variant.name)
        arm_data_ = data[source]
        prep = prepared[source]
        wall = 0.0 if variant.replicate_of else prep["seconds"] + arm_data_["seconds"]
        wall += sum(r["seconds"] for r in runs[variant.name])
        arms.append(
            {
                "name": variant.name,
                "describe": variant.describe(),
                "replicate_of": variant.replicate_of,
                "off": list(variant.off),
                "settings": variant.settings,
                "docs": arm_data_["docs"],
                "tokens": arm_data_["tokens"],
                "removed_for_validation": arm_data_["removed_for_validation"],
                "stages": prep["stages"],
                "funnel": {s: (c or {}).get("docs_kept") for s, c in prep["counts"].items()},
                "tokens_seen": runs[variant.name][0]["tokens_seen"],
                "steps": runs[variant.name][0]["steps"],
                "parameters": runs[variant.name][0]["parameters"],
                "wall_seconds": round(wall, 3),
                "runs": runs[variant.name],
            }
        )
    meta = {
        "out": plan.out,
        "objective": plan.objective,
        "tokens": plan.tokens,
        "seeds": plan.seeds,
        "validation": shared["validation"],
        "tokenizer": shared["tokenizer"],
        "tokenizer_on": f"`{TOKENIZER_ON}` less the validation overlap",
        "validation_from": REFERENCE,
        "wall_seconds": round(wall_seconds, 3),
    }
    return write_report(plan.out, build_report(arms, plan.baseline, meta))


def run_ablation(plan: Plan, say: Say = print) -> dict[str, Any]:
    """The whole ablation in this process, step after step; return the report."""
    started = time.perf_counter()
    prepared = {v.name: prepare_variant(plan, v.name, say) for v in plan.prepared}
    shared = shared_pieces(plan, say)
    data = {v.name: arm_data(plan, v.name, say) for v in plan.variants if not v.replicate_of}
    runs = {
        v.name: [train_arm_seed(plan, v.name, seed, say) for seed in seeds_for(plan, v.name)]
        for v in plan.variants
    }
    return finish(plan, prepared, shared, data, runs, time.perf_counter() - started)
