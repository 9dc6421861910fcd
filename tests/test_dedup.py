"""Dedup: datasketch-equal signatures, LSH shape, exact clusters on a crafted corpus, keep
policies, the units over a run directory, incremental runs, determinism and Dask."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash, MinHashLSH

from pipeline.dedup import paths, units
from pipeline.dedup.artifacts import DedupInputError
from pipeline.dedup.config import DedupConfig, MinHashConfig
from pipeline.dedup.in_memory import plan_dedup
from pipeline.dedup.lsh import bucket_edges
from pipeline.dedup.lsh_params import optimal_bands_rows
from pipeline.dedup.minhash import MinHasher, document_signatures
from pipeline.dedup.normalize import char_shingles, word_shingles
from pipeline.dedup.union_find import connected_components
from pipeline.hashing import file_sha256
from pipeline.rundir import RunDir, write_parquet
from pipeline.schema import documents_to_table
from tests.corpus_fixtures import random_words

REAL_ISH = [
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
    'software and associated documentation files (the "Software"), to deal in the Software '
    "without restriction, including without limitation the rights to use, copy, modify.",
    "Copyright © 2019–2024 Jürgen Müller <jm@example.invalid>\n\tLicensed under the Apache "
    'License, Version 2.0 (the "License"); you may not use this file except in compliance.',
    "日本語の文書、そして English words mixed in; naïve café déjà vu — œuvre ΣΟΦΙΑ σοφίας.",
    "def main(argv: list[str]) -> int:\n    return len(argv)  # __init__ snake_case_name\n",
    "short one",
    "",
    "!!! ??? ...",
]


def change_words(text: str, rng: random.Random, count: int) -> str:
    words = text.split(" ")
    for _ in range(count):
        words[rng.randrange(len(words))] = rng.choice(["tin", "oak", "elm", "ash", "rye"])
    return " ".join(words)


# -- signatures ----------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_word_signatures_equal_datasketch_minhash_update_batch(scheme: str) -> None:
    rng = random.Random(1)
    texts = [*REAL_ISH, random_words(rng, 300), random_words(rng, 4)]
    signatures, counts = MinHasher(128, 1, scheme).signatures(texts, ["word"] * len(texts), 5)
    for text, signature, count in zip(texts, signatures, counts, strict=True):
        shingles = word_shingles(text, 5)
        reference = MinHash(num_perm=128, seed=1, scheme=scheme)
        reference.update_batch(sorted(shingles))
        assert signature.tolist() == reference.hashvalues.tolist(), text[:40]
        assert (count > 0) == bool(shingles)


def test_char_signatures_and_other_seeds_equal_datasketch() -> None:
    texts = REAL_ISH[:5]
    for num_perm, seed, n in ((64, 7, 10), (256, 42, 3)):
        signatures, _ = MinHasher(num_perm, seed).signatures(texts, ["char"] * len(texts), n)
        for text, signature in zip(texts, signatures, strict=True):
            reference = MinHash(num_perm=num_perm, seed=seed)
            reference.update_batch(char_shingles(text, n))
            assert np.array_equal(signature, reference.hashvalues)


def test_code_documents_use_the_code_shingle_setting() -> None:
    config = MinHashConfig(code_shingle="char", char_ngram=8)
    code = REAL_ISH[3]
    signatures, _ = document_signatures([code, code], ["code", "web"], config)
    as_chars = MinHash(128, seed=1)
    as_chars.update_batch(char_shingles(code, 8))
    as_words = MinHash(128, seed=1)
    as_words.update_batch(word_shingles(code, 5))
    assert np.array_equal(signatures[0], as_chars.hashvalues)
    assert np.array_equal(signatures[1], as_words.hashvalues)


@pytest.mark.parametrize(
    ("threshold", "num_perm"),
    [(0.8, 128), (0.9, 128), (0.5, 128), (0.7, 256), (0.85, 64), (0.95, 100)],
)
def test_bands_and_rows_equal_datasketch_choice(threshold: float, num_perm: int) -> None:
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert optimal_bands_rows(threshold, num_perm) == (lsh.b, lsh.r)


# -- clusters ------------------------------------------------------------------------------------
def test_connected_components_match_a_plain_union_find() -> None:
    rng = np.random.default_rng(3)
    size = 500
    a, b = rng.integers(0, size, 300), rng.integers(0, size, 300)
    parent = list(range(size))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        rx, ry = find(x), find(y)
        parent[max(rx, ry)] = min(rx, ry)
    expected = [find(x) for x in range(size)]
    assert connected_components(size, a, b).tolist() == expected


def test_bucket_edges_ignore_row_order_and_pairs_of_previous_documents() -> None:
    keys = np.array([5, 9, 5, 5, 9, 7], np.uint64)
    nodes = np.arange(6)
    a, b = bucket_edges(keys, nodes, current=4)  # nodes 4 and 5 come from previous runs
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 2), (0, 3), (1, 4)]
    shuffled = np.array([3, 0, 5, 1, 4, 2])
    a2, b2 = bucket_edges(keys[shuffled], nodes[shuffled], current=4)
    assert a2.tolist() == a.tolist() and b2.tolist() == b.tolist()


def crafted_corpus(seed: int = 11) -> tuple[list[str], list[set[int]]]:
    """Six groups of duplicates (exact copies, re-spaced copies, one- and two-word edits) among
    twenty unrelated documents; returns the texts and the groups of indices."""
    rng = random.Random(seed)
    texts = [random_words(rng, 400) for _ in range(20)]
    groups = []
    for base in range(6):
        members = [base]
        for variant in range(base % 3 + 1):
            if variant == 0:
                copy = "  " + texts[base].replace(" ", "\n", 3) + " "
            else:
                copy = change_words(texts[base], rng, variant)
            members.append(len(texts))
            texts.append(copy)
        groups.append(set(members))
    return texts, groups


def test_crafted_corpus_gives_exactly_the_known_clusters() -> None:
    texts, groups = crafted_corpus()
    plan = plan_dedup(texts, DedupConfig())
    found: dict[int, set[int]] = {}
    for i, keeper in enumerate(plan.dup_of):
        found.setdefault(i if keeper is None else keeper, set()).add(i)
    clusters = sorted((c for c in found.values() if len(c) > 1), key=min)
    assert clusters == sorted(groups, key=min)
    for group in groups:
        keeper = min(group)
        assert plan.cluster_size[keeper] == len(group)
        for i in group - {keeper}:
            assert plan.reasons[i] in ("exact_duplicate", "near_duplicate")
    assert plan.reasons[20] == "exact_duplicate"  # the re-spaced copy of document 0
    assert plan.reasons[22] == "near_duplicate"  # a one-word edit of document 1
    # banded for 0.7 (threshold 0.8 - 0.1) since candidates are verified
    assert (plan.lsh_bands, plan.lsh_rows) == (14, 9)


def test_keep_policies_choose_longest_or_preferred_source() -> None:
    rng = random.Random(5)
    base = random_words(rng, 300)
    longer = base + " " + random_words(rng, 3)
    texts, sources = [base, longer, base + " "], ["crawl", "crawl", "curated"]
    first = plan_dedup(texts, DedupConfig(), sources=sources)
    assert first.reasons == [None, "near_duplicate", "exact_duplicate"]
    longest = plan_dedup(texts, DedupConfig(keep_policy="longest"), sources=sources)
    assert longest.reasons == ["near_duplicate", None, "near_duplicate"]
    assert longest.dup_of == [1, None, 1]
    priority = DedupConfig(keep_policy="source_priority", source_priority=["curated"])
    preferred = plan_dedup(texts, priority, sources=sources)
    assert preferred.reasons == ["exact_duplicate", "near_duplicate", None]
    assert preferred.cluster_size == [0, 0, 3]


def test_exact_dedup_alone_and_case_folding() -> None:
    texts = ["The Mill Wheel turns", "the mill wheel turns", "The  Mill Wheel turns\n"]
    plain = plan_dedup(texts, DedupConfig(minhash={"enabled": False}))
    assert plain.reasons == [None, None, "exact_duplicate"]
    folded = plan_dedup(texts, DedupConfig(case_fold=True, minhash={"enabled": False}))
    assert folded.reasons == [None, "exact_duplicate", "exact_duplicate"]


# -- units over a run directory --------------------------------------------------------------
def write_partitions(root: Path, parts: dict[str, list[str]], source: str = "web") -> RunDir:
    run = RunDir(root)
    for part, texts in parts.items():
        table = documents_to_table(
            {"id": f"{part}/{i}", "text": t, "source": source, "kind": "web", "meta": {"n": i}}
            for i, t in enumerate(texts)
        )
        write_parquet(run.kept_path("quality", part), table)
    return run


def kept_and_dropped(run: RunDir, parts: list[str]) -> tuple[list[str], dict[str, tuple]]:
    kept, dropped = [], {}
    for part in parts:
        kept += pq.read_table(run.kept_path("dedup", part)).column("id").to_pylist()
        path = run.dropped_path("dedup", part)
        if path.is_file():
            for row in pq.read_table(path).to_pylist():
                dropped[row["id"]] = (row["reason"], row["dup_of"])
    return kept, dropped


def finish(run: RunDir, config: DedupConfig, summaries: list[dict]) -> None:
    """What the flow does after the units: the stage record (its partitions list is what later
    runs read)."""
    from pipeline.steps.records import finish_stage

    finish_stage(
        run,
        "dedup",
        config.model_dump(mode="json"),
        summaries,
        0.0,
        units.stage_summary(run, config),
    )


@pytest.fixture
def corpus_parts() -> dict[str, list[str]]:
    texts, _ = crafted_corpus()
    return {"p-a": texts[:15], "p-b": texts[15:27], "p-c": texts[27:]}


def test_units_give_the_in_memory_decisions_and_account_for_every_document(
    tmp_path: Path, corpus_parts: dict[str, list[str]]
) -> None:
    config = DedupConfig()
    run = write_partitions(tmp_path / "run", corpus_parts)
    parts = list(corpus_parts)
    summaries = units.run_all(run, config, parts)
    all_texts = [t for texts in corpus_parts.values() for t in texts]
    ids = [f"{p}/{i}" for p, texts in corpus_parts.items() for i in range(len(texts))]
    plan = plan_dedup(all_texts, config)
    kept, dropped = kept_and_dropped(run, parts)
    assert kept == [i for i, r in zip(ids, plan.reasons, strict=True) if r is None]
    assert dropped == {
        ids[i]: (r, ids[plan.dup_of[i]]) for i, r in enumerate(plan.reasons) if r is not None
    }
    for summary in summaries:
        stats = summary["stats"]
        assert stats["docs_in"] == stats["docs_kept"] + stats["docs_dropped"]
    first = pq.read_table(run.kept_path("dedup", "p-a")).to_pylist()
    assert first[0]["dup_cluster_size"] == 2 and '"dup_cluster_size": 2' in first[0]["meta"]
    assert first[6]["dup_cluster_size"] == 1 and "dup_cluster_size" not in first[6]["meta"]
    finish(run, config, summaries)
    record = run.stage_record("dedup")
    assert record["lsh"]["bands"] == 14 and record["lsh"]["rows"] == 9
    assert record["clusters"]["clusters"] == 6


def test_partitions_with_no_documents_dedup_to_nothing(tmp_path: Path) -> None:
    """An earlier stage that kept nothing leaves empty partitions: dedup keeps and drops none."""
    run = write_partitions(tmp_path / "run", {"p-a": [], "p-b": []})
    summaries = units.run_all(run, DedupConfig(), ["p-a", "p-b"])
    assert kept_and_dropped(run, ["p-a", "p-b"]) == ([], {})
    assert all(s["stats"]["docs_in"] == s["stats"]["docs_kept"] == 0 for s in summaries)
    empty = np.empty((0, 14), np.uint64)
    a, b = bucket_edges(empty, np.empty(0, np.int64), current=0)
    assert len(a) == len(b) == 0


def test_rerun_skips_every_unit_and_a_new_threshold_only_rebands(
    tmp_path: Path, corpus_parts: dict[str, list[str]]
) -> None:
    run = write_partitions(tmp_path / "run", corpus_parts)
    parts = list(corpus_parts)
    units.run_all(run, DedupConfig(), parts)
    again = units.run_all(run, DedupConfig(), parts)
    assert all(s["skipped"] for s in again)
    config = DedupConfig(minhash={"threshold": 0.7})
    rebanded = [units.signature_unit(run, config, part) for part in parts]
    assert [s["rehashed"] for s in rebanded] == [False] * 3


def test_partition_order_and_task_order_do_not_change_the_outputs(
    tmp_path: Path, corpus_parts: dict[str, list[str]]
) -> None:
    config = DedupConfig(keep_policy="longest")
    parts = list(corpus_parts)
    one = write_partitions(tmp_path / "one", corpus_parts)
    units.run_all(one, config, parts)
    two = write_partitions(tmp_path / "two", corpus_parts)
    reordered = parts[::-1]
    for part in reordered:
        units.signature_unit(two, config, part)
    for key in units.bucket_keys(config)[::-1]:
        units.bucket_unit(two, config, reordered, key)
    units.cluster_unit(two, config, reordered)
    for part in reordered:
        units.apply_unit(two, config, part)
    for part in parts:
        for path in (RunDir.kept_path, RunDir.dropped_path):
            assert file_sha256(path(one, "dedup", part)) == file_sha256(path(two, "dedup", part))
        assert file_sha256(paths.index_path(one, part)) == file_sha256(paths.index_path(two, part))
    internal = (
        [paths.plan_path]
        + [lambda run, key=key: paths.bucket_path(run, key) for key in units.bucket_keys(config)]
        + [lambda run, part=part: paths.signature_path(run, part) for part in parts]
    )
    for path_of in internal:
        assert file_sha256(path_of(one)) == file_sha256(path_of(two)), path_of(one)


def test_incremental_run_drops_duplicates_of_previous_runs_and_never_their_documents(
    tmp_path: Path,
) -> None:
    rng = random.Random(8)
    old_texts = [random_words(rng, 300) for _ in range(6)]
    config = DedupConfig()
    first = write_partitions(tmp_path / "runs" / "day-1", {"old": old_texts})
    finish(first, config, units.run_all(first, config, ["old"]))

    new_texts = [
        change_words(old_texts[2], rng, 1),
        random_words(rng, 300),
        old_texts[4] + "\n",
        random_words(rng, 300),
    ]
    new_texts.append(change_words(new_texts[1], rng, 1))  # a duplicate inside the new run
    later = DedupConfig(previous_runs=["runs/day-*"])
    second = write_partitions(tmp_path / "runs" / "day-2", {"new": new_texts})
    summaries = units.run_all(second, later, ["new"], base_dir=tmp_path)
    kept, dropped = kept_and_dropped(second, ["new"])
    assert kept == ["new/1", "new/3"]
    assert dropped == {
        "new/0": ("near_duplicate", "old/2"),
        "new/2": ("exact_duplicate", "old/4"),
        "new/4": ("near_duplicate", "new/1"),
    }
    assert summaries[0]["stats"]["docs_in"] == 5
    finish(second, later, summaries)
    assert second.stage_record("dedup")["clusters"]["dropped_for_previous_runs"] == 2
    # the first run's outputs are untouched; a third run sees both earlier runs
    assert pq.read_table(first.kept_path("dedup", "old")).num_rows == 6
    third = write_partitions(tmp_path / "runs" / "day-3", {"newer": [new_texts[3], old_texts[0]]})
    units.run_all(third, later, ["newer"], base_dir=tmp_path)
    assert kept_and_dropped(third, ["newer"])[1] == {
        "newer/0": ("exact_duplicate", "new/3"),
        "newer/1": ("exact_duplicate", "old/0"),
    }


def test_previous_run_with_other_settings_is_refused(tmp_path: Path) -> None:
    config = DedupConfig()
    first = write_partitions(tmp_path / "a", {"old": [random_words(random.Random(1), 50)]})
    finish(first, config, units.run_all(first, config, ["old"]))
    second = write_partitions(tmp_path / "b", {"new": [random_words(random.Random(2), 50)]})
    other = DedupConfig(previous_runs=[str(tmp_path / "a")], minhash={"ngram": 3})
    with pytest.raises(DedupInputError, match="ngram"):
        units.run_all(second, other, ["new"])
    missing = DedupConfig(previous_runs=[str(tmp_path / "nowhere")])
    with pytest.raises(DedupInputError, match="nowhere"):
        units.run_all(second, missing, ["new"])


def test_dask_local_cluster_gives_the_same_outputs(
    tmp_path: Path, corpus_parts: dict[str, list[str]]
) -> None:
    from distributed import Client, LocalCluster

    config = DedupConfig()
    parts = list(corpus_parts)
    local = write_partitions(tmp_path / "local", corpus_parts)
    units.run_all(local, config, parts)
    spread = write_partitions(tmp_path / "dask", corpus_parts)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.gather(client.map(units.signature_unit, [spread] * 3, [config] * 3, parts))
        keys = units.bucket_keys(config)
        client.gather([client.submit(units.bucket_unit, spread, config, parts, k) for k in keys])
        client.submit(units.cluster_unit, spread, config, parts).result()
        client.gather(client.map(units.apply_unit, [spread] * 3, [config] * 3, parts))
    for part in parts:
        assert file_sha256(local.kept_path("dedup", part)) == file_sha256(
            spread.kept_path("dedup", part)
        )


# -- real near-duplicates --------------------------------------------------------------------
def test_neardup_licences_merged_pairs_are_truly_similar(shared_data: Path) -> None:
    import gzip
    import json

    with gzip.open(shared_data / "neardup" / "neardup.jsonl.gz", "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f][:400]
    plan = plan_dedup(texts, DedupConfig())
    pairs = [(i, k) for i, k in enumerate(plan.dup_of) if k is not None]
    assert len(pairs) > 50  # licence texts repeat a lot
    shingles = {j: word_shingles(texts[j], 5) for pair in pairs for j in pair}
    similar = sum(
        len(shingles[i] & shingles[k]) / max(1, len(shingles[i] | shingles[k])) >= 0.5
        for i, k in pairs
    )
    assert similar / len(pairs) >= 0.95
    assert pa.array(plan.reasons).null_count == plan.reasons.count(None)


def test_source_priority_must_name_sources_of_the_run(tmp_path: Path) -> None:
    from pipeline.config import ConfigError, parse_config

    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    data = {
        "sources": [{"name": "a", "kind": "web", "format": "jsonl", "paths": ["a.jsonl"]}],
        "dedup": {"keep_policy": "source_priority", "source_priority": ["a", "b"]},
    }
    with pytest.raises(ConfigError, match="unknown sources: b"):
        parse_config(data, tmp_path)
