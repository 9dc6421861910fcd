"""Dedup across runs: runs in sequence drop what one run over everything drops (chains through
documents an earlier run dropped included), earlier runs are never changed, a run root's index is
found and compacted, and verified candidates."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pipeline.dedup import run_root, units
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.in_memory import plan_dedup
from pipeline.dedup.minhash import document_signatures
from pipeline.dedup.normalize import word_shingles
from pipeline.dedup.verify import low_bits, verified_edges
from pipeline.hashing import file_sha256
from pipeline.rundir import RunDir
from tests.corpus_fixtures import random_words
from tests.test_dedup import finish, kept_and_dropped, write_partitions

EDIT_WORDS = ["tin", "oak", "elm", "ash", "rye", "fen", "yew", "bog"]


def edit(text: str, rng: random.Random, positions: range, count: int) -> str:
    """``text`` with ``count`` words at distinct places of ``positions`` replaced."""
    words = text.split(" ")
    for i in rng.sample(list(positions), count):
        words[i] = rng.choice(EDIT_WORDS) + str(rng.randrange(1000))
    return " ".join(words)


def jaccard(x: str, y: str) -> float:
    a, b = word_shingles(x, 5), word_shingles(y, 5)
    return len(a & b) / len(a | b)


def chain_corpus(seed: int = 9) -> list[dict[str, list[str]]]:
    """Three batches of documents: sources with near duplicates among them, then copies of
    documents the first batch drops (each close to the dropped one, further from the kept one),
    then copies of documents the second batch drops. Each batch is one run's input."""
    rng = random.Random(seed)
    kept = [random_words(rng, 600) for _ in range(8)]
    dropped = [edit(k, rng, range(0, 300), 8) for k in kept]  # J ~ 0.87 to its kept one
    sources = [kept[i // 2] if i % 2 == 0 else dropped[i // 2] for i in range(16)]
    sources += [random_words(rng, 600) for _ in range(4)]
    copies = [edit(d, rng, range(300, 600), 7) for d in dropped]  # J ~ 0.89 to the dropped one
    copies += [dropped[0] + "\n", kept[1] + " ", random_words(rng, 600)]
    copies.append(edit(copies[2], rng, range(0, 600), 6))  # a copy of a copy, same batch
    later = [edit(c, rng, range(0, 600), 6) for c in copies[4:8]]  # copies of dropped copies
    later += [copies[-2], random_words(rng, 600)]
    return [{"a-src": sources}, {"b-copies": copies}, {"c-later": later}]


def test_runs_in_sequence_drop_exactly_what_one_run_drops(tmp_path: Path) -> None:
    batches = chain_corpus()
    one = write_partitions(tmp_path / "one", {k: v for b in batches for k, v in b.items()})
    all_parts = [p for b in batches for p in b]
    units.run_all(one, DedupConfig(), all_parts)
    one_kept, one_dropped = kept_and_dropped(one, all_parts)

    runs, kept, dropped = [], [], {}
    for day, batch in enumerate(batches):
        run = write_partitions(tmp_path / "runs" / f"day-{day}", batch)
        config = DedupConfig(previous_runs=["runs/day-*"])
        finish(run, config, units.run_all(run, config, list(batch), base_dir=tmp_path))
        day_kept, day_dropped = kept_and_dropped(run, list(batch))
        kept += day_kept
        dropped.update(day_dropped)
        runs.append(run)
    assert kept == one_kept
    assert dropped == one_dropped
    # the chains matter: some copies are dropped for a document they are not close to
    texts = {f"{p}/{i}": t for b in batches for p, ts in b.items() for i, t in enumerate(ts)}
    via_chain = [
        i for i, (_, dup) in dropped.items() if jaccard(texts[i], texts[dup]) < 0.8 and i[0] > "a"
    ]
    assert len(via_chain) >= 6
    assert sum(1 for i in dropped if i.startswith("b-")) == 11
    assert sum(1 for i in dropped if i.startswith("c-")) == 5


def test_earlier_runs_outputs_never_change(tmp_path: Path) -> None:
    batches = chain_corpus(seed=4)
    first = write_partitions(tmp_path / "runs" / "day-0", batches[0])
    config = DedupConfig(previous_runs=["runs/day-*"])
    finish(first, config, units.run_all(first, config, ["a-src"], base_dir=tmp_path))
    before = {p: file_sha256(p) for p in sorted(first.root.rglob("*")) if p.is_file()}
    for day, batch in enumerate(batches[1:], start=1):
        run = write_partitions(tmp_path / "runs" / f"day-{day}", batch)
        finish(run, config, units.run_all(run, config, list(batch), base_dir=tmp_path))
    after = {p: file_sha256(p) for p in sorted(first.root.rglob("*")) if p.is_file()}
    assert after == before


def test_a_run_root_with_ten_runs_is_found_compacted_and_deduplicated_against(
    tmp_path: Path,
) -> None:
    rng = random.Random(21)
    root = tmp_path / "runs" / "daily"
    config = DedupConfig(previous_runs=["runs/daily"])
    days = []
    for day in range(10):
        base = random_words(rng, 400)
        texts = [base, edit(base, rng, range(0, 200), 4), random_words(rng, 400)]
        run = write_partitions(root / f"2026-11-{day + 1:02d}", {f"d{day}": texts})
        finish(run, config, units.run_all(run, config, [f"d{day}"], base_dir=tmp_path))
        assert kept_and_dropped(run, [f"d{day}"])[1] == {
            f"d{day}/1": ("near_duplicate", f"d{day}/0")
        }
        days.append((run, texts))
    copies = [
        edit(days[3][1][1], rng, range(200, 400), 4),  # close to a document day 4 dropped
        days[7][1][2] + "\n",  # exact copy of a document day 8 kept
        days[0][1][1],  # exact copy of a document day 1 dropped: near duplicate of its kept one
        random_words(rng, 400),
    ]
    later = write_partitions(root / "2026-11-30", {"new": copies})
    summaries = units.run_all(later, config, ["new"], base_dir=tmp_path)
    finish(later, config, summaries)
    assert kept_and_dropped(later, ["new"]) == (
        ["new/3"],
        {
            "new/0": ("near_duplicate", "d3/0"),
            "new/1": ("exact_duplicate", "d7/2"),
            "new/2": ("near_duplicate", "d0/0"),
        },
    )
    assert later.stage_record("dedup")["clusters"]["previous_runs"] == [str(root.resolve())]
    ids = [r.root.name for r, _ in days]
    assert len(ids) == 10
    manifest = json.loads((root / run_root.INDEX_DIR / "manifest.json").read_text())
    assert [r["name"] for r in manifest["runs"]] == ids
    # 10 runs added one by one: the first 8 segments merged into one, then two more
    assert [s["level"] for s in manifest["segments"]] == [1, 0, 0]
    assert len(list((root / run_root.INDEX_DIR).glob("seg-*.parquet"))) >= 3
    # a run of the root run again reads only the runs added before it: nothing changes
    again = units.run_all(days[3][0], config, ["d3"], base_dir=tmp_path)
    assert all(s["skipped"] for s in again)
    assert kept_and_dropped(days[3][0], ["d3"])[1] == {"d3/1": ("near_duplicate", "d3/0")}


def test_verification_merges_only_pairs_at_the_threshold() -> None:
    rng = random.Random(3)
    base = random_words(rng, 400)
    far = [edit(base, rng, range(400), 14) for _ in range(6)]  # J ~ 0.7 to base
    close = [edit(base, rng, range(400), 3) for _ in range(3)]  # J ~ 0.93 to base
    texts = [base, *far, *close]
    low_band = {"threshold": 0.8, "band_threshold": 0.5}
    banded = plan_dedup(texts, DedupConfig(minhash={**low_band, "verify": False}))
    verified = plan_dedup(texts, DedupConfig(minhash=low_band))
    assert sum(r is not None for r in banded.reasons[1:7]) >= 4  # banding alone merges them
    assert verified.reasons[1:7] == [None] * 6
    assert verified.reasons[7:] == ["near_duplicate"] * 3


def test_verified_edges_check_every_pair_of_a_bucket() -> None:
    rng = np.random.default_rng(0)
    signatures = np.repeat(rng.integers(0, 2**32, (1, 128), dtype=np.uint64), 3, 0)
    signatures[0, :60] = 1  # the bucket's first member is far from both others
    signatures[2, 120:] = 2  # the other two agree on 120 of 128 values
    a, b = verified_edges(np.full(3, 7, np.uint64), np.arange(3), 3, low_bits(signatures), 0.8)
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [(1, 2)]


def test_index_holds_near_duplicates_with_the_document_they_stand_for(tmp_path: Path) -> None:
    rng = random.Random(2)
    base = random_words(rng, 300)
    texts = [base, edit(base, rng, range(300), 2), base + " ", random_words(rng, 300)]
    run = write_partitions(tmp_path / "r", {"p": texts})
    units.run_all(run, DedupConfig(), ["p"])
    index = pq.read_table(units.index_path(run, "p")).to_pydict()
    assert index["id"] == ["p/0", "p/1", "p/3"]  # the exact copy p/2 adds nothing
    assert index["dup_of"] == [None, "p/0", None]
    signatures, _ = document_signatures(texts, ["web"] * 4, DedupConfig().minhash)
    assert index["low"][1] == low_bits(signatures[1]).tobytes()
    assert RunDir(run.root).stage_record("dedup") is None  # units alone write no record
