"""Gopher's repetition rules (Rae et al. 2021, "Scaling Language Models: Methods, Analysis &
Insights from Training Gopher", appendix A.1.1 and table A1).

Measured as datatrove's GopherRepetitionFilter measures them: paragraphs split at two or more
newlines of the stripped text, lines at runs of newlines; a duplicate is every repeat after the
first; n-grams are of spaCy-English words (:mod:`pipeline.quality.words`; with ``words:
whitespace``, of whitespace-separated words as in the Gopher paper), joined with spaces for
the "top n-gram" fraction and without separator for the "duplicated n-grams" fraction, whose
greedy scan skips the n words of each repeat it counts. Every fraction of characters is of the
whole text's length.

The n-grams of a long document are compared by a polynomial content hash (mod 2**64) that
combines word hashes exactly as their strings concatenate, computed with numpy over the whole
document at once; only positions whose n-gram occurs more than once are walked in Python. A
short document (under ``SHORT_DOCUMENT`` words, where numpy's per-call cost dominates) is
measured on the joined strings themselves.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from pipeline.quality.config import GopherRepetitionConfig
from pipeline.quality.rules import DocumentView, Rule, RuleSet, fraction
from pipeline.quality.words import HASH_BASE, SPACE_CODE

#: Below this many words the n-gram fractions are computed on strings, not hashes.
SHORT_DOCUMENT = 128
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_LINE_BREAKS = re.compile(r"\n+")
_BASE = np.uint64(HASH_BASE)
_SPACE = np.uint64(SPACE_CODE)


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(repeats, characters in repeats): every occurrence after an item's first."""
    seen: set[str] = set()
    repeats = chars = 0
    for item in items:
        if item in seen:
            repeats += 1
            chars += len(item)
        else:
            seen.add(item)
    return repeats, chars


def top_ngram_chars(hashes: np.ndarray, n: int, offsets: np.ndarray) -> int:
    """Characters of the most frequent n-gram (space-joined) times its count; ties go to the
    n-gram seen first. ``hashes[i]`` identifies the n-gram starting at word ``i``."""
    if len(hashes) == 0:
        return 0
    _, first, counts = np.unique(hashes, return_index=True, return_counts=True)
    top = counts.max()
    start = int(first[counts == top].min())
    length = int(offsets[start + n] - offsets[start]) + n - 1
    return length * int(top)


def duplicated_ngram_chars(hashes: np.ndarray, n: int, offsets: np.ndarray) -> int:
    """Characters in repeated n-grams (unseparated), scanning left to right: a repeat adds its
    characters and the scan jumps past its n words; anything else is remembered and the scan
    moves one word on."""
    if len(hashes) == 0:
        return 0
    _, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
    repeated = np.flatnonzero(counts[inverse] > 1)
    if len(repeated) == 0:
        return 0
    keys = inverse[repeated].tolist()
    seen: set[int] = set()
    total = 0
    resume = 0
    for position, key in zip(repeated.tolist(), keys, strict=True):
        if position < resume:
            continue
        if key in seen:
            total += int(offsets[position + n] - offsets[position])
            resume = position + n
        else:
            seen.add(key)
    return total


def _top_ngram_chars_of_strings(words: list[str], n: int) -> int:
    grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0
    counts = Counter(grams)
    top = max(counts.values())
    first = next(g for g in grams if counts[g] == top)  # ties: the first seen
    return len(first) * top


def _duplicated_ngram_chars_of_strings(words: list[str], n: int) -> int:
    seen: set[str] = set()
    total = 0
    index = 0
    while index < len(words) - n + 1:
        gram = "".join(words[index : index + n])
        if gram in seen:
            total += len(gram)
            index += n
        else:
            seen.add(gram)
            index += 1
    return total


