"""Each quality rule on small hand-made documents at and around its threshold: the signal's
value, and the decision on either side of the threshold."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.quality import gopher_repetition
from pipeline.quality.config import QualityConfig
from pipeline.quality.rules import DocumentView
from pipeline.quality.stage import RULE_SETS
from pipeline.quality.words import lexicon


def measure(
    name: str, text: str, lang: str | None = None, path: str | None = None, **settings: Any
) -> dict[str, Any]:
    config = getattr(QualityConfig(**{name: settings}), name)
    return RULE_SETS[name](config).measure(DocumentView(text, lexicon(), lang=lang, path=path))


def failures(
    name: str, text: str, lang: str | None = None, path: str | None = None, **settings: Any
) -> list[str]:
    config = getattr(QualityConfig(**{name: settings}), name)
    rule_set = RULE_SETS[name](config)
    return rule_set.failures(rule_set.measure(DocumentView(text, lexicon(), lang, path)))


def prose(words: int, word: str = "garden") -> str:
    """``words`` words: two stop words, then ``word`` repeated."""
    return " ".join(["the", "and"] + [word] * (words - 2))


# --- Gopher quality ---------------------------------------------------------------------------


def test_gopher_min_words_counts_words_not_punctuation() -> None:
    assert failures("gopher_quality", prose(50)) == []
    assert failures("gopher_quality", prose(49)) == ["gopher_short_doc"]
    with_symbols = prose(49) + " ... # ,"
    assert measure("gopher_quality", with_symbols)["gopher_words"] == 49
    assert failures("gopher_quality", with_symbols) == ["gopher_short_doc"]


def test_gopher_max_words() -> None:
    assert failures("gopher_quality", prose(60), max_doc_words=60) == []
    assert failures("gopher_quality", prose(61), max_doc_words=60) == ["gopher_long_doc"]


def test_gopher_mean_word_length_bounds() -> None:
    exactly_three = prose(50, "abc")
    assert measure("gopher_quality", exactly_three)["gopher_mean_word_length"] == 3.0
    assert failures("gopher_quality", exactly_three) == []
    assert failures("gopher_quality", exactly_three.replace("abc", "ab", 1)) == [
        "gopher_below_avg_word_length"
    ]
    exactly_ten = " ".join(["the", "and"] + ["abcdefghij"] * 46 + ["q" * 17] * 2)
    assert measure("gopher_quality", exactly_ten)["gopher_mean_word_length"] == 10.0
    assert failures("gopher_quality", exactly_ten) == []
    assert failures("gopher_quality", exactly_ten + "q") == ["gopher_above_avg_word_length"]


@pytest.mark.parametrize(
    ("symbol", "reason"),
    [
        ("#", "gopher_too_many_hashes"),
        ("…", "gopher_too_many_ellipsis"),
        ("...", "gopher_too_many_ellipsis"),
    ],
)
def test_gopher_symbol_to_word_ratio(symbol: str, reason: str) -> None:
    at_limit = f"{symbol} " * 10 + prose(90)  # 10 symbols per 100 words
    signal = "gopher_hash_ratio" if symbol == "#" else "gopher_ellipsis_ratio"
    assert measure("gopher_quality", at_limit)[signal] == 0.1
    assert failures("gopher_quality", at_limit) == []
    assert failures("gopher_quality", f"{symbol} " * 11 + prose(89)) == [reason]


def test_gopher_bullet_lines_ratio() -> None:
    line = "the and garden garden garden garden"
    nine = "\n".join([f"- {line}"] * 8 + [f"  • {line}", line])
    assert measure("gopher_quality", nine)["gopher_bullet_lines_ratio"] == 0.9
    assert failures("gopher_quality", nine) == []
    assert failures("gopher_quality", "\n".join([f"- {line}"] * 10)) == ["gopher_too_many_bullets"]


def test_gopher_ellipsis_lines_ratio() -> None:
    line = "the and garden garden garden garden"
    three = "\n".join([line + " ..."] * 2 + [line + "…"] + [line] * 7)
    assert measure("gopher_quality", three)["gopher_ellipsis_lines_ratio"] == 0.3
    assert failures("gopher_quality", three) == []
    four = "\n".join([line + " ..."] * 4 + [line] * 6)
    assert failures("gopher_quality", four) == ["gopher_too_many_end_ellipsis"]


def test_gopher_alphabetic_words_ratio() -> None:
    eighty = " ".join(["the", "and"] + ["garden"] * 78 + ["123"] * 20)
    assert measure("gopher_quality", eighty)["gopher_alpha_words_ratio"] == 0.8
    assert failures("gopher_quality", eighty) == []
    seventy_nine = " ".join(["the", "and"] + ["garden"] * 77 + ["123"] * 21)
    assert failures("gopher_quality", seventy_nine) == ["gopher_below_alpha_threshold"]


def test_gopher_stop_words_count_distinct_exact_words() -> None:
    assert measure("gopher_quality", prose(50))["gopher_stop_words"] == 2
    one = " ".join(["the"] * 10 + ["garden"] * 40)  # "the" ten times is one stop word
    assert failures("gopher_quality", one) == ["gopher_too_few_stop_words"]
    capitalised = " ".join(["The", "And"] + ["garden"] * 48)  # matched exactly, as datatrove does
    assert failures("gopher_quality", capitalised) == ["gopher_too_few_stop_words"]


# --- Gopher repetition ------------------------------------------------------------------------


def test_duplicate_paragraph_fractions() -> None:
    text = "\n\n".join(["alpha beta", "gamma delta", "alpha beta", "epsilon zeta"])
    signals = measure("gopher_repetition", text)
    assert signals["gopher_dup_para_frac"] == 0.25
    assert signals["gopher_dup_para_char_frac"] == 10 / len(text)
    assert "gopher_dup_para_frac" not in failures("gopher_repetition", text, dup_para_frac=0.25)
    assert "gopher_dup_para_frac" in failures("gopher_repetition", text, dup_para_frac=0.24)
    assert "gopher_dup_para_char_frac" in failures(
        "gopher_repetition", text, dup_para_char_frac=0.2
    )


def test_duplicate_line_fractions() -> None:
    text = "one\ntwo\n\none\none\n"  # lines: one, two, one, one, "" (blank lines merge)
    signals = measure("gopher_repetition", text)
    assert signals["gopher_dup_line_frac"] == 2 / 5
    assert signals["gopher_dup_line_char_frac"] == 6 / len(text)
    assert "gopher_dup_line_frac" in failures("gopher_repetition", text)
    assert "gopher_dup_line_frac" not in failures("gopher_repetition", text, dup_line_frac=0.4)


def test_top_ngram_character_fraction() -> None:
    text = "a b a b a b c"
    assert measure("gopher_repetition", text)["gopher_top_2gram_char_frac"] == 9 / 13
    # all 2-grams once: the first seen is the top one
    assert measure("gopher_repetition", "x y z y x")["gopher_top_2gram_char_frac"] == 3 / 9
    assert "gopher_top_2_gram" not in failures("gopher_repetition", text, top_n_grams={2: 9 / 13})
    assert "gopher_top_2_gram" in failures("gopher_repetition", text, top_n_grams={2: 0.69})


def test_duplicated_ngram_character_fraction() -> None:
    text = "aa bb cc dd ee aa bb cc dd ee"
    assert measure("gopher_repetition", text)["gopher_dup_5gram_char_frac"] == 10 / 29
    assert "gopher_duplicated_5_n_grams" in failures("gopher_repetition", text)
    assert "gopher_duplicated_5_n_grams" not in failures(
        "gopher_repetition", text, dup_n_grams={5: 10 / 29}
    )


def test_duplicated_ngrams_skip_past_each_repeat() -> None:
    # "aabb" at word 2 repeats word 0's: counted, then the scan jumps to word 4 (so "bbaa" at
    # word 3 is never looked at), where "aabb" repeats again.
    text = "aa bb aa bb aa bb"
    signals = measure("gopher_repetition", text, dup_n_grams={2: 0.5})
    assert signals["gopher_dup_2gram_char_frac"] == 8 / len(text)


def test_duplicated_ngrams_compare_joined_characters() -> None:
    # Without separators "ab"+"c" and "a"+"bc" are the same 2-gram, as datatrove counts them.
    text = "ab c x a bc"
    signals = measure("gopher_repetition", text, dup_n_grams={2: 0.5})
    assert signals["gopher_dup_2gram_char_frac"] == 3 / len(text)


# --- C4 ---------------------------------------------------------------------------------------

FIVE = (
    "The first one is here. The second one is here.\n"
    "The third one is here. The fourth one is here.\nThe fifth one is here."
)
FOUR = FIVE.rsplit("\n", 1)[0]


def test_c4_minimum_sentences() -> None:
    assert measure("c4", FIVE)["c4_sentences"] == 5
    assert failures("c4", FIVE) == []
    assert failures("c4", FOUR) == ["c4_too_few_sentences"]


@pytest.mark.parametrize(
    ("line", "counts"),
    [
        ("Yes it is.", True),  # three words
        ("Yes indeed.", False),  # two words: too short
        ("The fifth one is not here", False),  # no terminal punctuation
        ("The fifth one goes on and on...", False),  # an ellipsis is not an end
        ('He said "the fifth one."', True),  # a closing quote is
        ("The fifth one is cited here.[1]", True),  # citation markers are removed first
        ("Please enable JavaScript to see the fifth one.", False),
        ("This site uses cookies for the fifth one.", False),
        ("A " + "x" * 1001 + " word is too long.", False),
    ],
)
def test_c4_line_rules_decide_which_lines_count(line: str, counts: bool) -> None:
    signals = measure("c4", FOUR + "\n" + line)
    assert signals["c4_sentences"] == (5 if counts else 4)
    assert signals["c4_kept_lines"] == (3 if counts else 2)


def test_c4_javascript_and_policy_lines_are_counted_as_signals() -> None:
    text = FIVE + "\nPlease enable JavaScript to see it.\nRead our privacy policy before you go."
    signals = measure("c4", text)
    assert (signals["c4_javascript_lines"], signals["c4_policy_lines"]) == (1, 1)
    assert failures("c4", text) == []


def test_c4_lorem_ipsum_and_curly_brackets_remove_the_page() -> None:
    assert failures("c4", FIVE + "\nLorem ipsum dolor sit amet.") == ["c4_lorem_ipsum"]
    assert failures("c4", FIVE + "\nUse {braces} in this line.") == ["c4_curly_bracket"]
    # only in lines that pass the line rules: code without a full stop does not count
    assert failures("c4", FIVE + "\nint main() {") == []
    assert failures("c4", FIVE + "\nThe {javascript} line is skipped first.") == []
    assert failures("c4", FIVE + "\nLorem ipsum dolor sit amet.", filter_lorem_ipsum=False) == []


# --- FineWeb ----------------------------------------------------------------------------------

LONG_LINE = "this line is long enough not to count as short"


def test_fineweb_line_punctuation_ratio() -> None:
    eight = "\n".join(["It ends here."] + [LONG_LINE] * 7)
    assert measure("fineweb", eight)["fineweb_line_punct_ratio"] == 1 / 8
    assert "fineweb_line_punct_ratio" not in failures("fineweb", eight)
    nine = "\n".join(["It ends here."] + [LONG_LINE] * 8)
    assert "fineweb_line_punct_ratio" in failures("fineweb", nine)
    none = "\n".join([LONG_LINE] * 8)
    assert "fineweb_line_punct_ratio" not in failures("fineweb", none, line_punct_exclude_zero=True)


def test_fineweb_line_punctuation_needs_the_last_character() -> None:
    assert measure("fineweb", "It ends here. \nAnd here。")["fineweb_line_punct_ratio"] == 0.5


def test_fineweb_short_line_ratio() -> None:
    two_of_three = "\n".join(["short line.", "x" * 29 + ".", LONG_LINE + "."])
    assert measure("fineweb", two_of_three)["fineweb_short_line_ratio"] == 2 / 3
    assert "fineweb_short_line_ratio" not in failures("fineweb", two_of_three)
    three_of_four = two_of_three + "\nshort again."
    assert "fineweb_short_line_ratio" in failures("fineweb", three_of_four)


def test_fineweb_duplicated_line_characters() -> None:
    lines = [f"{LONG_LINE} number {i}." for i in range(20)]
    text = "\n".join([*lines, lines[0]])
    ratio = len(lines[0]) / (len(text) - text.count("\n"))
    assert measure("fineweb", text)["fineweb_char_dup_ratio"] == ratio
    assert "fineweb_char_dup_ratio" in failures("fineweb", text)
    assert "fineweb_char_dup_ratio" not in failures("fineweb", text, char_duplicates_ratio=ratio)


def test_fineweb_list_ratio() -> None:
    three_words_per_line = "\n".join(["one two three."] * 10)  # 9 newlines, 40 words
    assert measure("fineweb", three_words_per_line)["fineweb_list_ratio"] == 9 / 40
    assert "fineweb_list_ratio" not in failures("fineweb", three_words_per_line)
    two_words = "\n".join([f"item{i} done" for i in range(10)])  # 9 newlines, 20 words
    assert "fineweb_list_ratio" in failures("fineweb", two_words)


# --- code -------------------------------------------------------------------------------------

CODE = "def add(a, b):\n    return a + b\n"


def test_code_line_lengths() -> None:
    at_limit = CODE + "# " + "word " * 199 + "end\n"  # a 1000-character comment line
    assert measure("code", at_limit)["code_max_line_length"] == 1000
    assert failures("code", at_limit, max_mean_line_length=None) == []
    assert failures("code", at_limit.replace("end", "ends"), max_mean_line_length=None) == [
        "code_max_line_length"
    ]
    wide = "\n".join(["y = " + "word " * 19 + "w"] * 3)  # 100 characters per line
    assert measure("code", wide)["code_mean_line_length"] == 100
    assert failures("code", wide) == []
    assert failures("code", wide + "c") == ["code_mean_line_length"]


def test_code_alphanumeric_fraction() -> None:
    quarter = "ab" + "+-*/" + "cd" + "!!!!"  # 4 of 12 characters
    text = "abcd" + "+" * 12
    assert measure("code", text)["code_alnum_fraction"] == 0.25
    assert failures("code", text) == []
    assert failures("code", text + "+") == ["code_alnum_fraction"]
    assert measure("code", quarter)["code_alnum_fraction"] == 4 / 12


def test_code_autogenerated_marker_in_the_first_lines() -> None:
    banner = "# This file is AUTO-GENERATED by a tool.\n"
    assert failures("code", banner + CODE) == ["code_autogenerated"]
    assert failures("code", "\n" * 5 + banner + CODE) == []  # sixth line: not the head


def test_code_encoded_data() -> None:
    blob = "A" * 1025
    assert measure("code", CODE + f"x = '{blob}'\n")["code_encoded_max_run"] == 1025
    assert failures(
        "code", CODE + f"x = '{blob}'\n", max_line_length=None, max_mean_line_length=None
    ) == ["code_encoded_data"]
    short_blob = CODE * 20 + "key = '" + "Zm9v" * 16 + "'\n"  # 64 characters: a run, but small
    signals = measure("code", short_blob)
    assert signals["code_encoded_max_run"] == 64 and signals["code_encoded_fraction"] < 0.5
    assert failures("code", short_blob) == []
    hex_table = "data = [" + ", ".join(["0x1f"] * 40) + "]\n"
    assert measure("code", hex_table)["code_encoded_fraction"] > 0.5
    assert "code_encoded_data" in failures("code", hex_table)
    escapes = "s = '" + "\\u00e9" * 12 + "'\n"
    assert measure("code", escapes)["code_encoded_fraction"] > 0.5


def test_code_data_files_by_size_and_xml() -> None:
    assert measure("code", CODE, lang="python")["code_data_file_chars"] is None
    small = '{"a": 1, "b": [1, 2], "c": "some text", "d": nul}'
    assert len(small) == 49
    assert failures("code", small, path="cfg.json") == ["code_data_file_too_small"]
    assert failures("code", small + "\n", path="cfg.json") == []
    assert failures("code", "k: v\n" * 1001, lang="yaml") == ["code_data_file_too_large"]
    xml = '<?xml version="1.0"?>\n<root><item>text</item></root>\n'
    assert failures("code", xml, path="a.xml") == ["code_xml"]
    assert failures("code", xml, path="style.xslt") == []


# --- books ------------------------------------------------------------------------------------

BOOK_LINE = "It was the best of times, it was the worst of times, and so on.\n"


def book(chars: int = 6000) -> str:
    return (BOOK_LINE * (chars // len(BOOK_LINE) + 1))[:chars]


def test_book_minimum_length() -> None:
    assert failures("books", book(5000)) == []
    assert failures("books", book(4999)) == ["book_too_short"]


def test_book_non_prose_lines() -> None:
    half = book() + "\n".join(["12 . . . . 34 | 56"] * (book().count("\n")))
    assert measure("books", half)["book_non_prose_lines"] == pytest.approx(0.5, abs=0.01)
    table_heavy = book() + "\n".join(["12 . . . . 34 | 56"] * (2 * book().count("\n")))
    assert failures("books", table_heavy) == ["book_non_prose"]


def test_book_garbage_characters() -> None:
    text = book(9900) + "\ufffd" * 100  # 1% exactly
    assert measure("books", text)["book_garbage_chars"] == 0.01
    assert failures("books", text) == []
    assert failures("books", text + "\x00") == ["book_garbage_chars"]


def test_book_ocr_broken_and_mixed_words() -> None:
    broken = book() + ("t h e q u i c k b r o w n f o x " * 200)
    assert "book_broken_words" in failures("books", broken)
    confused = book() + ("l1ke t0day th1s w0rd " * 100)
    assert measure("books", confused)["book_mixed_words"] > 0.05
    assert "book_mixed_words" in failures("books", confused)


@pytest.mark.parametrize("words", [20, 127, 128, 400])
def test_short_and_long_documents_measure_repetition_alike(
    words: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under 128 words the fractions are computed on strings, from 128 on hashes: same values.
    text = " ".join(f"w{i % 7} x{i % 5}" for i in range(words // 2))
    signals = measure("gopher_repetition", text)
    other_path = 0 if words < gopher_repetition.SHORT_DOCUMENT else 10**9
    monkeypatch.setattr(gopher_repetition, "SHORT_DOCUMENT", other_path)
    assert measure("gopher_repetition", text) == signals


# --- the Gopher rules' word split ---------------------------------------------------------------

SENTENCE = "Sort entries (alphabetically), then print them to the screen: one per line, as said. "


def test_datatrove_words_count_punctuation_marks_as_words_without_letters() -> None:
    signals = measure("gopher_quality", SENTENCE * 5)
    # 14 letter words and 6 punctuation marks per sentence: 14/20 have a letter.
    assert signals["gopher_alpha_words_ratio"] == pytest.approx(14 / 20)
    assert signals["gopher_words"] == 70  # punctuation-only words are not counted
    assert "gopher_below_alpha_threshold" in failures("gopher_quality", SENTENCE * 5)


def test_whitespace_words_keep_punctuation_attached_as_the_gopher_paper_counts() -> None:
    signals = measure("gopher_quality", SENTENCE * 5, words="whitespace")
    assert signals["gopher_alpha_words_ratio"] == 1.0
    assert signals["gopher_words"] == 70
    # "(alphabetically)," is one word of 17 characters
    assert signals["gopher_mean_word_length"] == pytest.approx(len(SENTENCE.replace(" ", "")) / 14)
    assert failures("gopher_quality", SENTENCE * 5, words="whitespace") == []


def test_whitespace_stop_words_match_once_punctuation_is_stripped() -> None:
    text = " ".join(["the,", "(and)"] + ["garden"] * 48)
    assert measure("gopher_quality", text)["gopher_stop_words"] == 2  # spaCy splits them off
    assert measure("gopher_quality", text, words="whitespace")["gopher_stop_words"] == 2
    assert (
        measure("gopher_quality", "The And " + "garden " * 48, words="whitespace")[
            "gopher_stop_words"
        ]
        == 0
    )  # still matched with their case, as the list spells them


def test_whitespace_words_make_the_repetition_ngrams() -> None:
    text = "a, b. " * 40
    datatrove = measure("gopher_repetition", text)["gopher_top_2gram_char_frac"]
    whitespace = measure("gopher_repetition", text, words="whitespace")
    # datatrove's words: "a" "," "b" "." -> the top 2-gram "a ," (3 characters) 40 times;
    # whitespace words: "a," "b." -> the top 2-gram "a, b." (5 characters) 40 times.
    assert datatrove == pytest.approx(3 * 40 / len(text))
    assert whitespace["gopher_top_2gram_char_frac"] == pytest.approx(5 * 40 / len(text))


def test_the_word_split_is_a_setting_of_both_gopher_rule_sets() -> None:
    config = QualityConfig.model_validate(
        {"gopher_quality": {"words": "whitespace"}, "gopher_repetition": {"words": "whitespace"}}
    )
    assert config.gopher_quality.words == config.gopher_repetition.words == "whitespace"
    assert QualityConfig().gopher_quality.words == "datatrove"  # the web default is unchanged
    with pytest.raises(ValueError, match="words"):
        QualityConfig.model_validate({"gopher_quality": {"words": "spaces"}})


def test_a_source_can_name_its_own_word_split() -> None:
    import pyarrow as pa

    from pipeline.quality.stage import QualityStage
    from tests.corpus_fixtures import docs

    config = QualityConfig.model_validate(
        {"suites": {"web": ["gopher_quality"]}, "per_source": {"manual": {"words": "whitespace"}}}
    )
    stage = QualityStage(config)
    text = SENTENCE * 5
    manual = stage.measure(text, "web", "manual")
    crawl = stage.measure(text, "web", "crawl")
    assert manual["gopher_alpha_words_ratio"] == 1.0
    assert crawl["gopher_alpha_words_ratio"] == pytest.approx(14 / 20)  # the rule sets' own
    both = pa.concat_tables([docs([text], source="manual"), docs([text], source="crawl")])
    assert stage(both).kept.column("source").to_pylist() == ["manual"]
