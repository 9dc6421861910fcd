"""Near-duplicate merge rates per exact-Jaccard band, one run against the same data split in two
runs, for several banding/verification settings; with the cost of signatures and verification.

Two corpora:

- ``neardup``: `../shared/data/neardup/neardup.jsonl.gz` (1,034 real licence and copyright files),
  every pair's exact word 5-gram Jaccard; split: the first half of the file, then the rest.
- ``generated``: families of random-word documents (a vocabulary of synthetic words, so unrelated
  documents share no 5-gram): each family a source, sometimes a sibling source edited from it
  (J ~ 0.8-0.95), and edited copies of either with Jaccard spread over 0.3 .. 1.0; every pair
  inside a family has its exact Jaccard, pairs across families are counted as unrelated.
  Split: sources and siblings first, copies second (a copy of a sibling the first run dropped is
  the chain case).

"merged" = the two documents end in the same cluster (one kept document stands for both: a
dropped document's ``dup_of``, or a kept one itself). Every run goes through the dedup units over
a run directory, as the pipeline runs them; the split's second run names the first in
``previous_runs``.

    .venv/bin/python bench/dedup_incremental.py [--families 3000] [--seed 7]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pipeline.dedup import units
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.lsh_params import lsh_shape
from pipeline.dedup.minhash import document_signatures
from pipeline.dedup.normalize import word_shingles
from pipeline.rundir import RunDir, write_parquet
from pipeline.schema import documents_to_table
from pipeline.steps.records import finish_stage

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "neardup" / "neardup.jsonl.gz"
EDGES = [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.0000001]

#: The settings compared: the old default, and verification at 0.8 with banding aimed lower.
SETTINGS: dict[str, dict[str, Any]] = {
    "9x13 no verify (old default)": {"verify": False},
    "11x11 verify 0.8 (band 0.75)": {"band_threshold": 0.75},
    "14x9 verify 0.8 (band 0.7, new default)": {},
    "16x8 verify 0.8 (band 0.65)": {"band_threshold": 0.65},
}


# -- corpora -------------------------------------------------------------------------------------
def neardup() -> tuple[list[list[str]], Pairs]:
    """The two halves of neardup, and every pair ``(i, j, J)``."""
    from dedup_quality import jaccard_all_pairs

    with gzip.open(DATA, "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle]
    i, j, jac = jaccard_all_pairs(texts, 5)
    half = len(texts) // 2
    return [texts[:half], texts[half:]], (i, j, jac)


def _edit(words: list[str], rng: random.Random, count: int, vocab: list[str]) -> list[str]:
    out = list(words)
    for i in rng.sample(range(len(out)), min(count, len(out))):
        out[i] = rng.choice(vocab)
    return out


def generated(families: int, seed: int) -> tuple[list[list[str]], list[list[int]], int]:
    """Sources (+ siblings) and copies as two batches, the family of every document (in batch
    order), and the number of families."""
    rng = random.Random(seed)
    syllables = [a + b for a in "bcdfghklmnprstvz" for b in "aeiou"]
    vocab = sorted({"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(30000)})
    first: list[str] = []
    second: list[str] = []
    family_first: list[int] = []
    family_second: list[int] = []
    for family in range(families):
        source = rng.choices(vocab, k=rng.randint(200, 800))
        members = [source]
        if rng.random() < 0.3:  # a sibling source, a near duplicate the first run drops
            members.append(_edit(source, rng, max(1, len(source) // rng.randint(60, 150)), vocab))
        for words in members:
            first.append(" ".join(words))
            family_first.append(family)
        for _ in range(2):
            parent = rng.choice(members)
            edits = int(len(parent) * rng.uniform(0.0, 0.14))  # J from ~1.0 down to ~0.3
            second.append(" ".join(_edit(parent, rng, edits, vocab)))
            family_second.append(family)
    return [first, second], [family_first, family_second], families


def family_pairs(texts: list[str], family: list[int]) -> Pairs:
    """Every pair of documents of one family, with its exact Jaccard."""
    by_family: dict[int, list[int]] = {}
    for i, f in enumerate(family):
        by_family.setdefault(f, []).append(i)
    shingles = [word_shingles(t, 5) for t in texts]
    pairs = []
    for members in by_family.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                a, b = shingles[members[x]], shingles[members[y]]
                pairs.append((members[x], members[y], len(a & b) / max(1, len(a | b))))
    i, j, jac = zip(*pairs, strict=True)
    return np.array(i), np.array(j), np.array(jac)


# -- runs ----------------------------------------------------------------------------------------
def _write(root: Path, part: str, texts: list[str], offset: int) -> RunDir:
    run = RunDir(root)
    table = documents_to_table(
        {"id": f"d{offset + i:07d}", "text": t, "source": "s", "kind": "web", "meta": {}}
        for i, t in enumerate(texts)
    )
    write_parquet(run.kept_path("quality", part), table)
    return run


def _dedup(run: RunDir, config: DedupConfig, part: str, base: Path) -> dict[str, float]:
    """All units of one run with their times; the stage record written as the flow writes it."""
    times: dict[str, float] = {}
    started = time.perf_counter()
    units.signature_unit(run, config, part)
    times["signatures"] = time.perf_counter() - started
    started = time.perf_counter()
    for key in units.bucket_keys(config):
        units.bucket_unit(run, config, [part], key, base)
    times["buckets"] = time.perf_counter() - started
    started = time.perf_counter()
    units.cluster_unit(run, config, [part], base)
    summaries = [units.apply_unit(run, config, part)]
    times["cluster+apply"] = time.perf_counter() - started
    finish_stage(run, "dedup", {}, summaries, 0.0, units.stage_summary(run, config))
    return times


def _stand_for(run: RunDir, part: str) -> dict[str, str]:
    """Each document's cluster: the id of the kept document standing for it."""
    out = {i: i for i in pq.read_table(run.kept_path("dedup", part)).column("id").to_pylist()}
    dropped = run.dropped_path("dedup", part)
    if dropped.is_file():
        table = pq.read_table(dropped, columns=["id", "dup_of"])
        out.update(
            zip(table.column("id").to_pylist(), table.column("dup_of").to_pylist(), strict=True)
        )
    return out


