"""The quality stage: PII replacement, then each document's rule suite; signals become columns.

For each document: if PII replacement is on for its source, e-mail and public IP addresses in
``text`` are replaced (counts in ``pii_emails`` / ``pii_ips``); then the suite of its kind (or of
its source, if the config overrides it) measures it -- the text is split into words once and
every rule set reads the same split. Every signal of every rule set in any suite is a column
(null where the rule set did not run), so partitions share one schema and a user can re-filter
with other thresholds from the columns alone (:func:`refilter`); the `classifier` rule set's
``quality_score`` is such a column too, so a new threshold or percentile needs no rescoring (in
a run, its percentile is cut over the whole run: :mod:`pipeline.steps.run_cut`). A
document whose text is blank is dropped as ``empty``. Dropped documents carry ``reason`` (the
first failing rule) and ``reasons`` (every failing rule, in suite order). With
``stop_at_first_failure`` a document is measured only up to the rule set it first fails: the
same ``reason``, the later signals null.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from pipeline.quality.books import Books
from pipeline.quality.c4 import C4
from pipeline.quality.classifier import SCORE, Classifier
from pipeline.quality.code import Code
from pipeline.quality.config import QualityConfig
from pipeline.quality.fineweb import FineWeb
from pipeline.quality.gopher_quality import GopherQuality
from pipeline.quality.gopher_repetition import GopherRepetition
from pipeline.quality.pii import redact
from pipeline.quality.rules import DocumentView, RuleSet
from pipeline.quality.words import lexicon
from pipeline.schema import REASON, REASONS, set_column
from pipeline.stage import Decision, FilterStage, StageResult, split_by_reasons

#: Rule set name (as the config names it) -> class.
RULE_SETS: dict[str, type[RuleSet]] = {
    cls.name: cls for cls in (GopherQuality, GopherRepetition, C4, FineWeb, Code, Books, Classifier)
}

PII_SIGNALS = {"pii_emails": pa.int64(), "pii_ips": pa.int64()}
EMPTY = "empty"


def build_rule_sets(config: QualityConfig) -> dict[str, RuleSet]:
    """Every rule set any suite (or source override) names, configured, in a stable order."""
    named = {name for suite in config.suites.values() for name in suite}
    named |= {name for source in config.per_source.values() for name in source.suite or []}
    out = {name: cls(getattr(config, name)) for name, cls in RULE_SETS.items() if name in named}
    repetition = out.get(GopherRepetition.name)
    if isinstance(repetition, GopherRepetition):
        repetition.stop_at_first_failure = config.stop_at_first_failure
    return out


#: What :meth:`QualityStage.warm_up` measures: lines, paragraphs and repeated n-grams, so that
#: every rule's code runs once.
WARM_UP_TEXT = (
    "The mill grinds the grain into flour. The flour is sifted, weighed and packed.\n"
    "Each sack is weighed twice, once when it is filled and once when it leaves.\n\n"
    "The mill grinds the grain into flour. Bakers buy the flour by the sack: 25 kg, $30.\n"
    "See https://example.org/mill for the prices, or write to the miller."
)


class QualityStage(FilterStage):
    """Measures every document with its suite; drops those that fail a rule."""

    name: ClassVar[str] = "quality"

    def __init__(self, config: QualityConfig) -> None:
        super().__init__(config.keep)
        self.config = config
        self.rule_sets = build_rule_sets(config)
        #: the classifier's percentile as a score resolved over the whole run (set by the run's
        #: cut step, :mod:`pipeline.steps.run_cut`); None: resolved over the table decided
        self.run_cut: float | None = None

    def warm_up(self, sources: Sequence[tuple[str, str]]) -> None:
        """Measure a short sample text as each source's documents would be measured: the
        compiled repetition kernel, the word splitter and any classifier model get loaded."""
        for name, kind in sources:
            self.measure(WARM_UP_TEXT, kind, name, "en", "warm-up.txt")

    def decided_over_run(self) -> bool:
        """A classifier's percentile is a cut over the whole run's scores."""
        return Classifier.name in self.rule_sets and self.config.classifier.percentile is not None

    def annotation_settings(self) -> Any:
        """The section without the percentile: a new percentile needs no rescoring."""
        settings = self.config.model_dump(mode="json")
        settings["classifier"]["percentile"] = None
        return settings

    def signal_types(self) -> dict[str, pa.DataType]:
        out = dict(PII_SIGNALS)
        for rule_set in self.rule_sets.values():
            out |= rule_set.signals()
        return out

    def measure(
        self, text: str, kind: str, source: str, lang: str | None = None, path: str | None = None
    ) -> dict[str, Any]:
        """The signals of one document (after PII replacement) and its possibly new text."""
        out: dict[str, Any] = {}
        if self.config.pii_for(source):
            redacted = redact(text, self.config.pii)
            text = redacted.text
            out |= {"pii_emails": redacted.emails, "pii_ips": redacted.ips}
        out["text"] = text
        if not text.strip():
            return out
        words = lexicon()
        words.maybe_reset()
        view = DocumentView(text, words, lang, path, self.config.words_for(source))
        stop = self.config.stop_at_first_failure
        for name in self.config.suite_for(kind, source):
            rule_set = self.rule_sets[name]
            signals = rule_set.measure(view)
            out |= signals
            if stop and rule_set.failures(signals):
                break  # the later rule sets' signals stay null
        return out

    def annotate(self, table: pa.Table) -> pa.Table:
        columns = {
            name: table.column(name).to_pylist()
            for name in ("text", "kind", "source", "lang", "path")
        }
        rows = [self.measure(*values) for values in zip(*columns.values(), strict=True)]
        text_index = table.schema.get_field_index("text")  # keep the field (not nullable)
        table = table.set_column(
            text_index,
            table.schema.field(text_index),
            pa.array([r["text"] for r in rows], pa.string()),
        )
        for name, type_ in self.signal_types().items():
            table = set_column(table, name, pa.array([r.get(name) for r in rows], type=type_))
        # Present even when no row has a decision list (an empty partition).
        return set_column(table, REASONS, pa.array([[]] * table.num_rows, pa.list_(pa.string())))

    def decided_by(self, table: pa.Table) -> dict[str, RuleSet]:
        """The rule sets as they decide ``table``: a classifier's percentile becomes the run's
        cut (:attr:`run_cut`) when set, else a score over the table's ``quality_score`` column."""
        rule_sets = dict(self.rule_sets)
        classifier = rule_sets.get(Classifier.name)
        if isinstance(classifier, Classifier) and self.run_cut is not None:
            rule_sets[Classifier.name] = Classifier(classifier.config, self.run_cut)
        elif isinstance(classifier, Classifier) and SCORE in table.schema.names:
            scores = table.column(SCORE).to_numpy(zero_copy_only=False).astype(np.float64)
            rule_sets[Classifier.name] = classifier.resolved(scores)
        return rule_sets

    def reasons(self, table: pa.Table) -> Sequence[Decision]:
        rule_sets = self.decided_by(table)
        signal_names = [n for n in self.signal_types() if n in table.schema.names]
        columns = {name: table.column(name).to_pylist() for name in signal_names}
        texts = table.column("text").to_pylist()
        out: list[list[str]] = []
        for i, (kind, source) in enumerate(
            zip(table.column("kind").to_pylist(), table.column("source").to_pylist(), strict=True)
        ):
            if not texts[i].strip():
                out.append([EMPTY])
                continue
            signals = {name: values[i] for name, values in columns.items()}
            failed: list[str] = []
            for name in self.config.suite_for(kind, source):
                failed.extend(rule_sets[name].failures(signals))
            out.append(list(dict.fromkeys(failed)))
        return out


