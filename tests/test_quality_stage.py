"""The quality stage: suites per kind and per source, signal columns, every failing rule kept,
re-filtering from the columns, PII before the rules, accounting and determinism."""

from __future__ import annotations

import gzip
import random
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.config import ConfigError, load_config
from pipeline.quality.config import QualityConfig
from pipeline.quality.stage import RULE_SETS, QualityStage, refilter, thresholds
from pipeline.quality.words import Lexicon
from tests.corpus_fixtures import code_doc, docs, write_config, write_corpus

PARAGRAPHS = [
    "The mill stood at the bend of the river, where the water ran fast enough to turn the "
    "great wheel through most of the year. In dry summers the miller closed the sluice at "
    "night and let the pond fill, so that he could grind for a few hours each morning. "
    "Farmers came from three valleys with their carts, and they waited their turn by the "
    "wall, talking about prices and the weather.",
    "Nobody in the village could remember when the bridge had last been repaired. The "
    "council met twice to discuss it and agreed that something had to be done before "
    "winter. A young engineer from the town measured the stones, drew a careful plan and "
    "wrote a letter to the mayor explaining what it would cost.",
    "Every autumn the children were sent into the orchard to gather the fallen apples. "
    "They filled baskets that were almost as tall as they were, and carried them to the "
    "press behind the barn. The juice was sweet and cloudy; some of it was kept for the "
    "winter, and the rest was sold at the market on Saturday.",
    "The old road over the hill is steep and narrow, with loose stones that roll under the "
    "feet of anyone who hurries. Travellers who know it set out early, rest at the chapel "
    "halfway up, and reach the far side before the light begins to fade. Those who do not "
    "know it often turn back, tired and annoyed, to wait for the carrier.",
]


def prose(seed: int, paragraphs: int = 2) -> str:
    """Real-looking English prose: ``paragraphs`` of the four above, chosen by ``seed``."""
    rng = random.Random(seed)
    return "\n\n".join(rng.sample(PARAGRAPHS, paragraphs))


JUNK = "Buy now!!! Click here."  # too short for Gopher, too few sentences for C4, ...


def test_web_documents_get_the_web_suite_and_code_the_code_rules() -> None:
    mixed = pa.concat_tables([docs([prose(1)]), docs([code_doc(0)], kind="code")])
    result = QualityStage(QualityConfig())(mixed)
    assert result.stats.docs_kept == 2
    web, code = result.kept.to_pylist()
    assert web["gopher_words"] > 50 and web["c4_sentences"] >= 5
    assert web["fineweb_list_ratio"] is not None and web["code_max_line_length"] is None
    assert code["gopher_words"] is None and code["code_max_line_length"] > 0


def test_dropped_documents_keep_first_and_every_failing_rule() -> None:
    result = QualityStage(QualityConfig())(docs([prose(2), JUNK]))
    assert result.stats.docs_in == 2 and result.stats.docs_kept == 1
    dropped = result.dropped.to_pylist()[0]
    assert dropped["reasons"][0] == dropped["reason"]
    assert {"gopher_short_doc", "c4_too_few_sentences"} <= set(dropped["reasons"])
    assert result.stats.dropped == {dropped["reason"]: 1}
    assert result.stats.rule_failures["c4_too_few_sentences"] == 1
    assert result.kept.column("reasons").to_pylist() == [[]]


def test_keep_all_flags_and_lists_reasons_without_dropping() -> None:
    result = QualityStage(QualityConfig(keep="all"))(docs([prose(3), JUNK]))
    assert result.stats.docs_kept == 2 and result.dropped.num_rows == 0
    reasons = result.kept.column("reasons").to_pylist()
    assert reasons[0] == [] and reasons[1][0] in result.stats.flagged


