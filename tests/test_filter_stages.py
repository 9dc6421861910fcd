"""Language ID, Gopher quality and dedup: decisions, signal columns and accounting."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from pipeline.dedup.config import DedupConfig
from pipeline.dedup.stage import apply_plan, plan_dedup
from pipeline.langid.config import LangIDConfig
from pipeline.langid.fasttext_lid import LangIDStage
from pipeline.quality.config import QualityConfig
from pipeline.quality.gopher import GopherQualityStage, gopher_signals
from pipeline.schema import documents_to_table
from tests.corpus_fixtures import FRENCH, code_doc, english_doc


def docs(texts: list[str], kind: str = "web") -> pa.Table:
    return documents_to_table(
        {"id": f"t/{i}", "text": t, "source": "t", "kind": kind, "path": f"f{i}.py", "meta": {}}
        for i, t in enumerate(texts)
    )


def test_langid_keeps_english_drops_french_and_skips_code() -> None:
    rng = random.Random(1)
    table = pa.concat_tables([docs([english_doc(rng), FRENCH]), docs([code_doc(1)], "code")])
    result = LangIDStage(LangIDConfig())(table)
    assert result.stats.docs_in == 3
    assert result.stats.docs_kept == 2 and result.stats.dropped == {"lang_not_kept": 1}
    assert result.kept.column("lang").to_pylist() == ["en", "python"]
    assert result.kept.column("lang_score").to_pylist()[0] > 0.65
    assert result.kept.column("lang_score").to_pylist()[1] is None
    assert result.dropped.column("lang").to_pylist() == ["fr"]
    assert result.dropped.column("reason").to_pylist() == ["lang_not_kept"]


def test_langid_min_score_drops_uncertain_text() -> None:
    result = LangIDStage(LangIDConfig(languages=[], min_score=0.99))(docs(["ok ok 123 xyz"]))
    assert result.stats.dropped == {"lang_low_score": 1}


def test_keep_all_annotates_without_dropping() -> None:
    result = LangIDStage(LangIDConfig(keep="all"))(docs([FRENCH, FRENCH + " Encore."]))
    assert result.kept.num_rows == 2 and result.dropped.num_rows == 0
    assert result.stats.flagged == {"lang_not_kept": 2}
    assert result.kept.column("lang").to_pylist() == ["fr", "fr"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("the and of " * 10, "gopher_below_min_words"),
        (" ".join(["internationalisation"] * 60) + " the and", "gopher_above_avg_word_length"),
        ("# the garden and river with window " * 20, "gopher_symbol_word_ratio"),
        ("\n".join(["- the garden and river with window"] * 30), "gopher_bullet_lines"),
        ("\n".join(["the house and the garden of the river with a window..."] * 20),
         "gopher_ellipsis_lines"),
        (" ".join(["1234 5678 9012 garden river window house"] * 20), "gopher_alpha_words"),
        (" ".join(["green apples fall quietly"] * 20), "gopher_stop_words"),
    ],
)
def test_gopher_rules_name_the_rule_that_failed(text: str, reason: str) -> None:
    result = GopherQualityStage(QualityConfig())(docs([text]))
    assert result.dropped.column("reason").to_pylist() == [reason]


def test_gopher_keeps_prose_records_signals_and_skips_code() -> None:
    rng = random.Random(2)
    prose = english_doc(rng)
    result = GopherQualityStage(QualityConfig())(
        pa.concat_tables([docs([prose]), docs([code_doc(0)], "code")])
    )
    assert result.stats.docs_kept == 2
    words = result.kept.column("gopher_words").to_pylist()
    assert words[0] == gopher_signals(prose)["gopher_words"] and words[0] >= 50
    assert words[1] is None


def test_gopher_thresholds_are_configurable() -> None:
    text = "the garden and river " * 8  # 32 words
    assert GopherQualityStage(QualityConfig())(docs([text])).stats.docs_kept == 0
    relaxed = QualityConfig(gopher={"min_doc_words": 32})
    assert GopherQualityStage(relaxed)(docs([text])).stats.docs_kept == 1


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