def thresholds(config: QualityConfig) -> list[dict[str, Any]]:
    """Every active rule of every configured rule set: its signal column, comparison (`min`:
    fails below, `max`: fails above, `flag`: fails when true), threshold and reason -- what a
    data card draws on each signal's distribution."""
    out = []
    for name, rule_set in build_rule_sets(config).items():
        for rule in rule_set.rules():
            if rule.threshold is not None and rule.threshold is not False:
                out.append(
                    {
                        "rule_set": name,
                        "signal": rule.signal,
                        "reason": rule.reason,
                        "comparison": rule.comparison,
                        "threshold": rule.threshold,
                    }
                )
    return out


def refilter(table: pa.Table, config: QualityConfig) -> StageResult:
    """Decide again from the signal columns a quality stage already wrote, with ``config``'s
    thresholds and suites, without measuring anything (the text is not read except to find
    blank documents). ``table`` may mix kept rows and rows of ``dropped/quality`` (their old
    ``reason`` is dropped). A rule whose signal column is missing is reported as an error."""
    started = time.perf_counter()
    stage = QualityStage(config)
    if REASON in table.schema.names:  # rows that came from a dropped/ file
        table = table.drop_columns([REASON])
    missing = [
        n
        for name in {n for s in config.suites.values() for n in s}
        for n in stage.rule_sets[name].signals()
        if n not in table.schema.names
    ]
    if missing:
        raise ValueError(
            f"refilter: the table lacks signal columns {sorted(set(missing))}; "
            f"run the quality stage with these rule sets first"
        )
    return split_by_reasons(stage.name, table, stage.reasons(table), stage.keep, started)