def test_stopping_at_the_first_failure_keeps_the_decisions_and_nulls_later_signals() -> None:
    repeated = "\n\n".join([PARAGRAPHS[0]] * 4)  # fails the repetition rules first
    table = docs([prose(4), JUNK, repeated])
    full = QualityStage(QualityConfig())(table)
    fast = QualityStage(QualityConfig(stop_at_first_failure=True))(table)
    assert fast.kept.equals(full.kept)
    assert fast.dropped.column("reason").equals(full.dropped.column("reason"))
    rows = {r["text"]: r for r in fast.dropped.to_pylist()}
    assert rows[repeated]["reason"] == "gopher_dup_para_frac"
    assert rows[repeated]["gopher_top_2gram_char_frac"] is None  # n-grams never measured
    assert rows[repeated]["gopher_words"] is None and rows[repeated]["c4_sentences"] is None
    assert rows[JUNK]["gopher_top_2gram_char_frac"] is not None  # its failing rule set
    assert rows[JUNK]["gopher_words"] is None and rows[JUNK]["c4_sentences"] is None
    every = {r["text"]: r["reasons"] for r in full.dropped.to_pylist()}[JUNK]
    assert every[: len(rows[JUNK]["reasons"])] == rows[JUNK]["reasons"] != every


def test_suites_are_configured_per_kind_and_overridden_per_source() -> None:
    config = QualityConfig(
        suites={"web": ["c4"]}, per_source={"forum": {"suite": ["gopher_quality"]}}
    )
    stage = QualityStage(config)
    assert config.suites["book"] == ["books"]  # kinds not named keep their default suite
    text = prose(4)
    web = stage(docs([text])).kept.to_pylist()[0]
    assert web["c4_sentences"] > 0 and web["gopher_words"] is None
    forum = stage(docs([text], source="forum")).kept.to_pylist()[0]
    assert forum["gopher_words"] > 0 and forum["c4_sentences"] is None


def test_blank_documents_are_dropped_as_empty() -> None:
    result = QualityStage(QualityConfig())(docs([" \n\t ", prose(5)]))
    assert result.stats.dropped == {"empty": 1}


def test_every_partition_has_the_same_columns() -> None:
    stage = QualityStage(QualityConfig())
    full = stage(docs([prose(6), JUNK]))
    empty = stage(docs([]))
    assert empty.kept.schema == full.kept.schema
    assert full.kept.schema.field("text") == docs([]).schema.field("text")
    assert full.dropped.schema.names == [*full.kept.schema.names, "reason"]


def test_refilter_from_signal_columns_equals_measuring_again() -> None:
    texts = [prose(7), prose(8, 1), JUNK, prose(9).replace(".", "")]
    measured = QualityStage(QualityConfig(keep="all"))(docs(texts)).kept
    stricter = QualityConfig(gopher_quality={"min_doc_words": 150}, c4={"min_num_sentences": 20})
    again = QualityStage(stricter)(docs(texts))
    redone = refilter(measured, stricter)
    default = QualityStage(QualityConfig())(docs(texts))
    assert redone.stats.docs_dropped > default.stats.docs_dropped  # the new thresholds bite
    assert redone.stats.dropped == again.stats.dropped
    assert (
        redone.dropped.column("reasons").to_pylist() == again.dropped.column("reasons").to_pylist()
    )


def test_refilter_takes_kept_and_dropped_rows_together() -> None:
    first = QualityStage(QualityConfig())(docs([prose(10), JUNK]))
    both = pa.concat_tables([first.kept, first.dropped], promote_options="default")
    looser = refilter(both, QualityConfig(suites={"web": []}))
    assert looser.stats.docs_kept == 2 and looser.kept.column("reasons").to_pylist() == [[], []]


def test_refilter_names_missing_signal_columns() -> None:
    with pytest.raises(ValueError, match="gopher_words"):
        refilter(docs([prose(10)]), QualityConfig())


