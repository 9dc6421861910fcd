"""Putting text that came from documents or configs on the card without letting it change the page.

A document's text goes in a code span (Markdown shows it literally: no HTML tag, no emphasis, no
table), on one line. Short values in prose or table cells (source names, licences, titles) have
every character Markdown or HTML treats specially escaped.
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def one_line(text: str, chars: int | None = None) -> str:
    """``text`` with whitespace runs folded to one space and control characters shown as ``?``,
    cut to ``chars`` characters (with an ellipsis) when given."""
    folded = " ".join(text[: chars * 2 if chars else None].split())
    folded = "".join(c if c.isprintable() else "?" for c in folded)
    if chars is not None and len(folded) > chars:
        folded = folded[: chars - 1] + "…"
    return folded


def code_span(text: str, chars: int | None = None) -> str:
    """``text`` as an inline code span on one line: fenced by more backticks than it holds in a
    row, padded where it starts or ends with a backtick. Markdown shows it as typed."""
    body = one_line(text, chars)
    if not body:
        return "` `"
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or longest else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def escape(text: str) -> str:
    """``text`` on one line with Markdown's punctuation backslash-escaped and ``<``, ``>``, ``&``
    as HTML entities, for prose and table cells."""
    body = one_line(str(text)).replace("&", "&amp;").replace("<", "&lt;")
    return _SPECIAL.sub(r"\\\1", body)
