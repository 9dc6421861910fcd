"""FineWeb's additional rules (Penedo et al. 2024, "The FineWeb Datasets: Decanting the Web for
the Finest Text Data at Scale", section 3.3 "Developing additional heuristic filters").

Measured as datatrove's FineWebQualityFilter measures them: non-blank lines split at ``\\n`` and
not stripped; a line ends in punctuation when its last character is a sentence terminal; short
lines have at most ``short_line_length`` characters; duplicated-line characters are of the text
without its newlines; the list ratio is newlines per spaCy-English word.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa

from pipeline.quality.charclasses import SENTENCE_TERMINALS
from pipeline.quality.config import FineWebConfig
from pipeline.quality.gopher_repetition import find_duplicates
from pipeline.quality.rules import DocumentView, Rule, RuleSet, fraction


class FineWeb(RuleSet):
    """Line-punctuation ratio, short-line ratio, duplicated-line characters, list ratio."""

    name: ClassVar[str] = "fineweb"

    def __init__(self, config: FineWebConfig) -> None:
        self.config = config
        self._stops = (
            tuple(config.stop_chars)
            if config.stop_chars is not None
            else tuple(sorted(SENTENCE_TERMINALS))
        )

    def signals(self) -> dict[str, pa.DataType]:
        return {
            "fineweb_line_punct_ratio": pa.float64(),
            "fineweb_short_line_ratio": pa.float64(),
            "fineweb_char_dup_ratio": pa.float64(),
            "fineweb_list_ratio": pa.float64(),
        }

    def measure(self, doc: DocumentView) -> dict[str, Any]:
        lines = [line for line in doc.newline_lines if line.strip()]
        short = self.config.short_line_length
        text = doc.text
        return {
            "fineweb_line_punct_ratio": fraction(
                sum(line.endswith(self._stops) for line in lines), len(lines)
            ),
            "fineweb_short_line_ratio": fraction(
                sum(len(line) <= short for line in lines), len(lines)
            ),
            "fineweb_char_dup_ratio": fraction(
                find_duplicates(lines)[1], len(text) - text.count("\n")
            ),
            "fineweb_list_ratio": fraction(text.count("\n"), doc.n_words),
        }

    def rules(self) -> list[Rule]:
        c = self.config
        return [
            Rule("fineweb_line_punct_ratio", "fineweb_line_punct_ratio", "min", c.line_punct_thr),
            Rule("fineweb_short_line_ratio", "fineweb_short_line_ratio", "max", c.short_line_thr),
            Rule(
                "fineweb_char_dup_ratio", "fineweb_char_dup_ratio", "max", c.char_duplicates_ratio
            ),
            Rule("fineweb_list_ratio", "fineweb_list_ratio", "max", c.new_line_ratio),
        ]

    def failures(self, signals: dict[str, Any]) -> list[str]:  # type: ignore[override]
        out = super().failures(signals)
        # FineWeb's option: a page with no punctuated line at all is not judged by that rule.
        if self.config.line_punct_exclude_zero and signals.get("fineweb_line_punct_ratio") == 0:
            out = [r for r in out if r != "fineweb_line_punct_ratio"]
        return out