def test_words_are_split_once_per_document(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = Lexicon.ids

    def counting(self: Lexicon, text: str):  # type: ignore[no-untyped-def]
        calls.append(text)
        return original(self, text)

    monkeypatch.setattr(Lexicon, "ids", counting)
    QualityStage(QualityConfig())(docs([prose(11), prose(12)]))
    assert len(calls) == 2  # four rule sets, one split each document


def test_pii_is_replaced_before_the_rules_and_counted() -> None:
    text = prose(13) + "\n\nWrite to jane.doe@example.org or ping 8.8.8.8 today."
    kept = QualityStage(QualityConfig())(docs([text])).kept.to_pylist()[0]
    assert "jane.doe@example.org" not in kept["text"] and "8.8.8.8" not in kept["text"]
    assert "email@example.com" in kept["text"] and "192.0.2.1" in kept["text"]
    assert (kept["pii_emails"], kept["pii_ips"]) == (1, 1)


def test_pii_is_switched_per_source() -> None:
    config = QualityConfig(per_source={"mail": {"pii": False}})
    text = prose(14) + "\n\nWrite to jane.doe@example.org today."
    kept = QualityStage(config)(docs([text], source="mail")).kept.to_pylist()[0]
    assert "jane.doe@example.org" in kept["text"] and kept["pii_emails"] is None


def test_output_is_deterministic_and_thread_safe() -> None:
    texts = [prose(s) for s in range(15, 23)] + [JUNK, code_doc(1)]
    stage = QualityStage(QualityConfig())
    expected = stage(docs(texts)).kept
    results: list[pa.Table] = []
    threads = [
        threading.Thread(target=lambda: results.append(stage(docs(texts)).kept)) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.equals(expected) for r in results)


def _book_pages(path: Path, chars: int) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        text = handle.read(chars)
    pages, page = [], ""
    for line in text.splitlines(keepends=True):
        page += line
        if len(page) >= 3000:
            pages.append(page)
            page = ""
    return pages


def test_web_suite_decisions_on_real_pages_match_datatrove(shared_data: Path) -> None:
    # Pages of the Debian FAQ and the Jargon File; the expected drops per rule set are
    # datatrove 0.10.1's on the same pages (bench/quality_agreement.py measures all of them).
    pages = _book_pages(shared_data / "books" / "debian-faq.en.txt.gz", 180_000) + _book_pages(
        shared_data / "books" / "jargon-file-4.4.7.txt.gz", 300_000
    )
    config = QualityConfig(keep="all", pii={"enabled": False})
    kept = QualityStage(config)(docs(pages)).kept
    drops = {name: 0 for name in ("gopher_quality", "gopher_repetition", "c4", "fineweb")}
    for row in kept.to_pylist():
        for name in drops:
            rule_set = RULE_SETS[name](getattr(config, name))
            drops[name] += bool(rule_set.failures(row))
    assert len(pages) == DATATROVE_PAGES
    assert drops == DATATROVE_DROPS


# Measured with datatrove 0.10.1 (default settings) on the same 156 pages.
DATATROVE_PAGES = 156
DATATROVE_DROPS = {"gopher_quality": 90, "gopher_repetition": 18, "c4": 84, "fineweb": 45}


def test_thresholds_list_every_active_rule_for_the_card() -> None:
    rules = thresholds(QualityConfig(gopher_quality={"max_doc_words": None}))
    words = [r for r in rules if r["signal"] == "gopher_words"]
    assert words == [
        {
            "rule_set": "gopher_quality",
            "signal": "gopher_words",
            "reason": "gopher_short_doc",
            "comparison": "min",
            "threshold": 50,
        }
    ]
    assert {r["rule_set"] for r in rules} == {
        "gopher_quality",
        "gopher_repetition",
        "c4",
        "fineweb",
        "code",
        "books",
    }


@pytest.mark.parametrize("section", ["langid", "quality"])
def test_per_source_settings_must_name_sources_of_the_run(tmp_path: Path, section: str) -> None:
    corpus = write_corpus(tmp_path)
    overrides = {"langid": {"languages": ["de"]}, "quality": {"pii": False}}
    corpus["config"][section] = {"per_source": {"webb": overrides[section]}}
    with pytest.raises(ConfigError, match=f"{section}.per_source names unknown sources: webb"):
        load_config(write_config(tmp_path, corpus["config"]))
