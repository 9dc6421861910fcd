"""The card stage: gathers every stage's record of a run into `card/card.json` and `card/README.md`.

The card reads only what the stages wrote (`_stage.json`, partition markers, dropped Parquet,
the shard manifest, training metrics); it recomputes nothing, so its numbers are the stages'.
"""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from string import Template
from typing import Any

import pyarrow.parquet as pq

from pipeline import __version__
from pipeline.card.signals import signal_summary, signals_markdown
from pipeline.config import RunConfig
from pipeline.faults import fault_point
from pipeline.redact import redact, redact_text
from pipeline.rundir import RunDir, atomic_write_bytes, atomic_write_json, read_json
from pipeline.stages import DOCUMENT_STAGES, STAGES

EXAMPLES_PER_REASON = 2  # enough to see what a rule removes without bloating the card
SNIPPET_CHARS = 240


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"


def source_rows(run: RunDir, config: RunConfig) -> list[dict[str, Any]]:
    """Per source: licence, files, bytes read, documents produced and skipped by reason."""
    rows = {
        s.name: {
            "name": s.name,
            "kind": s.kind,
            "format": s.format,
            "license": s.license,
            "weight": s.weight,
            "files": 0,
            "bytes_read": 0,
            "documents": 0,
            "skipped": Counter(),
        }
        for s in config.sources
    }
    record = run.stage_record("ingest") or {}
    for part in record.get("partitions", {}):
        marker = read_json(run.marker_path("ingest", part))
        row = rows[marker["meta"]["source"]]
        # A unit (file, folder, archive) may write several partitions; each counts the files
        # and bytes read while it filled, so the sums are the unit's.
        row["files"] += marker["meta"].get("files", 1)
        row["bytes_read"] += marker["meta"]["file_bytes"]
        row["documents"] += marker["stats"]["docs_kept"]
        row["skipped"].update(marker["stats"]["dropped"])
    return [{**row, "skipped": dict(sorted(row["skipped"].items()))} for row in rows.values()]


def dropped_examples(run: RunDir, stage: str) -> dict[str, list[dict[str, str]]]:
    """A few dropped documents per reason, in run order."""
    out: dict[str, list[dict[str, str]]] = {}
    folder = run.dropped_dir(stage)
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        table = pq.read_table(path, columns=["id", "text", "reason"])
        columns = (table.column(c).to_pylist() for c in table.column_names)
        for doc_id, text, reason in zip(*columns, strict=True):
            bucket = out.setdefault(reason, [])
            if len(bucket) < EXAMPLES_PER_REASON:
                snippet = " ".join(text[:SNIPPET_CHARS].split())
                bucket.append({"id": doc_id, "text": snippet})
    return dict(sorted(out.items()))


def composition(run: RunDir) -> dict[str, dict[str, int]]:
    """Documents and UTF-8 bytes of the final (deduplicated) set by kind and by language."""
    by_kind: Counter[str] = Counter()
    by_lang: Counter[str] = Counter()
    bytes_by_kind: Counter[str] = Counter()
    record = run.stage_record("dedup") or {}
    for part in record.get("partitions", {}):
        table = pq.read_table(run.kept_path("dedup", part), columns=["kind", "lang", "text"])
        columns = (table.column(c).to_pylist() for c in table.column_names)
        for kind, lang, text in zip(*columns, strict=True):
            by_kind[kind] += 1
            by_lang[lang or "unknown"] += 1
            bytes_by_kind[kind] += len(text.encode())
    return {
        "documents_by_kind": dict(sorted(by_kind.items())),
        "bytes_by_kind": dict(sorted(bytes_by_kind.items())),
        "documents_by_lang": dict(by_lang.most_common()),
    }


