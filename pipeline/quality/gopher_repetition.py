"""Gopher's repetition rules (Rae et al. 2021, "Scaling Language Models: Methods, Analysis &
Insights from Training Gopher", appendix A.1.1 and table A1).

Measured as datatrove's GopherRepetitionFilter measures them: paragraphs split at two or more
newlines of the stripped text, lines at runs of newlines; a duplicate is every repeat after the
first; n-grams are of spaCy-English words (:mod:`pipeline.quality.words`; with ``words:
whitespace``, of whitespace-separated words as in the Gopher paper), joined with spaces for
the "top n-gram" fraction and without separator for the "duplicated n-grams" fraction, whose
greedy scan skips the n words of each repeat it counts. Every fraction of characters is of the
whole text's length.

The words come from the document's one shared split (:class:`DocumentView`), as ids whose
content hashes the lexicon keeps. The n-grams of a long document are compared by a polynomial
content hash (mod 2**64) that combines word hashes exactly as their strings concatenate; one
compiled pass (:func:`ngram_chars`) computes every n-gram size's hashes, counts them in an
open-addressing hash table (no sort) and runs the greedy duplicate scan, releasing the GIL. The
same fractions computed on the joined strings themselves (what ``SHORT_DOCUMENT`` selects) are
the reference the hash pass is tested against.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, ClassVar

import numba
import numpy as np
import pyarrow as pa

from pipeline.quality.config import GopherRepetitionConfig
from pipeline.quality.rules import DocumentView, Rule, RuleSet, fraction
from pipeline.quality.words import HASH_BASE, SPACE_CODE

#: Below this many words the n-gram fractions are computed on strings, not hashes. 0: the
#: compiled hash pass measured the sample documents fastest with no string path at all (128, 32
#: and 0 words: 11.2, 8.4 and 6.3 s, bench/RESULTS.md); the string path stays as the reference
#: the tests compare the hash pass with.
SHORT_DOCUMENT = 0
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_BASE = np.uint64(HASH_BASE)
_SPACE = np.uint64(SPACE_CODE)


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(repeats, characters in repeats): every occurrence after an item's first."""
    counts = Counter(items)
    if len(counts) == len(items):
        return 0, 0
    chars = sum(len(item) * (count - 1) for item, count in counts.items() if count > 1)
    return len(items) - len(counts), chars


def split_lines(text: str) -> list[str]:
    """``text`` split at runs of newlines (as ``re.split(r"\\n+", text)``: an empty first or
    last item where it starts or ends with one)."""
    parts = text.split("\n")
    if len(parts) <= 2 or "" not in parts:
        return parts
    return [parts[0], *filter(None, parts[1:-1]), parts[-1]]


_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads a key's high bits to a slot


