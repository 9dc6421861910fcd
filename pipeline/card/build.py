"""The card stage: gathers every stage's record of a run into `card/card.json` and `card/README.md`.

The card reads what the stages wrote (`_stage.json`, partition markers, kept and dropped Parquet,
the shard manifest, training metrics), so its numbers are the stages'; the one measurement of
its own is the tokenizer's fertility on a sample. `card/README.md` is a Hugging Face dataset
card: YAML metadata (:mod:`pipeline.card.metadata`), the tables, PNG plots beside them
(:mod:`pipeline.card.plots`), and every excerpt of a document in a code span
(:mod:`pipeline.card.markup`), so no document can change the page. The same card is written as
the run directory's `README.md`, where its `configs` paths resolve.
"""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import pyarrow.parquet as pq

from pipeline import __version__
from pipeline.card import plots
from pipeline.card.ablation import ablation_input, ablation_markdown, ablation_summary
from pipeline.card.classifier import classifier_markdown, classifier_summary
from pipeline.card.markup import code_span, escape
from pipeline.card.metadata import front_matter, render_front_matter
from pipeline.card.signals import read_signals, signal_summary, signals_markdown
from pipeline.config import RunConfig
from pipeline.faults import fault_point
from pipeline.redact import redact, redact_text
from pipeline.report.runs import funnel_counts
from pipeline.rundir import RunDir, atomic_write_bytes, atomic_write_json, read_json
from pipeline.stages import DOCUMENT_STAGES, STAGES

#: what the card's funnel shows of each document stage's counts
FUNNEL_KEYS = (
    "stage",
    "docs_in",
    "docs_kept",
    "docs_dropped",
    "dropped",
    "flagged",
    "bytes_in",
    "bytes_kept",
)
EXAMPLES_PER_REASON = 2  # enough to see what a rule removes without bloating the card
SNIPPET_CHARS = 240


