"""Gopher quality rules (Rae et al. 2021, appendix A.1.1) as a filtering stage.

Each rule's measured value is written as a column (`gopher_*`), so a user can re-filter with
other thresholds without recomputing. Documents of kinds the config does not name (code, by
default) pass untouched with null signals.

Words are split on whitespace with punctuation stripped from their ends, a dependency-free
approximation of the spaCy tokenisation datatrove uses.
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa

from pipeline.quality.config import GopherQualityConfig, QualityConfig
from pipeline.stage import FilterStage

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "※", "·", "-", "*", "–", "—", "‣", "⁃")
_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~“”‘’«»„…–—"

SIGNALS = {
    "gopher_words": pa.int32(),
    "gopher_avg_word_length": pa.float32(),
    "gopher_symbol_word_ratio": pa.float32(),
    "gopher_bullet_lines_ratio": pa.float32(),
    "gopher_ellipsis_lines_ratio": pa.float32(),
    "gopher_alpha_words_ratio": pa.float32(),
    "gopher_stop_words": pa.int32(),
}


def gopher_signals(text: str) -> dict[str, float]:
    """The measured values the Gopher quality rules compare against their thresholds."""
    raw_words = text.split()
    words = [w.strip(_PUNCT) for w in raw_words]
    words = [w for w in words if w]
    n_words = len(words)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    n_lines = max(len(lines), 1)
    symbols = text.count("#") + text.count("...") + text.count("…")
    return {
        "gopher_words": n_words,
        "gopher_avg_word_length": sum(map(len, words)) / n_words if n_words else 0.0,
        "gopher_symbol_word_ratio": symbols / n_words if n_words else 0.0,
        "gopher_bullet_lines_ratio": sum(line.startswith(BULLETS) for line in lines) / n_lines,
        "gopher_ellipsis_lines_ratio": sum(line.endswith(("...", "…")) for line in lines) / n_lines,
        "gopher_alpha_words_ratio": (
            sum(any(c.isalpha() for c in w) for w in raw_words) / len(raw_words)
            if raw_words
            else 0.0
        ),
        "gopher_stop_words": sum(w.lower() in STOP_WORDS for w in words),
    }


def gopher_reason(s: dict[str, float], c: GopherQualityConfig) -> str | None:
    """The first Gopher rule the signals fail, or ``None``."""
    checks = (
        ("gopher_below_min_words", c.min_doc_words, lambda t: s["gopher_words"] < t),
        ("gopher_above_max_words", c.max_doc_words, lambda t: s["gopher_words"] > t),
        ("gopher_below_avg_word_length", c.min_avg_word_length,
         lambda t: s["gopher_avg_word_length"] < t),
        ("gopher_above_avg_word_length", c.max_avg_word_length,
         lambda t: s["gopher_avg_word_length"] > t),
        ("gopher_symbol_word_ratio", c.max_symbol_word_ratio,
         lambda t: s["gopher_symbol_word_ratio"] > t),
        ("gopher_bullet_lines", c.max_bullet_lines_ratio,
         lambda t: s["gopher_bullet_lines_ratio"] > t),
        ("gopher_ellipsis_lines", c.max_ellipsis_lines_ratio,
         lambda t: s["gopher_ellipsis_lines_ratio"] > t),
        ("gopher_alpha_words", c.min_alpha_words_ratio,
         lambda t: s["gopher_alpha_words_ratio"] < t),
        ("gopher_stop_words", c.min_stop_words, lambda t: s["gopher_stop_words"] < t),
    )
    for reason, threshold, fails in checks:
        if threshold is not None and fails(threshold):
            return reason
    return None


class GopherQualityStage(FilterStage):
    """Drops prose documents that fail a Gopher quality rule; records every signal."""

    name: ClassVar[str] = "quality"

    def __init__(self, config: QualityConfig) -> None:
        super().__init__(config.keep)
        self.config = config

    def _applies(self, table: pa.Table) -> list[bool]:
        kinds = set(self.config.kinds)
        return [kind in kinds for kind in table.column("kind").to_pylist()]

    def annotate(self, table: pa.Table) -> pa.Table:
        texts = table.column("text").to_pylist()
        applies = self._applies(table)
        rows = [gopher_signals(t) if ok else None for t, ok in zip(texts, applies, strict=True)]
        for name, type_ in SIGNALS.items():
            values = pa.array([r[name] if r else None for r in rows], type=type_)
            index = table.schema.get_field_index(name)
            table = (
                table.set_column(index, name, values)
                if index >= 0
                else table.append_column(name, values)
            )
        return table

    def reasons(self, table: pa.Table) -> list[str | None]:
        columns = {name: table.column(name).to_pylist() for name in SIGNALS}
        out: list[str | None] = []
        for i, applies in enumerate(self._applies(table)):
            if not applies:
                out.append(None)
                continue
            out.append(gopher_reason({n: v[i] for n, v in columns.items()}, self.config.gopher))
        return out