@numba.njit(cache=True, nogil=True)
def _count_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(slot of each position, count of each slot): equal keys share a slot of an
    open-addressing hash table (linear probing, at most half full)."""
    size = len(keys)
    bits = 3
    while (1 << bits) < 2 * size:
        bits += 1
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    table = np.zeros(1 << bits, dtype=np.uint64)
    used = np.zeros(1 << bits, dtype=np.bool_)
    counts = np.zeros(1 << bits, dtype=np.int64)
    slots = np.empty(size, dtype=np.int64)
    for i in range(size):
        key = keys[i]
        slot = np.int64((key * _MIX) >> shift)
        while used[slot] and table[slot] != key:
            slot = (slot + 1) & mask
        if not used[slot]:
            used[slot] = True
            table[slot] = key
        counts[slot] += 1
        slots[i] = slot
    return slots, counts


@numba.njit(cache=True, nogil=True)
def _top_chars(keys: np.ndarray, n: int, offsets: np.ndarray) -> int:
    if len(keys) == 0:
        return 0
    slots, counts = _count_keys(keys)
    top = counts.max()
    for i in range(len(keys)):  # ties: the n-gram seen first
        if counts[slots[i]] == top:
            return (offsets[i + n] - offsets[i] + n - 1) * top
    return 0


@numba.njit(cache=True, nogil=True)
def _duplicated_chars(keys: np.ndarray, n: int, offsets: np.ndarray) -> int:
    if len(keys) == 0:
        return 0
    slots, counts = _count_keys(keys)
    seen = np.zeros(len(counts), dtype=np.bool_)
    total = 0
    resume = 0
    for i in range(len(keys)):
        if i < resume or counts[slots[i]] < 2:  # an n-gram seen once is never a repeat
            continue
        if seen[slots[i]]:
            total += offsets[i + n] - offsets[i]
            resume = i + n
        else:
            seen[slots[i]] = True
    return total


def top_ngram_chars(hashes: np.ndarray, n: int, offsets: np.ndarray) -> int:
    """Characters of the most frequent n-gram (space-joined) times its count; ties go to the
    n-gram seen first. ``hashes[i]`` identifies the n-gram starting at word ``i``."""
    return int(_top_chars(np.ascontiguousarray(hashes, np.uint64), n, offsets.astype(np.int64)))


def duplicated_ngram_chars(hashes: np.ndarray, n: int, offsets: np.ndarray) -> int:
    """Characters in repeated n-grams (unseparated), scanning left to right: a repeat adds its
    characters and the scan jumps past its n words; anything else is remembered and the scan
    moves one word on."""
    return int(
        _duplicated_chars(np.ascontiguousarray(hashes, np.uint64), n, offsets.astype(np.int64))
    )


@numba.njit(cache=True, nogil=True)
def _ngram_chars(
    word_hash: np.ndarray,
    power: np.ndarray,
    offsets: np.ndarray,
    top_ns: np.ndarray,
    dup_ns: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    size = len(word_hash)
    top_out = np.zeros(len(top_ns), dtype=np.int64)
    dup_out = np.zeros(len(dup_ns), dtype=np.int64)
    spaced = word_hash.copy()  # spaced[i]: the space-joined n-gram at word i, for the n so far
    joined = word_hash.copy()  # joined[i]: the same words concatenated
    largest = max(top_ns.max() if len(top_ns) else 1, dup_ns.max() if len(dup_ns) else 1)
    for n in range(1, largest + 1):
        count = size - n + 1
        if count <= 0:
            break
        if n > 1:
            for i in range(count):
                tail_hash = word_hash[i + n - 1]
                tail_power = power[i + n - 1]
                spaced[i] = (spaced[i] * _BASE + _SPACE) * tail_power + tail_hash
                joined[i] = joined[i] * tail_power + tail_hash
        for k in range(len(top_ns)):
            if top_ns[k] == n:
                top_out[k] = _top_chars(spaced[:count], n, offsets)
        for k in range(len(dup_ns)):
            if dup_ns[k] == n:
                dup_out[k] = _duplicated_chars(joined[:count], n, offsets)
    return top_out, dup_out


def ngram_chars(
    word_hash: np.ndarray, power: np.ndarray, lengths: np.ndarray, top: list[int], dup: list[int]
) -> tuple[list[int], list[int]]:
    """Every n-gram fraction's numerator in one compiled pass over a document's words (content
    hash, ``HASH_BASE ** length`` and length of each): the top n-gram characters for each size
    in ``top``, the duplicated n-gram characters for each size in ``dup``."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    top_out, dup_out = _ngram_chars(
        np.ascontiguousarray(word_hash, np.uint64),
        np.ascontiguousarray(power, np.uint64),
        offsets,
        np.asarray(top, dtype=np.int64),
        np.asarray(dup, dtype=np.int64),
    )
    return top_out.tolist(), dup_out.tolist()


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
        #: True: when a paragraph or line rule fails, the n-gram signals are left null.
        self.stop_at_first_failure = False

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
        lines = split_lines(text)
        line_repeats, line_chars = find_duplicates(lines)
        out: dict[str, Any] = {
            "gopher_dup_para_frac": fraction(para_repeats, len(paragraphs)),
            "gopher_dup_para_char_frac": fraction(para_chars, size),
            "gopher_dup_line_frac": fraction(line_repeats, len(lines)),
            "gopher_dup_line_char_frac": fraction(line_chars, size),
        }
        if self.stop_at_first_failure and self.failures(out):
            return out
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
        top, dup = list(self.config.top_n_grams), list(self.config.dup_n_grams)
        top_chars, dup_chars = ngram_chars(attrs["hash"], attrs["power"], attrs["length"], top, dup)
        for n, chars in zip(top, top_chars, strict=True):
            out[f"gopher_top_{n}gram_char_frac"] = fraction(chars, size)
        for n, chars in zip(dup, dup_chars, strict=True):
            out[f"gopher_dup_{n}gram_char_frac"] = fraction(chars, size)
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