def _reasons(counts: dict[str, int]) -> str:
    return (
        ", ".join(f"{escape(k)}: {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        or "-"
    )


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
                bucket.append({"id": doc_id, "text": text[: SNIPPET_CHARS * 2]})
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
    funnel = [{key: counts[key] for key in FUNNEL_KEYS} for counts in funnel_counts(run)]
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
        "quality_classifier": (
            classifier_summary(run, config.quality) if run.stage_record("quality") else None
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
    dedup = run.stage_record("dedup")
    if dedup:
        card["dedup"] = {"lsh": dedup.get("lsh", {}), "clusters": dedup.get("clusters", {})}
    final = _final_parts(run)
    if tokenizer and final and run.tokenizer_path.is_file():
        from pipeline.card.fertility import fertility

        card["fertility"] = fertility(run.tokenizer_path, final)
    summary = ablation_summary(run)
    if summary:
        card["ablation"] = summary
    card["plots"] = draw_plots(run, config, card, final)
    card["metadata"] = front_matter(run, config, card, DOCUMENT_STAGES[-1])
    markdown, card_json = run.card_paths
    card = redact(card)
    atomic_write_json(card_json, card)
    fault_point("card.write")
    atomic_write_bytes(markdown, redact_text(render_markdown(card, run)).encode())
    root_card = render_markdown(card, run, plot_prefix=f"{run.relative(run.card_dir)}/")
    atomic_write_bytes(run.dataset_readme_path, redact_text(root_card).encode())
    return card


def _final_parts(run: RunDir) -> list[Path]:
    """The kept Parquet files of the last document stage, in run order."""
    record = run.stage_record(DOCUMENT_STAGES[-1]) or {}
    return [run.kept_path(DOCUMENT_STAGES[-1], p) for p in sorted(record.get("partitions", {}))]


def _cluster_sizes(files: list[Path]) -> list[int]:
    """The size of every duplicate cluster whose kept document is in the final set."""
    sizes: list[int] = []
    for path in files:
        if "dup_cluster_size" in pq.read_schema(path).names:
            column = pq.read_table(path, columns=["dup_cluster_size"]).column(0).to_pylist()
            sizes += [int(s) for s in column if s is not None and s > 1]
    return sizes


def draw_plots(
    run: RunDir, config: RunConfig, card: dict[str, Any], final: list[Path]
) -> list[str]:
    """Every plot the run has data for, as `card/<name>.png`; their names, in card order."""
    path = run.card_plot_path
    names = plots.draw(
        {
            "funnel.png": lambda: plots.funnel(card, path("funnel.png")),
            "composition.png": lambda: plots.composition(card, path("composition.png")),
            "lengths.png": lambda: bool(final) and plots.lengths(final, path("lengths.png")),
        }
    )
    if card["quality_signals"]:
        from pipeline.quality.stage import thresholds

        rules = thresholds(config.quality)
        files = sorted(run.stage_dir("quality").glob("*.parquet"))
        files += sorted(run.dropped_dir("quality").glob("*.parquet"))
        values = read_signals(files, sorted({r["signal"] for r in rules}))
        names += plots.signals(rules, values, run.card_dir)
    if "dedup" in card:
        plots.cluster_sizes(_cluster_sizes(final), path("clusters.png"))
        names.append("clusters.png")
    if card.get("fertility") and plots.fertility(card["fertility"], path("fertility.png")):
        names.append("fertility.png")
    for stale in run.card_dir.glob("*.png"):
        if stale.name not in names:
            stale.unlink()
    return names


def _image(card: dict[str, Any], name: str, alt: str, prefix: str) -> str:
    # a blank line first: a line right after a table would be read as one of its rows
    return f"\n\n![{alt}]({prefix}{name})\n" if name in card.get("plots", []) else ""


def _dedup_text(card: dict[str, Any]) -> str:
    dedup = card.get("dedup")
    if not dedup:
        return "Not run."
    lsh, clusters = dedup["lsh"], dedup["clusters"]
    text = (
        f"Exact duplicates by normalised text; near duplicates by MinHash LSH with "
        f"{lsh.get('num_perm')} permutations in **{lsh.get('bands')} bands x {lsh.get('rows')} "
        f"rows**, for an estimated Jaccard similarity threshold of **{lsh.get('threshold')}** "
        f"({lsh.get('shingle')} {lsh.get('ngram')}-grams, seed {lsh.get('seed')}). "
    )
    if clusters:
        c = {k: clusters.get(k, 0) for k in ("clusters", "largest_cluster", "exact_duplicate")}
        c |= {k: clusters.get(k, 0) for k in ("near_duplicate", "dropped_for_previous_runs")}
        text += (
            f"{c['clusters']:,} duplicate clusters, the largest of {c['largest_cluster']} "
            f"documents; {c['exact_duplicate']:,} exact and {c['near_duplicate']:,} near "
            f"duplicates dropped ({c['dropped_for_previous_runs']:,} of them for documents of "
            f"{len(clusters.get('previous_runs', []))} earlier runs)."
        )
    return text


def _fertility_table(card: dict[str, Any]) -> str:
    rows = card.get("fertility") or []
    if not rows:
        return "Not measured."
    lines = [
        "| kind | language | documents measured | words | tokens | tokens per word |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {escape(r['kind'])} | {escape(r['lang'])} | {r['documents']:,} | {r['words']:,} | "
        f"{r['tokens']:,} | {r['tokens_per_word']} |"
        for r in rows
    ]
    return "\n".join(lines)


def render_markdown(card: dict[str, Any], run: RunDir, plot_prefix: str = "") -> str:
    """The card's Markdown: its metadata as YAML front matter, then the card template
    (data_cards/template.md) filled from the card's JSON. Plots are linked as
    ``plot_prefix + name``."""
    template = Template(resources.files("data_cards").joinpath("template.md").read_text("utf-8"))
    sources = "\n".join(
        f"| {escape(s['name'])} | {s['kind']} | {s['format']} | {escape(s['license'])} | "
        f"{s['files']} | {s['bytes_read']:,} | {s['documents']:,} | {_reasons(s['skipped'])} |"
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
        + (", ".join(f"{escape(k)} {v:,}" for k, v in list(comp.get(key, {}).items())[:15]) or "-")
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
                examples.append(
                    f"- **{stage} / {escape(reason)}** {code_span(doc['id'])}: "
                    f"{code_span(doc['text'], SNIPPET_CHARS)}"
                )
    tok = card.get("tokenizer")
    shards = card.get("shards")
    train = card.get("train")
    signal_plots = "".join(
        _image(card, name, name[len("signals-") : -len(".png")], plot_prefix)
        for name in card.get("plots", [])
        if name.startswith("signals-")
    )
    body = template.substitute(
        title=escape(card["title"]),
        version=card["gristmill_version"],
        created=card["created"],
        run_dir=str(run.root),
        sources_table=sources,
        funnel_table=funnel,
        quality_signals=signals_markdown(card["quality_signals"])
        + signal_plots
        + classifier_markdown(card.get("quality_classifier")),
        composition=(composition_md or "-")
        + _image(card, "composition.png", "documents by kind and language", plot_prefix)
        + _image(card, "lengths.png", "document lengths by kind", plot_prefix),
        funnel_plot=_image(card, "funnel.png", "funnel", plot_prefix),
        dedup=_dedup_text(card) + _image(card, "clusters.png", "cluster sizes", plot_prefix),
        fertility=_fertility_table(card)
        + _image(card, "fertility.png", "tokens per word", plot_prefix),
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
    readme_dir = run.card_dir if not plot_prefix else run.root
    body += ablation_markdown(card.get("ablation"), run, readme_dir)
    metadata = card.get("metadata")
    return (render_front_matter(metadata) if metadata else "") + body


#: Fields of stage records that describe one execution, not the data: not part of the card.
VOLATILE_FIELDS = ("wall_seconds", "skipped_partitions", "pruned_partitions")


def card_inputs(run: RunDir) -> dict[str, Any]:
    """What the card summarises, without timings (for the card stage's cache fingerprint)."""
    stages = [s for s in STAGES if s != "card"]
    records = {s: run.stage_record(s) for s in stages}
    inputs = {
        stage: {k: v for k, v in record.items() if k not in VOLATILE_FIELDS}
        for stage, record in records.items()
        if record
    }
    ablation = ablation_input(run)
    if ablation:
        inputs["ablation"] = ablation
    return inputs
