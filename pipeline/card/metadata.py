"""The Hugging Face dataset-card metadata of a run: the YAML front matter of `card/README.md`.

`license` (SPDX ids as the Hub spells them, or `other` with the names given), `language`
(ISO 639 codes of the prose, `code` for source code), `size_categories`, `task_categories` (from
the objectives), `pretty_name`, and `configs`: the kept documents and each objective's shards as
`datasets.load_dataset` configs, with paths relative to the run directory (the dataset's root
when the run directory is published with this card as its README).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import yaml

from pipeline.config import RunConfig
from pipeline.rundir import RunDir, read_json

#: Licence ids the Hub accepts (lower case), for the licences corpora usually carry.
HUB_LICENSES = frozenset(
    {
        "apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "isc",
        "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0",
        "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
        "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cc-by-nc-nd-3.0",
        "cc-by-nc-nd-4.0", "gpl-2.0", "gpl-3.0", "lgpl-2.1", "lgpl-3.0", "agpl-3.0", "mpl-2.0",
        "epl-2.0", "unlicense", "wtfpl", "odc-by", "odbl", "pddl", "artistic-2.0", "bsl-1.0",
        "openrail", "cdla-permissive-2.0", "cdla-sharing-1.0", "gfdl", "ecl-2.0", "afl-3.0",
        "zlib", "ncsa", "postgresql", "ofl-1.1", "lppl-1.3c", "c-uda",
    }
)  # fmt: skip

#: The Hub's size buckets, by number of examples (upper bounds are exclusive).
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
)

#: The Hub task of each training objective.
OBJECTIVE_TASKS = {"mlm": "fill-mask", "clm": "text-generation", "span": "text2text-generation"}

#: How the Hub names the shard splits.
SPLIT_NAMES = {"val": "validation"}

_ISO_639 = re.compile(r"^[a-z]{2,3}$")


def licenses(config: RunConfig) -> dict[str, Any]:
    """`license` (sorted Hub ids; `other` for anything else) and, with `other`, `license_name`."""
    ids, others = set(), []
    for source in config.sources:
        value = (source.license or "").strip()
        if value.lower() in HUB_LICENSES:
            ids.add(value.lower())
        else:
            ids.add("other")
            others.append(f"{source.name}: {value or 'unknown'}")
    out: dict[str, Any] = {"license": sorted(ids)}
    if others:
        out["license_name"] = "; ".join(others)
    return out


def languages(run: RunDir, documents_stage: str) -> list[str]:
    """The prose languages (ISO 639 codes) of the final documents, most documents first, and
    `code` when there is source code (whose `lang` is its programming language)."""
    import pyarrow.parquet as pq

    counts: Counter[str] = Counter()
    code = False
    record = run.stage_record(documents_stage) or {}
    for part in sorted(record.get("partitions", {})):
        table = pq.read_table(run.kept_path(documents_stage, part), columns=["kind", "lang"])
        for kind, lang in zip(
            *(table.column(c).to_pylist() for c in ("kind", "lang")), strict=True
        ):
            if kind == "code":
                code = True
            elif lang and _ISO_639.match(lang):
                counts[lang] += 1
    return [lang for lang, _ in counts.most_common()] + (["code"] if code else [])


def size_category(documents: int) -> str:
    for bound, name in SIZE_CATEGORIES:
        if documents < bound:
            return name
    return "n>10B"


def dataset_configs(run: RunDir, documents_stage: str) -> list[dict[str, Any]]:
    """The kept documents (the default config) and each objective's shard splits. Files are
    listed one by one, leaving out empty ones (`datasets` cannot read an empty Parquet file)."""
    import pyarrow.parquet as pq

    configs: list[dict[str, Any]] = []
    record = run.stage_record(documents_stage) or {}
    documents = [
        run.relative(path)
        for path in (
            run.kept_path(documents_stage, p) for p in sorted(record.get("partitions", {}))
        )
        if path.is_file() and pq.read_metadata(path).num_rows > 0
    ]
    if documents:
        configs.append(
            {
                "config_name": "documents",
                "default": True,
                "data_files": [{"split": "train", "path": documents}],
            }
        )
    if run.shards_dir.is_dir():
        for manifest_path in sorted(run.shards_dir.glob("*/manifest.json")):
            manifest = read_json(manifest_path)
            folder = run.relative(manifest_path.parent)
            files = []
            for split, entry in manifest.get("splits", {}).items():
                paths = [f"{folder}/{f['path']}" for f in entry.get("files", []) if f.get("rows")]
                if paths:
                    files.append({"split": SPLIT_NAMES.get(split, split), "path": paths})
            if files:
                configs.append({"config_name": manifest_path.parent.name, "data_files": files})
    return configs


def front_matter(
    run: RunDir, config: RunConfig, card: dict[str, Any], documents_stage: str
) -> dict[str, Any]:
    """The card's metadata block (see the module docstring)."""
    composition = card.get("composition") or {}
    kinds = composition.get("documents_by_kind", {})
    objectives = list(card.get("shards") or config.shards.objectives)
    tasks = sorted({OBJECTIVE_TASKS.get(o, "text-generation") for o in objectives})
    return {
        **licenses(config),
        "language": languages(run, documents_stage),
        "size_categories": [size_category(sum(kinds.values()))],
        "task_categories": tasks,
        "pretty_name": card["title"],
        "tags": ["gristmill", "pretraining"],
        "configs": dataset_configs(run, documents_stage),
    }


def render_front_matter(metadata: dict[str, Any]) -> str:
    text = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{text}---\n\n"
