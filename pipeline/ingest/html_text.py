"""HTML to plain text with the standard library's :mod:`html.parser`: a simple first extractor.

Drops what is not the page's prose -- ``script``, ``style``, ``head``, ``nav``, ``header``,
``footer`` and the like, and elements marked ``role="navigation"`` (etc.) or ``hidden`` --
turns block elements into line breaks (paragraph-like ones into blank lines), folds runs of
whitespace to one space, and keeps ``<pre>`` blocks as they are. It is the ``builtin`` engine
of :mod:`pipeline.ingest.html_extract` (no boilerplate detection beyond those tags, no extra
package) and the chapter extractor of the EPUB reader, where structure matters and there is no
site boilerplate.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: Elements whose whole content is dropped.
SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "head",
        "nav",
        "header",
        "footer",
        "noscript",
        "template",
        "svg",
        "iframe",
        "object",
        "select",
        "button",
    }
)
#: ARIA roles whose element is dropped like a ``nav``.
SKIP_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "menu", "menubar"})
#: Elements that end a paragraph: a blank line before and after.
PARAGRAPH_TAGS = frozenset(
    {
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "blockquote",
        "table",
        "ul",
        "ol",
        "dl",
        "section",
        "article",
        "main",
        "aside",
        "figure",
        "form",
        "fieldset",
        "details",
        "hr",
        "address",
    }
)
#: Elements that end a line.
LINE_TAGS = frozenset(
    {"div", "br", "li", "dt", "dd", "tr", "caption", "figcaption", "summary", "legend", "option"}
)
#: Table cells: separated by a space within their row.
CELL_TAGS = frozenset({"td", "th"})
VOID_TAGS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)

_SPACES = re.compile(r"\s+")
_BLANK_RUNS = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._skip_tag: str | None = None  # the element being dropped, and its nesting depth
        self._skip_depth = 0
        self._pre_depth = 0

    # -- output -----------------------------------------------------------------------------
    def _end_line(self) -> None:
        text = "".join(self._line)
        self._line.clear()
        if self._pre_depth:
            self.lines.append(text.rstrip())
        else:
            text = _SPACES.sub(" ", text).strip()
            if text:
                self.lines.append(text)

    def _end_paragraph(self) -> None:
        self._end_line()
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def text(self) -> str:
        self._end_line()
        return _BLANK_RUNS.sub("\n\n", "\n".join(self.lines)).strip()

    # -- parser callbacks -------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag and tag not in VOID_TAGS:
                self._skip_depth += 1
            return
        if tag not in VOID_TAGS:
            attributes = dict(attrs)
            role = (attributes.get("role") or "").strip().lower()
            if tag in SKIP_TAGS or role in SKIP_ROLES or "hidden" in attributes:
                self._skip_tag, self._skip_depth = tag, 1
                return
        if tag in PARAGRAPH_TAGS:
            self._end_paragraph()
        elif tag in LINE_TAGS:
            self._end_line()
        elif tag in CELL_TAGS and self._line:
            self._line.append(" ")
        if tag == "pre":
            self._pre_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag in PARAGRAPH_TAGS:
            self._end_paragraph()
            if tag == "pre" and self._pre_depth:
                self._pre_depth -= 1
        elif tag in LINE_TAGS:
            self._end_line()

    def handle_data(self, data: str) -> None:
        if self._skip_tag is not None:
            return
        if self._pre_depth:
            first, *rest = data.split("\n")
            self._line.append(first)
            for part in rest:
                self._end_line()
                self._line.append(part)
        else:
            self._line.append(_SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """The readable text of an HTML page (empty if it has none)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return parser.text()
