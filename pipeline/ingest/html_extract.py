"""Main-text extraction from HTML: one function, :func:`extract_text`, over a choice of engines.

``resiliparse`` (the default; a C++ DOM parser with main-content heuristics), ``trafilatura``
(lxml with boilerplate, navigation and comment removal tuned on news and blog pages) and
``builtin`` (the standard library's parser in :mod:`pipeline.ingest.html_text`: tag-based, no
boilerplate detection, no extra package). Engines are imported on first use, per process, so a
reader pickles cleanly to worker processes. The choice of default, and the measurements behind
it, are in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from pipeline.ingest.html_text import html_to_text

Extractor = Callable[[str, str | None], str]

_BLANK_RUNS = re.compile(r"\n{3,}")


def _resiliparse(html: str, url: str | None) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    # No alt texts or form fields (not prose); list bullets kept so lists read as lists.
    return extract_plain_text(
        tree,
        main_content=True,
        alt_texts=False,
        form_fields=False,
        list_bullets=True,
        links=False,
        noscript=False,
    )


def _trafilatura(html: str, url: str | None) -> str:
    import trafilatura

    # Tables are content in reference pages; comments are not the page's own text.
    text = trafilatura.extract(
        html,
        url=url,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        deduplicate=False,
        with_metadata=False,
        output_format="txt",
    )
    return text or ""


def _builtin(html: str, url: str | None) -> str:
    return html_to_text(html)


ENGINES: dict[str, Extractor] = {
    "resiliparse": _resiliparse,
    "trafilatura": _trafilatura,
    "builtin": _builtin,
}


@cache
def _checked(name: str) -> Extractor:
    if name not in ENGINES:
        raise ValueError(f"unknown HTML extractor {name!r}; expected one of {', '.join(ENGINES)}")
    return ENGINES[name]


def extract_text(html: str, extractor: str = "resiliparse", url: str | None = None) -> str:
    """The main text of an HTML page (empty if it has none), blank-line runs folded."""
    text = _checked(extractor)(html, url)
    return _BLANK_RUNS.sub("\n\n", text).strip()
