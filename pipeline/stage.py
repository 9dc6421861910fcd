"""The stage interface: what every filtering stage returns, and the accounting it must satisfy.

A stage takes an Arrow table of documents and returns what it kept, what it dropped (each with
a ``reason``) and its stats. Subclasses implement only the decision -- :meth:`FilterStage.annotate`
to add signal columns and :meth:`FilterStage.reasons` to name, per document, the rule that drops it
(or ``None`` to keep it). A stage with several rules may instead give, per document, the list of
every rule it fails (empty to keep it): the first is the ``reason``, the whole list goes into a
``reasons`` column, and each rule's count into ``rule_failures``. The base class does the split,
the timing, the per-reason counts and the accounting check ``in = kept + dropped``.

With ``keep: all`` a stage annotates without dropping: every document is kept and the reasons it
*would* have been dropped for are counted under ``flagged``, so a user can run one stage and look.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.schema import REASONS, set_column, with_reason

#: ``filter`` drops what the rules reject; ``all`` only annotates.
KeepMode = Literal["filter", "all"]


class AccountingError(RuntimeError):
    """A stage's output does not account for every input document."""


@dataclass
class StageStats:
    """Counts and timings of one stage over one or more partitions."""

    stage: str
    docs_in: int = 0
    docs_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> documents removed
    flagged: dict[str, int] = field(default_factory=dict)  # reason -> kept under `keep: all`
    # rule -> documents failing it, first or not (stages that report every failing rule)
    rule_failures: dict[str, int] = field(default_factory=dict)
    bytes_in: int = 0
    bytes_kept: int = 0
    seconds: float = 0.0

    @property
    def docs_dropped(self) -> int:
        return sum(self.dropped.values())

    def check(self, where: str = "") -> None:
        """Raise :class:`AccountingError` unless ``docs_in == docs_kept + docs_dropped``."""
        if self.docs_in != self.docs_kept + self.docs_dropped:
            raise AccountingError(
                f"{self.stage}{' ' + where if where else ''}: {self.docs_in} documents in, "
                f"{self.docs_kept} kept + {self.docs_dropped} dropped"
            )

    def merge(self, other: StageStats) -> StageStats:
        """Add ``other``'s counts to these (in place) and return self."""
        self.docs_in += other.docs_in
        self.docs_kept += other.docs_kept
        self.bytes_in += other.bytes_in
        self.bytes_kept += other.bytes_kept
        self.seconds += other.seconds
        for mine, theirs in (
            (self.dropped, other.dropped),
            (self.flagged, other.flagged),
            (self.rule_failures, other.rule_failures),
        ):
            for reason, count in theirs.items():
                mine[reason] = mine.get(reason, 0) + count
        return self

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["docs_dropped"] = self.docs_dropped
        out["dropped"] = dict(sorted(self.dropped.items()))
        out["flagged"] = dict(sorted(self.flagged.items()))
        out["rule_failures"] = dict(sorted(self.rule_failures.items()))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageStats:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class StageResult:
    """What a stage returns for one partition."""

    kept: pa.Table
    dropped: pa.Table  # the input columns plus `reason`
    stats: StageStats


def text_bytes(table: pa.Table) -> int:
    """UTF-8 bytes of the ``text`` column."""
    if table.num_rows == 0:
        return 0
    return int(pc.sum(pc.binary_length(table.column("text"))).as_py() or 0)


#: Per document: the reason to drop it (``None`` keeps it), or the list of every rule it fails.
Decision = str | None | Sequence[str]


def split_by_reasons(
    stage: str, table: pa.Table, decisions: Sequence[Decision], keep: KeepMode, started: float
) -> StageResult:
    """Split ``table`` by per-row decisions (``None`` or ``[]`` = keep) and count everything.

    When decisions are lists, both outputs get a ``reasons`` list column: every failing rule of a
    dropped document; empty for kept documents, or under ``keep: all`` what would have removed
    them.
    """
    if len(decisions) != table.num_rows:
        raise AccountingError(f"{stage}: {len(decisions)} decisions for {table.num_rows} documents")
    lists = [d for d in decisions if d is not None and not isinstance(d, str)]
    reasons: list[str | None] = [
        d if d is None or isinstance(d, str) else (d[0] if d else None) for d in decisions
    ]
    counts = Counter(r for r in reasons if r is not None)
    stats = StageStats(stage=stage, docs_in=table.num_rows, bytes_in=text_bytes(table))
    if lists:
        all_lists = [[] if d is None else [d] if isinstance(d, str) else list(d) for d in decisions]
        stats.rule_failures = dict(Counter(r for rules in all_lists for r in dict.fromkeys(rules)))
        table = set_column(table, REASONS, pa.array(all_lists, type=pa.list_(pa.string())))
    if keep == "all" or not counts:
        kept, dropped = table, with_reason(table.slice(0, 0), pa.array([], pa.string()))
        stats.flagged = dict(counts)
    else:
        mask = pa.array([r is None for r in reasons], type=pa.bool_())
        kept = table.filter(mask)
        dropped_rows = table.filter(pc.invert(mask))
        dropped = with_reason(dropped_rows, [r for r in reasons if r is not None])
        stats.dropped = dict(counts)
    stats.docs_kept = kept.num_rows
    stats.bytes_kept = text_bytes(kept)
    stats.seconds = time.perf_counter() - started
    stats.check()
    return StageResult(kept=kept, dropped=dropped, stats=stats)


class FilterStage(ABC):
    """A stage that annotates documents and drops some of them, each with a reason.

    Subclasses set :attr:`name`, may override :meth:`annotate` to add signal columns (scores are
    columns, so a user can re-filter with other thresholds without recomputing), and implement
    :meth:`reasons`. Heavy resources (models) must be loaded lazily so instances pickle cleanly
    to worker processes.
    """

    name: ClassVar[str]

    def __init__(self, keep: KeepMode = "filter") -> None:
        self.keep: KeepMode = keep

    def annotate(self, table: pa.Table) -> pa.Table:
        """Return ``table`` with this stage's signal columns added (default: unchanged)."""
        return table

    def warm_up(self, sources: Sequence[tuple[str, str]]) -> None:
        """Load and compile what measuring needs (models, compiled kernels, caches), so that a
        worker process can do it while the run starts; ``sources`` are the run's
        ``(name, kind)`` pairs. Default: nothing to load."""
        return None

    def decided_over_run(self) -> bool:
        """Whether a decision needs every partition of the run (a percentile of a score): then
        a run annotates each partition first and the stage's ``merge`` step (see
        :mod:`pipeline.stages`) decides them all together. Default: each partition alone."""
        return False

    def annotation_settings(self) -> Any:
        """The settings :meth:`annotate` depends on (a cache key for the annotated partitions
        of a stage decided over the run; settings of the decision alone are left out)."""
        raise NotImplementedError(f"{self.name} is decided partition by partition")

    @abstractmethod
    def reasons(self, table: pa.Table) -> Sequence[Decision]:
        """One entry per row of the annotated table: the drop reason, or ``None`` to keep; or
        the list of every rule the row fails, in order (empty to keep)."""

    def __call__(self, table: pa.Table) -> StageResult:
        started = time.perf_counter()
        annotated = self.annotate(table)
        return split_by_reasons(self.name, annotated, self.reasons(annotated), self.keep, started)
