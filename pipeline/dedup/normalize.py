"""Text normalisation and shingling shared by exact and near-duplicate detection.

Exact dedup compares :func:`normalize`\\ d text. MinHash works on shingles: the signature kernel
(:mod:`pipeline.dedup.minhash`) reads the UTF-8 bytes of :func:`shingle_text` and cuts the
shingles out of it itself, so no Python object is made per shingle. :func:`word_shingles` and
:func:`char_shingles` build the same shingles as Python sets; they define what the kernel must
compute and are what the tests and benchmarks hand to ``datasketch``.
"""

from __future__ import annotations

import re
import unicodedata

from pipeline.dedup.config import ShingleKind

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str, case_fold: bool = False) -> str:
    """NFC, whitespace runs folded to one space, trimmed; optionally casefolded."""
    text = " ".join(unicodedata.normalize("NFC", text).split())
    return text.casefold() if case_fold else text


def shingle_text(text: str, kind: ShingleKind) -> str:
    """The text whose units (words or characters) the shingles are n-grams of.

    ``word``: the ``\\w+`` words of the NFC, lower-cased text joined by single spaces, so a word
    n-gram is one contiguous slice of it. ``char``: the NFC text, whitespace runs folded to one
    space, lower-cased.
    """
    if kind == "word":
        return " ".join(_WORD.findall(unicodedata.normalize("NFC", text).lower()))
    return normalize(text).lower()


def word_shingles(text: str, n: int) -> set[bytes]:
    """The set of lower-cased word n-grams (UTF-8 bytes) of ``text``.

    A text with fewer than ``n`` words gives one shingle of all its words, so short documents
    still get a signature; a text without words gives none.
    """
    words = _WORD.findall(unicodedata.normalize("NFC", text).lower())
    if len(words) < n:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}


def char_shingles(text: str, n: int) -> set[bytes]:
    """The set of character n-grams (UTF-8 bytes) of the normalised, lower-cased text.

    A text shorter than ``n`` characters gives one shingle of all of it; an empty text none.
    """
    chars = shingle_text(text, "char")
    if len(chars) < n:
        return {chars.encode()} if chars else set()
    return {chars[i : i + n].encode() for i in range(len(chars) - n + 1)}
