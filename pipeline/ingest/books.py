"""Book clean-up: Project Gutenberg boilerplate removal and paragraph/whitespace normalisation.

Applied by the ``text`` and ``epub`` readers to sources of kind ``book`` (see
:class:`~pipeline.ingest.config.BookOptions`). Nothing here shortens the book itself: the
Gutenberg header ends at its ``*** START OF ...`` line and the footer begins at its
``*** END OF ...`` line; when a text names Project Gutenberg but has neither marker, it is kept
whole and its ``meta`` says the markers were not found, so a user can look.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

#: Lines that end the Gutenberg header (modern and older editions).
_START = re.compile(
    r"^[ \t]*(?:\*{3}[ \t]*START OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)[^\n]*"
    r"|\*END\*THE SMALL PRINT![^\n]*"
    r"|\*{3}[ \t]*START OF THE PROJECT GUTENBERG[^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)
#: Lines that begin the Gutenberg footer (the licence follows them).
_END = re.compile(
    r"^[ \t]*(?:\*{3}[ \t]*END OF (?:THE|THIS) PROJECT GUTENBERG[^\n]*"
    r"|End of (?:the )?Project Gutenberg'?s?[ \t][^\n]*"
    r"|\*\*\*[ \t]*END OF THE PROJECT GUTENBERG[^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)
#: A transcriber's credit right after the header ("Produced by ..."): part of the boilerplate.
_CREDIT = re.compile(
    r"\A\s*(?:Produced by|E-?text prepared by|This e-?text was prepared by|Transcribed from)"
    r"[^\n]*(?:\n[^\S\n]*\S[^\n]*)*\n\s*\n",
    re.IGNORECASE,
)
#: Where the header's mention of Project Gutenberg must be for a text to count as one.
MENTION_CHARS = 5000


def strip_gutenberg(text: str) -> tuple[str, dict[str, Any] | None]:
    """The book (line endings made ``\\n``) without its Gutenberg header and footer, and what
    was removed (None if the text is not a Gutenberg book)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "project gutenberg" not in text[:MENTION_CHARS].lower():
        return text, None
    start = _START.search(text)
    if start is None:
        return text, {"markers": "not found"}
    body_start = start.end()
    end = _END.search(text, body_start)
    body_end = end.start() if end else len(text)
    body = text[body_start:body_end]
    credit = _CREDIT.match(body)
    if credit:
        body = body[credit.end() :]
    return body, {
        "header_chars": body_start + (credit.end() if credit else 0),
        "footer_chars": len(text) - body_end,
        "end_marker": end is not None,
    }


_BLANK_RUNS = re.compile(r"\n{3,}")


def normalize_whitespace(text: str) -> str:
    """Line endings to ``\\n``, NFC, trailing spaces/tabs removed, blank-line runs folded to one
    blank line, no leading or trailing blank lines. Indentation and control characters stay."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = "\n".join(line.rstrip(" \t\u00a0") for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


#: Hard-wrapped prose: wrap widths between these, and every line but the last near the width.
WRAP_MIN, WRAP_MAX, WRAP_FILL = 40, 100, 0.6


def _is_wrapped_prose(lines: list[str]) -> bool:
    if len(lines) < 2 or any(not line or line[0].isspace() for line in lines):
        return False
    width = max(len(line) for line in lines)
    return WRAP_MIN <= width <= WRAP_MAX and all(
        len(line) >= WRAP_FILL * width for line in lines[:-1]
    )


def unwrap_lines(text: str) -> str:
    """Join the lines of hard-wrapped prose paragraphs; leave verse, lists and code alone."""
    paragraphs = text.split("\n\n")
    out = []
    for paragraph in paragraphs:
        lines = paragraph.split("\n")
        out.append(" ".join(lines) if _is_wrapped_prose(lines) else paragraph)
    return "\n\n".join(out)