def run_setting(
    batches: list[list[str]], minhash: dict[str, Any], work: Path
) -> tuple[list[str], list[str], dict[str, float], dict[str, float]]:
    """Cluster labels (one run, two runs) in document order, the units' times of the single
    run, and the index size of the split's runs."""
    offsets = np.cumsum([0] + [len(b) for b in batches]).tolist()
    one = RunDir(work / "one")
    for k, batch in enumerate(batches):
        _write(one.root, f"b{k}", batch, offsets[k])
    config = DedupConfig(minhash=minhash)
    parts = [f"b{k}" for k in range(len(batches))]
    times: Counter[str] = Counter()
    started = time.perf_counter()
    for part in parts:
        units.signature_unit(one, config, part)
    times["signatures"] += time.perf_counter() - started
    started = time.perf_counter()
    for key in units.bucket_keys(config):
        units.bucket_unit(one, config, parts, key)
    times["buckets"] += time.perf_counter() - started
    units.cluster_unit(one, config, parts)
    single: dict[str, str] = {}
    for part in parts:
        units.apply_unit(one, config, part)
        single.update(_stand_for(one, part))
    split: dict[str, str] = {}
    index_bytes = index_rows = 0
    for k, batch in enumerate(batches):
        run = _write(work / "runs" / f"r{k}", f"b{k}", batch, offsets[k])
        later = DedupConfig(minhash=minhash, previous_runs=[str(work / "runs" / "r*")])
        _dedup(run, later, f"b{k}", work)
        split.update(_stand_for(run, f"b{k}"))
        path = units.index_path(run, f"b{k}")
        index_bytes += path.stat().st_size
        index_rows += pq.read_metadata(path).num_rows
    ids = ids_of(offsets[-1])
    size = {"bytes_per_doc": index_bytes / offsets[-1], "rows": index_rows}
    return [single[i] for i in ids], [split[i] for i in ids], dict(times), size


def ids_of(count: int) -> list[str]:
    return [f"d{i:07d}" for i in range(count)]


# -- report --------------------------------------------------------------------------------------
Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]


def same_cluster(labels: list[str], pairs: Pairs) -> np.ndarray:
    codes = np.unique(np.array(labels), return_inverse=True)[1]
    return codes[pairs[0]] == codes[pairs[1]]


def rates(labels: list[str], pairs: Pairs) -> list[tuple[str, int, float]]:
    merged = same_cluster(labels, pairs)
    out = []
    for lo, hi in zip(EDGES[:-1], EDGES[1:], strict=True):
        inside = (pairs[2] >= lo) & (pairs[2] < hi)
        if inside.any():
            name = "= 1.0" if lo == 1.0 else f"[{lo:.2f}, {hi:.2f})"
            out.append((name, int(inside.sum()), float(merged[inside].mean())))
    return out