def build_card(run: RunDir, config: RunConfig, title: str = "gristmill run") -> dict[str, Any]:
    """Write `card/card.json` and `card/README.md`; return the card."""
    manifest = run.manifest()
    funnel = []
    for stage in DOCUMENT_STAGES:
        record = run.stage_record(stage)
        if record:
            counts = record["counts"]
            funnel.append(
                {
                    key: counts[key]
                    for key in (
                        "stage",
                        "docs_in",
                        "docs_kept",
                        "docs_dropped",
                        "dropped",
                        "flagged",
                        "bytes_in",
                        "bytes_kept",
                    )
                }
            )
    card: dict[str, Any] = {
        "title": title,
        "gristmill_version": __version__,
        "created": manifest.get("created"),
        "config_hash": manifest.get("config_hash"),
        "sources": source_rows(run, config),
        "funnel": funnel,
        "composition": composition(run) if run.stage_record("dedup") else {},
        "dropped_examples": {s: dropped_examples(run, s) for s in DOCUMENT_STAGES},
        "quality_signals": (
            signal_summary(run, config.quality) if run.stage_record("quality") else []
        ),
    }
    tokenizer = run.stage_record("tokenizer")
    if tokenizer:
        card["tokenizer"] = {"path": tokenizer["path"], **tokenizer["info"]}
    shards = run.stage_record("shards")
    if shards:
        card["shards"] = {
            objective: {key: m.get(key) for key in ("seq_len", "vocab_size", "recipe", "docs")}
            | {"splits": {name: split["rows"] for name, split in m["splits"].items()}}
            for objective, m in shards["manifests"].items()
        }
    train = run.stage_record("train")
    if train:
        card["train"] = {
            key: train[key]
            for key in (
                "steps",
                "first_loss",
                "last_loss",
                "val_losses",
                "tokens_seen",
                "parameters",
                "device",
                "train_seconds",
                "checkpoint",
            )
        }
    markdown, card_json = run.card_paths
    card = redact(card)
    atomic_write_json(card_json, card)
    fault_point("card.write")
    atomic_write_bytes(markdown, redact_text(render_markdown(card, run)).encode())
    return card


def render_markdown(card: dict[str, Any], run: RunDir) -> str:
    """Fill the card template (data_cards/template.md) from the card's JSON."""
    template = Template(resources.files("data_cards").joinpath("template.md").read_text("utf-8"))
    sources = "\n".join(
        f"| {s['name']} | {s['kind']} | {s['format']} | {s['license']} | {s['files']} | "
        f"{s['bytes_read']:,} | {s['documents']:,} | {_reasons(s['skipped'])} |"
        for s in card["sources"]
    )
    funnel = "\n".join(
        f"| {f['stage']} | {f['docs_in']:,} | {f['docs_kept']:,} | {f['docs_dropped']:,} | "
        f"{_reasons(f['dropped'])} | {_reasons(f['flagged'])} |"
        for f in card["funnel"]
    )
    comp = card.get("composition") or {}
    composition_md = "\n".join(
        f"- {label}: "
        + (", ".join(f"{k} {v:,}" for k, v in list(comp.get(key, {}).items())[:15]) or "-")
        for label, key in (
            ("documents by kind", "documents_by_kind"),
            ("bytes by kind", "bytes_by_kind"),
            ("documents by language (top 15)", "documents_by_lang"),
        )
    )
    examples = []
    for stage, reasons in card["dropped_examples"].items():
        for reason, docs in reasons.items():
            for doc in docs:
                examples.append(f"- **{stage} / {reason}** `{doc['id']}`: {doc['text']}")
    tok = card.get("tokenizer")
    shards = card.get("shards")
    train = card.get("train")
    return template.substitute(
        title=card["title"],
        version=card["gristmill_version"],
        created=card["created"],
        run_dir=str(run.root),
        sources_table=sources,
        funnel_table=funnel,
        quality_signals=signals_markdown(card["quality_signals"]),
        composition=composition_md or "-",
        dropped_examples="\n".join(examples) or "Nothing was dropped.",
        tokenizer=(
            f"{tok['kind']} with {tok['vocab_size']:,} tokens, trained on "
            f"{tok.get('docs', 0):,} documents: `{tok['path']}`"
            if tok
            else "Not built."
        ),
        shards="\n".join(
            f"- `{objective}`: {s['seq_len']} tokens per row; rows: "
            + ", ".join(f"{k} {v:,}" for k, v in s["splits"].items())
            + f"; recipe: `{json.dumps(s['recipe'], sort_keys=True)}`"
            for objective, s in (shards or {}).items()
        )
        or "Not built.",
        training=(
            f"{train['steps']} steps on {train['device']}, {train['parameters']:,} "
            f"parameters, {train['tokens_seen']:,} tokens: loss {train['first_loss']:.3f} "
            f"-> {train['last_loss']:.3f}. Checkpoint: `{train['checkpoint']}`"
            if train
            else "Not trained."
        ),
    )


#: Fields of stage records that describe one execution, not the data: not part of the card.
VOLATILE_FIELDS = ("wall_seconds", "skipped_partitions", "pruned_partitions")


def card_inputs(run: RunDir) -> dict[str, Any]:
    """What the card summarises, without timings (for the card stage's cache fingerprint)."""
    stages = [s for s in STAGES if s != "card"]
    records = {s: run.stage_record(s) for s in stages}
    return {
        stage: {k: v for k, v in record.items() if k not in VOLATILE_FIELDS}
        for stage, record in records.items()
        if record
    }
