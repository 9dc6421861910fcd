"""What a rule set is: signals it measures, and thresholds that turn signals into reasons.

A rule set measures a document once (:meth:`RuleSet.measure` -> one value per signal column) and
decides from those values alone (:meth:`RuleSet.failures`), so a table that already carries the
signal columns can be re-filtered with other thresholds without measuring again. Most rules are
one comparison of one signal with one threshold (:class:`Rule`); the card reads the same list to
draw each threshold on its signal's distribution.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa

from pipeline.quality.config import WordSplit
from pipeline.quality.words import Lexicon

Comparison = Literal["min", "max", "flag"]


@dataclass(frozen=True)
class Rule:
    """One decision: the document fails when its ``signal`` is below a ``min`` threshold, above a
    ``max`` threshold, or (``flag``) true. ``threshold is None`` switches the rule off."""

    reason: str
    signal: str
    comparison: Comparison
    threshold: float | bool | None

    def fails(self, value: Any) -> bool:
        if self.threshold is None or self.threshold is False or value is None:
            return False
        if self.comparison == "min":
            return bool(value < self.threshold)
        if self.comparison == "max":
            return bool(value > self.threshold)
        return bool(value)


@dataclass(frozen=True)
class Words:
    """A document's words under one split: lexicon ids in order and their attributes."""

    split: WordSplit
    ids: np.ndarray
    attrs: dict[str, np.ndarray]

    @property
    def count(self) -> int:
        return int(len(self.ids))


class DocumentView:
    """One document's text and the pieces several rule sets need, each computed once."""

    def __init__(
        self,
        text: str,
        lexicon: Lexicon,
        lang: str | None = None,
        path: str | None = None,
        split: WordSplit | None = None,
    ) -> None:
        self.text = text
        self.lexicon = lexicon
        self.lang = lang
        self.path = path
        #: the document's source's word split for the Gopher rules, if it names one
        self.split = split
        self._words: dict[str, Words] = {}

    @cached_property
    def word_ids(self) -> np.ndarray:
        """Word ids (spaCy-English words, as datatrove counts them)."""
        return self.lexicon.ids(self.text)

    @cached_property
    def word_attrs(self) -> dict[str, np.ndarray]:
        """The lexicon's attributes gathered per word of this document."""
        ids = self.word_ids
        return {name: column[ids] for name, column in self.lexicon.arrays().items()}

    @cached_property
    def n_words(self) -> int:
        return int(len(self.word_ids))

    def words(self, split: WordSplit = "datatrove") -> Words:
        """This document's words as ``split`` cuts them -- or as its source's split does, if it
        names one -- each split computed once."""
        split = self.split or split
        found = self._words.get(split)
        if found is None:
            if split == "datatrove":
                found = Words(split, self.word_ids, self.word_attrs)
            else:
                ids = self.lexicon.whitespace_ids(self.text)
                arrays = self.lexicon.arrays()
                found = Words(split, ids, {name: column[ids] for name, column in arrays.items()})
            self._words[split] = found
        return found

    @cached_property
    def splitlines(self) -> list[str]:
        return self.text.splitlines()

    @cached_property
    def newline_lines(self) -> list[str]:
        """Lines split at ``\\n`` only (what FineWeb and C4's line rules walk)."""
        return self.text.split("\n")


class RuleSet(ABC):
    """A published rule set: its signal columns, how to measure them, how to decide."""

    name: ClassVar[str]  # the config key and the prefix of its columns

    @abstractmethod
    def signals(self) -> dict[str, pa.DataType]:
        """Column name -> type, in a stable order."""

    @abstractmethod
    def measure(self, doc: DocumentView) -> dict[str, Any]:
        """One value per signal column."""

    @abstractmethod
    def rules(self) -> list[Rule]:
        """The decisions, in the order the source applies them (the first failure is the
        document's reason)."""

    def failures(self, signals: Mapping[str, Any]) -> list[str]:
        """Every rule the document fails, in order."""
        return [rule.reason for rule in self.rules() if rule.fails(signals.get(rule.signal))]


def fraction(part: float, whole: float) -> float | None:
    """``part / whole``, or None when there is nothing to divide by."""
    return part / whole if whole else None