def unrelated_merged(labels: list[str], family: list[int]) -> tuple[int, int]:
    """Pairs of documents of different families in one cluster, and all such pairs."""
    clusters: dict[str, Counter[int]] = {}
    for label, f in zip(labels, family, strict=True):
        clusters.setdefault(label, Counter())[f] += 1
    merged = 0
    for members in clusters.values():
        n = sum(members.values())
        merged += n * (n - 1) // 2 - sum(c * (c - 1) // 2 for c in members.values())
    sizes = Counter(family)
    n = len(family)
    return merged, n * (n - 1) // 2 - sum(c * (c - 1) // 2 for c in sizes.values())


def report(name: str, batches: list[list[str]], pairs: Pairs, family: list[int] | None) -> None:
    docs = sum(len(b) for b in batches)
    print(
        f"\n## {name}: {docs:,} documents in two batches ({len(batches[0]):,} + "
        f"{len(batches[1]):,}), {len(pairs[0]):,} pairs with exact Jaccard\n"
    )
    results = {}
    for setting, minhash in SETTINGS.items():
        with tempfile.TemporaryDirectory() as work:
            results[setting] = run_setting(batches, minhash, Path(work))
    table: dict[str, dict[str, str]] = {}
    for setting, (single, split, _, _) in results.items():
        for label, labels in (("one run", single), ("two runs", split)):
            for band, count, rate in rates(labels, pairs):
                table.setdefault(f"{band} | {count:,}", {})[f"{setting}, {label}"] = f"{rate:.2%}"
            if family is not None:
                merged, total = unrelated_merged(labels, family)
                table.setdefault(f"unrelated | {total:,}", {})[f"{setting}, {label}"] = str(merged)
    columns = [f"{s}, {r}" for s in SETTINGS for r in ("one run", "two runs")]
    print("| Jaccard | pairs | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for row, cells in table.items():
        print(f"| {row} | " + " | ".join(cells.get(c, "") for c in columns) + " |")
    print()
    for setting, (single, split, times, size) in results.items():
        bands, rows = lsh_shape(DedupConfig(minhash=SETTINGS[setting]).minhash)
        first = len(batches[0])
        later_alike = sum(
            (a == i) == (b == i)
            for i, a, b in zip(ids_of(docs)[first:], single[first:], split[first:], strict=True)
        )
        bridged = sum(
            a != i and b == i
            for i, a, b in zip(ids_of(first), single[:first], split[:first], strict=True)
        )
        high, low = pairs[2] >= 0.9, pairs[2] < 0.5
        one, two = same_cluster(single, pairs), same_cluster(split, pairs)
        print(
            f"- {setting} ({bands} x {rows}): J >= 0.9 merged one run {one[high].mean():.2%}, "
            f"two runs {two[high].mean():.2%}; J < 0.5 merged {int(one[low].sum())} / "
            f"{int(two[low].sum())}; pairs decided alike {(one == two).mean():.4%}; "
            f"second batch dropped alike {later_alike}/{docs - first}; first-batch documents "
            f"one run drops for a second-batch bridge {bridged}; "
            f"signatures {times['signatures'] / docs * 1e6:.0f} us/doc, "
            f"buckets (incl. verification) {times['buckets'] / docs * 1e6:.0f} us/doc; "
            f"index {size['bytes_per_doc']:.0f} B/doc ({size['rows']} rows)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", choices=["neardup", "generated"])
    parser.add_argument(
        "--previous-code",
        action="store_true",
        help="only the default settings, for a checkout whose index holds kept documents only "
        "(run with PYTHONPATH naming that checkout)",
    )
    args = parser.parse_args()
    if args.previous_code:
        SETTINGS.clear()
        SETTINGS["9x13, index of kept documents only"] = {}
    if args.only != "generated":
        batches, pairs = neardup()
        report("neardup", batches, pairs, None)
    if args.only != "neardup":
        batches, families, _ = generated(args.families, args.seed)
        texts = batches[0] + batches[1]
        family = families[0] + families[1]
        report("generated", batches, family_pairs(texts, family), family)
    signatures_alone(args.seed)


def signatures_alone(seed: int) -> None:
    """Signature time per document alone (the kernel, no Parquet), for the cost line."""
    batches, _, _ = generated(500, seed)
    texts = batches[0] + batches[1]
    config = DedupConfig().minhash
    document_signatures(texts[:10], ["web"] * 10, config)  # load the compiled kernel
    started = time.perf_counter()
    document_signatures(texts, ["web"] * len(texts), config)
    seconds = time.perf_counter() - started
    print(f"\nsignatures alone: {len(texts)} docs, {seconds / len(texts) * 1e6:.0f} us/doc")


if __name__ == "__main__":
    main()
