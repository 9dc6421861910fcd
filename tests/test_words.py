"""The English word splitter: spaCy's splits (which datatrove's quality filters count), pinned
on hand-picked chunks, and the sentence counts of spaCy's rule-based sentencizer."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pipeline.quality.words import (
    CharClasses,
    EnglishSplitter,
    Lexicon,
    content_hash,
    count_sentences,
    lexicon,
    split_into_words,
    word_attributes_batch,
    word_attributes_one_by_one,
)

# Each expected split is what spaCy 3.8's blank English tokenizer returns for the chunk.
SPACY_SPLITS = [
    ("don't", ["do", "n't"]),
    ("Don’t", ["Do", "n’t"]),  # typographic apostrophe: the same contraction
    ("cannot", ["can", "not"]),
    ("gonna", ["gon", "na"]),
    ("dont", ["do", "nt"]),  # contractions without their apostrophe split too...
    ("Im", ["I", "m"]),
    ("its", ["its"]),  # ...except those that are ordinary words
    ("ill", ["ill"]),
    ("I'm", ["I", "'m"]),
    ("it's", ["it", "'s"]),
    ("Python's", ["Python", "'s"]),
    ("Mr.", ["Mr."]),  # abbreviations keep their full stop
    ("U.S.", ["U.S."]),
    ("e.g.,", ["e.g.", ","]),
    ("(C++)", ["(", "C++", ")"]),
    ("f(x):", ["f(x", "):"]),  # the second pass glues ")" ":" back into an emoticon
    (":)", [":)"]),
    ("o.O", ["o.O"]),
    ("10km", ["10", "km"]),  # a unit after a number
    ("12pm", ["12", "pm"]),
    ("°C.", ["°", "C", "."]),
    ("$5.00", ["$", "5.00"]),
    ("US$10", ["US$", "10"]),
    ("3.14", ["3.14"]),
    ("1-2", ["1", "-", "2"]),
    ("x=y", ["x", "=", "y"]),
    ("ideas,thoughts", ["ideas", ",", "thoughts"]),
    ("first.Second", ["first", ".", "Second"]),
    ("well-known", ["well", "-", "known"]),
    ("harmless—don’t", ["harmless", "—", "don’t"]),  # pieces between infixes stay whole
    ("C<isn't()>", ["C", "<", "isn't", "(", ")", ">"]),
    (
        "https://docs.python.org/3/library/os.html).",
        ["https://docs.python.org/3/library/os.html", ")", "."],
    ),  # URLs stay whole
    ("os.path.join()", ["os.path.join", "(", ")"]),
    ('end."', ["end", ".", '"']),
    ("etc...", ["etc", "..."]),
    ('"Hello,', ['"', "Hello", ","]),
    ("and/or", ["and/or"]),
    ("naïve", ["naïve"]),
    ("...", ["..."]),
    ("C.", ["C."]),  # an initial keeps its full stop...
    ("ABC.", ["ABC", "."]),  # ...two capitals or a lower-case letter before it do not
    ("Ab.", ["Ab", "."]),
    ("1.", ["1", "."]),
    ("(cannot,", ["(", "can", "not", ","]),
    ("'tis", ["'", "tis"]),
    ("(word)", ["(", "word", ")"]),
]


@pytest.mark.parametrize(("chunk", "words"), SPACY_SPLITS)
def test_chunk_splits_as_spacy_english_does(chunk: str, words: list[str]) -> None:
    assert EnglishSplitter().split(chunk) == words


def test_text_splits_at_whitespace_and_drops_it() -> None:
    assert split_into_words("  The cat's\tbowl,\n\nempty.  ") == [
        "The",
        "cat",
        "'s",
        "bowl",
        ",",
        "empty",
        ".",
    ]


@pytest.mark.parametrize(
    ("line", "sentences"),
    [
        ("Hello world. This is it.", 2),
        ("Mr. Smith went to Washington. He saw it!", 2),  # "Mr." ends no sentence
        ("Wait... what? Yes.", 2),  # an ellipsis ends no sentence
        ("One (two). Three.", 2),
        ('"Quoted." Next one.', 2),  # punctuation after the full stop stays in the sentence
        ("No terminal here", 1),
        ("A.  B.", 1),  # "A." is one word, so no full stop stands alone
        ('He left. "', 1),  # the quote is punctuation: still the first sentence
        ('He left.  "', 2),  # but a second space is a (non-punctuation) word of its own
        ('He left.\t"', 2),  # as is any other whitespace between words
        ("", 0),
    ],
)
def test_sentences_counted_as_spacy_sentencizer_does(line: str, sentences: int) -> None:
    assert count_sentences(lexicon(), line) == sentences


def test_results_do_not_depend_on_cache_state() -> None:
    text = "Don't split U.S. words (twice), e.g. f(x): 10km... " * 3
    fresh = Lexicon(max_chunks=2)
    first = fresh.split_words(text)
    fresh.maybe_reset()  # over its bound: starts afresh
    assert fresh.split_words(text) == first == split_into_words(text)


def test_each_thread_has_its_own_lexicon() -> None:
    seen: list[Lexicon] = []
    thread = threading.Thread(target=lambda: seen.append(lexicon()))
    thread.start()
    thread.join()
    assert seen[0] is not lexicon()


# Letters of several scripts, digits, symbols, punctuation, sentence-final marks (one alone, one
# inside a word), an emoji outside the Basic Multilingual Plane, a lone surrogate, an empty word
# and one longer than any precomputed power.
MIXED_WORDS = [
    *("naïve", "Straße", "日本語", "12,5", "$", "%%", "...", ".", "!", "。", "?", "?!", "«", "»"),
    *("‘", "’", "'S", "n't", "e.g.", "C++", ":)", "¬_¬", "😀", "a😀", "—", "\x07", "٫"),
    "\udcff",
    "",
    "x" * 300 + "ü",
]


def test_batch_word_attributes_equal_the_per_word_definitions() -> None:
    words = MIXED_WORDS * 3  # repeats too
    chars = CharClasses()
    word_attributes_batch(words[:5], chars)  # the table knows some characters, not all
    batch = word_attributes_batch(words, chars)
    reference = word_attributes_one_by_one(words)
    assert batch.keys() == reference.keys()
    for name, values in reference.items():
        assert batch[name].dtype == values.dtype, name
        assert batch[name].tolist() == values.tolist(), name
    assert reference["hash"].tolist() == [content_hash(w) for w in words]
    # "...", ".", "!", "。": only a mark alone is a sentence-final word
    assert reference["terminal"].tolist()[6:10] == [False, True, True, True]


def test_lexicon_attributes_cover_every_word_id_whenever_read() -> None:
    text = " ".join(MIXED_WORDS) + " (" + " ".join(f"w{i}," for i in range(100)) + ")."
    lexicon_ = Lexicon()
    assert count_sentences(lexicon_, "First (words). Then more words!") == 2  # flags first
    ids = lexicon_.ids(text)
    arrays = lexicon_.arrays()
    words = lexicon_.words
    assert ids.max() < len(words) == len(arrays["length"])
    reference = word_attributes_one_by_one(words)
    for name, column in arrays.items():
        assert np.array_equal(column, reference[name]), name
    lexicon_.ids("one new word")
    assert len(lexicon_.arrays()["hash"]) == len(lexicon_.words)


def test_a_run_of_full_stops_comes_off_whole_however_long() -> None:
    # the suffix search looks at the end of a chunk only; a run of dots may begin before it
    splitter = EnglishSplitter()
    for dots in range(2, 12):
        assert splitter.split("wait" + "." * dots) == ["wait", "." * dots]
        assert splitter.split("(wait" + "." * dots + ")") == ["(", "wait", "." * dots, ")"]
