"""Text normalisation and shingling shared by exact and near-duplicate detection."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str, case_fold: bool = False) -> str:
    """NFC, whitespace runs folded to one space, trimmed; optionally casefolded."""
    text = " ".join(unicodedata.normalize("NFC", text).split())
    return text.casefold() if case_fold else text


def word_shingles(text: str, n: int) -> set[bytes]:
    """The set of lower-cased word n-grams (UTF-8 bytes) of ``text``.

    A text with fewer than ``n`` words gives one shingle of all its words, so short documents
    still get a signature.
    """
    words = _WORD.findall(unicodedata.normalize("NFC", text).lower())
    if len(words) < n:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}
