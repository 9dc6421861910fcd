"""Gopher's quality rules (Rae et al. 2021, "Scaling Language Models: Methods, Analysis &
Insights from Training Gopher", appendix A.1.1, "Quality filtering").

Measured as datatrove's GopherQualityFilter measures them, so decisions agree with it: words are
spaCy-English words (:mod:`pipeline.quality.words`); word count and mean word length leave out
"words" made only of punctuation; the symbol and alphabetic ratios divide by all words; lines
are ``str.splitlines()``; a stop word counts once however often it appears, matched exactly.

With ``words: whitespace`` the words are the Gopher paper's instead: whitespace-separated, with
their punctuation attached; every such word counts (also one of punctuation only), and a stop word
matches once the punctuation around a word is stripped.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from pipeline.quality.config import GopherQualityConfig
from pipeline.quality.rules import DocumentView, Rule, RuleSet, fraction

#: What is stripped around a whitespace word before it is compared with the stop words.
_PUNCTUATION = "\"'()[]{}<>,.;:!?«»“”‘’„-–—*_/`"


class GopherQuality(RuleSet):
    """Word count, mean word length, symbol ratios, bullet and ellipsis lines, alphabetic words
    and stop words."""

    name: ClassVar[str] = "gopher_quality"

    def __init__(self, config: GopherQualityConfig) -> None:
        self.config = config
        self._bullets = tuple(config.bullets)

    def signals(self) -> dict[str, pa.DataType]:
        return {
            "gopher_words": pa.int64(),  # words with a character other than punctuation
            "gopher_mean_word_length": pa.float64(),  # over those words
            "gopher_hash_ratio": pa.float64(),  # '#' per word
            "gopher_ellipsis_ratio": pa.float64(),  # '...' and '…' per word
            "gopher_bullet_lines_ratio": pa.float64(),
            "gopher_ellipsis_lines_ratio": pa.float64(),
            "gopher_alpha_words_ratio": pa.float64(),  # words with a letter, of all words
            "gopher_stop_words": pa.int64(),  # distinct stop words present
        }

    def measure(self, doc: DocumentView) -> dict[str, Any]:
        text = doc.text
        words = doc.words(self.config.words)
        attrs = words.attrs
        n_words = words.count
        if words.split == "datatrove":  # words made only of punctuation are not counted
            words_mask = ~attrs["symbolic"]
            present = self._stop_words_present(doc, words.ids)
        else:  # every whitespace-separated word counts
            words_mask = np.ones(n_words, dtype=bool)
            present = self._stop_words_stripped(doc, words.ids)
        n_real = int(words_mask.sum())
        lines = doc.splitlines
        return {
            "gopher_words": n_real,
            "gopher_mean_word_length": fraction(int(attrs["length"][words_mask].sum()), n_real),
            "gopher_hash_ratio": fraction(text.count("#"), n_words),
            "gopher_ellipsis_ratio": fraction(text.count("...") + text.count("…"), n_words),
            "gopher_bullet_lines_ratio": fraction(
                sum(line.lstrip().startswith(self._bullets) for line in lines), len(lines)
            ),
            "gopher_ellipsis_lines_ratio": fraction(
                sum(line.rstrip().endswith(("...", "…")) for line in lines), len(lines)
            ),
            "gopher_alpha_words_ratio": fraction(int(attrs["alpha"].sum()), n_words),
            "gopher_stop_words": present,
        }

    def _stop_words_present(self, doc: DocumentView, ids: np.ndarray) -> int:
        """Distinct stop words among the words, matched exactly (as datatrove matches)."""
        stop_ids = [
            i for w in self.config.stop_words if (i := doc.lexicon.word_ids.get(w)) is not None
        ]
        return len(np.unique(ids[np.isin(ids, stop_ids)])) if stop_ids else 0

    def _stop_words_stripped(self, doc: DocumentView, ids: np.ndarray) -> int:
        """Distinct stop words among whitespace words once the punctuation around each word is
        stripped ("the," is "the"), the way a reader counts words."""
        strings = doc.lexicon.words
        distinct = {strings[i].strip(_PUNCTUATION) for i in np.unique(ids).tolist()}
        return len(distinct.intersection(self.config.stop_words))

    def rules(self) -> list[Rule]:
        c = self.config
        return [
            Rule("gopher_short_doc", "gopher_words", "min", c.min_doc_words),
            Rule("gopher_long_doc", "gopher_words", "max", c.max_doc_words),
            Rule(
                "gopher_below_avg_word_length",
                "gopher_mean_word_length",
                "min",
                c.min_avg_word_length,
            ),
            Rule(
                "gopher_above_avg_word_length",
                "gopher_mean_word_length",
                "max",
                c.max_avg_word_length,
            ),
            Rule("gopher_too_many_hashes", "gopher_hash_ratio", "max", c.max_symbol_word_ratio),
            Rule(
                "gopher_too_many_ellipsis", "gopher_ellipsis_ratio", "max", c.max_symbol_word_ratio
            ),
            Rule(
                "gopher_too_many_bullets",
                "gopher_bullet_lines_ratio",
                "max",
                c.max_bullet_lines_ratio,
            ),
            Rule(
                "gopher_too_many_end_ellipsis",
                "gopher_ellipsis_lines_ratio",
                "max",
                c.max_ellipsis_lines_ratio,
            ),
            Rule(
                "gopher_below_alpha_threshold",
                "gopher_alpha_words_ratio",
                "min",
                c.min_alpha_words_ratio,
            ),
            Rule("gopher_too_few_stop_words", "gopher_stop_words", "min", c.min_stop_words),
        ]