class GopherRepetition(RuleSet):
    """Duplicate lines and paragraphs, most frequent n-grams, duplicated n-grams."""

    name: ClassVar[str] = "gopher_repetition"

    def __init__(self, config: GopherRepetitionConfig) -> None:
        self.config = config

    def signals(self) -> dict[str, pa.DataType]:
        out = {
            "gopher_dup_para_frac": pa.float64(),
            "gopher_dup_para_char_frac": pa.float64(),
            "gopher_dup_line_frac": pa.float64(),
            "gopher_dup_line_char_frac": pa.float64(),
        }
        out |= {f"gopher_top_{n}gram_char_frac": pa.float64() for n in self.config.top_n_grams}
        out |= {f"gopher_dup_{n}gram_char_frac": pa.float64() for n in self.config.dup_n_grams}
        return out

    def measure(self, doc: DocumentView) -> dict[str, Any]:
        text = doc.text
        size = len(text)
        paragraphs = _PARAGRAPH_BREAK.split(text.strip())
        para_repeats, para_chars = find_duplicates(paragraphs)
        lines = _LINE_BREAKS.split(text)
        line_repeats, line_chars = find_duplicates(lines)
        out: dict[str, Any] = {
            "gopher_dup_para_frac": fraction(para_repeats, len(paragraphs)),
            "gopher_dup_para_char_frac": fraction(para_chars, size),
            "gopher_dup_line_frac": fraction(line_repeats, len(lines)),
            "gopher_dup_line_char_frac": fraction(line_chars, size),
        }
        split = doc.words(self.config.words)
        if split.count < SHORT_DOCUMENT:
            words = doc.lexicon.words
            strings = [words[i] for i in split.ids.tolist()]
            for n in self.config.top_n_grams:
                out[f"gopher_top_{n}gram_char_frac"] = fraction(
                    _top_ngram_chars_of_strings(strings, n), size
                )
            for n in self.config.dup_n_grams:
                out[f"gopher_dup_{n}gram_char_frac"] = fraction(
                    _duplicated_ngram_chars_of_strings(strings, n), size
                )
            return out
        attrs = split.attrs
        word_hash, power = attrs["hash"], attrs["power"]
        offsets = np.concatenate([[0], np.cumsum(attrs["length"])])
        top = self.config.top_n_grams
        dup = self.config.dup_n_grams
        spaced = joined = word_hash  # hashes of the 1-grams
        for n in range(2, max([*top, *dup, 1]) + 1):
            if len(word_hash) < n:
                spaced = joined = word_hash[:0]
            else:
                tail_hash, tail_power = word_hash[n - 1 :], power[n - 1 :]
                if n <= max(top, default=0):
                    spaced = (spaced[:-1] * _BASE + _SPACE) * tail_power + tail_hash
                if n <= max(dup, default=0):
                    joined = joined[:-1] * tail_power + tail_hash
            if n in top:
                out[f"gopher_top_{n}gram_char_frac"] = fraction(
                    top_ngram_chars(spaced, n, offsets), size
                )
            if n in dup:
                out[f"gopher_dup_{n}gram_char_frac"] = fraction(
                    duplicated_ngram_chars(joined, n, offsets), size
                )
        if 1 in top:
            out["gopher_top_1gram_char_frac"] = fraction(
                top_ngram_chars(word_hash, 1, offsets), size
            )
        if 1 in dup:
            out["gopher_dup_1gram_char_frac"] = fraction(
                duplicated_ngram_chars(word_hash, 1, offsets), size
            )
        return out

    def rules(self) -> list[Rule]:
        c = self.config
        rules = [
            Rule(f"gopher_{name}", f"gopher_{name}", "max", getattr(c, name))
            for name in (
                "dup_para_frac",
                "dup_para_char_frac",
                "dup_line_frac",
                "dup_line_char_frac",
            )
        ]
        rules += [
            Rule(f"gopher_top_{n}_gram", f"gopher_top_{n}gram_char_frac", "max", threshold)
            for n, threshold in c.top_n_grams.items()
        ]
        rules += [
            Rule(
                f"gopher_duplicated_{n}_n_grams", f"gopher_dup_{n}gram_char_frac", "max", threshold
            )
            for n, threshold in c.dup_n_grams.items()
        ]
        return rules
