"""Dedup: decisions, signal columns and accounting. (Language ID and quality filtering are
pinned in tests/test_langid.py and tests/test_quality_rules.py.)"""

from __future__ import annotations

import random

from pipeline.dedup.config import DedupConfig
from pipeline.dedup.in_memory import apply_plan, plan_dedup
from tests.corpus_fixtures import docs, english_doc


def test_dedup_keeps_first_of_exact_and_near_duplicates() -> None:
    rng = random.Random(3)
    base = [english_doc(rng, 30) for _ in range(5)]
    near = base[2].split(" ")
    near[7] = "harbour"
    texts = [*base, "  " + base[0].replace(" ", "   ") + "\n", " ".join(near)]
    table = docs(texts)
    config = DedupConfig()
    plan = plan_dedup(texts, config)
    assert plan.reasons == [None] * 5 + ["exact_duplicate", "near_duplicate"]
    assert plan.dup_of[5:] == [0, 2]
    ids = table.column("id").to_pylist()
    result = apply_plan(table, 0, plan, ids, config)
    assert result.stats.docs_in == 7 and result.stats.docs_kept == 5
    assert result.dropped.column("dup_of").to_pylist() == ["t/0", "t/2"]
    assert result.kept.column("dup_cluster_size").to_pylist() == [2, 1, 2, 1, 1]


def test_dedup_spans_partitions_by_offset() -> None:
    rng = random.Random(4)
    a, b = english_doc(rng, 30), english_doc(rng, 30)
    texts = [a, b, a]
    plan = plan_dedup(texts, DedupConfig())
    ids = ["p/0", "p/1", "q/0"]
    second = apply_plan(docs([a]), 2, plan, ids, DedupConfig())
    assert second.stats.dropped == {"exact_duplicate": 1}
    assert second.dropped.column("dup_of").to_pylist() == ["p/0"]
