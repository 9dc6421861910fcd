"""Rules for book-length text, chosen for gristmill.

The web rule sets do not fit books: a book is one very long document whose lines are wrapped
(or are verses, table rows, index entries) and whose problems are of another kind -- a scan
whose OCR went wrong, a file decoded with the wrong charset, a "book" that is a table or an
index. No single published rule set covers this, so these rules are chosen to catch exactly
those failures and never to judge style, each measured over the whole text (a book is never
truncated to measure it) and language-independent:

* **minimum length** -- under ``min_chars`` characters (about two pages) the text is an article,
  better judged by the web suite. (The Pile's and Dolma's book subsets are whole books.)
* **non-prose fraction** -- non-blank lines in which letters are under half of the visible
  characters: tables, indexes, page numbers, tables of contents. A book that is mostly such
  lines is not prose (Gopher's "alphabetic words" idea, per line).
* **garbage characters** -- U+FFFD replacement characters, control characters other than
  whitespace and private-use code points: the marks of a wrong decoding or a broken OCR output
  (the signal ftfy and PDF-extraction pipelines look for).
* **single-letter words** -- OCR that loses word boundaries leaves letters separated by spaces
  ("t h e"); natural prose in any language has few one-letter words.
* **mixed words** -- words with letters and digits alternating inside them ("tbe" read as
  "t1e", "l1ke"): OCR confusing 1/l/I and 0/O.

The thresholds are deliberately loose (see the config): the sample books of the test data -- the
King James Bible verse per line, the Jargon File, GNU Info manuals with their control
characters, the Debian FAQ in four languages -- all pass with a wide margin.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pyarrow as pa

from pipeline.quality.config import BooksConfig
from pipeline.quality.rules import DocumentView, Rule, RuleSet, fraction

_GARBAGE = re.compile("[\ufffd\x00-\x08\x0e-\x1b\x7f-\x9f\ue000-\uf8ff]")
_MIXED = re.compile(r"[^\W\d_]+\d+[^\W\d_]+|\d+[^\W\d_]+\d+")


def _letter_share(line: str) -> float:
    visible = [c for c in line if not c.isspace()]
    return sum(c.isalpha() for c in visible) / len(visible)


class Books(RuleSet):
    """Length, non-prose lines, garbage characters, OCR-broken words."""

    name: ClassVar[str] = "books"

    def __init__(self, config: BooksConfig) -> None:
        self.config = config

    def signals(self) -> dict[str, pa.DataType]:
        return {
            "book_chars": pa.int64(),
            "book_non_prose_lines": pa.float64(),
            "book_garbage_chars": pa.float64(),
            "book_single_letter_words": pa.float64(),
            "book_mixed_words": pa.float64(),
        }

    def measure(self, doc: DocumentView) -> dict[str, Any]:
        text = doc.text
        lines = [line for line in doc.splitlines if line.strip()]
        words = text.split()
        single = sum(len(w) == 1 and w.isalpha() for w in words)
        mixed = sum(1 for w in words if _MIXED.search(w))
        return {
            "book_chars": len(text),
            "book_non_prose_lines": fraction(
                sum(_letter_share(x) < 0.5 for x in lines), len(lines)
            ),
            "book_garbage_chars": fraction(len(_GARBAGE.findall(text)), len(text)),
            "book_single_letter_words": fraction(single, len(words)),
            "book_mixed_words": fraction(mixed, len(words)),
        }

    def rules(self) -> list[Rule]:
        c = self.config
        return [
            Rule("book_too_short", "book_chars", "min", c.min_chars),
            Rule("book_non_prose", "book_non_prose_lines", "max", c.max_non_prose_lines),
            Rule("book_garbage_chars", "book_garbage_chars", "max", c.max_garbage_chars),
            Rule("book_broken_words", "book_single_letter_words", "max", c.max_single_letter_words),
            Rule("book_mixed_words", "book_mixed_words", "max", c.max_mixed_words),
        ]
