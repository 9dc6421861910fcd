"""The stage table: every stage of a run, in order, and what the rest of the code derives from it.

One entry per stage says its name, the run config section that configures it (and that
section's typed model), how the flow runs it, and the step that does its work. From this table
come the run config's sections (:mod:`pipeline.config`), the CLI's ``--until`` choices, the
order of the flow (:mod:`flows.chain`), each document stage's upstream, and the data card's
funnel. Adding a filtering stage (a toxicity filter, say) is one :class:`StageSpec` here plus its
:class:`~pipeline.stage.FilterStage` subclass and config model.

How the flow runs each kind of work (``work``):

- ``ingest``: one task per input unit (a file, a folder or a dataset split), each writing one or
  more partitions; every later document stage works on the partitions ingest reports.
- ``filter``: one task per partition; ``runs`` names the :class:`~pipeline.stage.FilterStage`
  class, built from the stage's config section. It reads the previous document stage's output.
  A ``merge`` step, if named, runs once after the partitions ``(ctx, summaries) -> summaries``:
  the quality stage's decides the classifier's percentile over the whole run
  (:mod:`pipeline.steps.run_cut`).
- ``dedup``: signatures per partition, candidate pairs per LSH band, one cluster step, then the
  split per partition (:mod:`pipeline.steps.dedup`).
- ``per_partition_then_merge``: one task per partition, then one merge task; ``runs`` names the
  partition step ``(run, config, part) -> summary`` and ``merge`` the merge step
  ``(ctx, summaries) -> summary`` (the shards: :mod:`pipeline.steps.shards`).
- ``whole_run``: one task over the whole run; ``runs`` names the step function
  ``(ctx) -> summary``.

A stage marked ``can_switch_off`` may be listed in the run config's ``off:`` list: its
partitions then pass through unchanged (:mod:`pipeline.steps.passthrough`: the upstream file
linked, not copied, with a marker of its own), so a run without that step, an ablation's
variant, needs no other change to the flow or to the stages after it.

Steps and classes are named as ``module:attribute`` and imported when the stage runs, so listing
stages imports neither torch nor the language-ID model.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from pipeline.dedup.config import DedupConfig
from pipeline.langid.config import LangIDConfig
from pipeline.quality.config import QualityConfig
from pipeline.shards.config import ShardsConfig
from pipeline.tokenizer.config import TokenizerConfig
from trainer.config import TrainConfig

Work = Literal["ingest", "filter", "dedup", "per_partition_then_merge", "whole_run"]
#: The kinds of work of document stages (they read and write documents, partition by partition).
DOCUMENT_WORK: tuple[Work, ...] = ("ingest", "filter", "dedup")


@dataclass(frozen=True)
class StageSpec:
    """One stage of a run."""

    name: str
    work: Work
    #: the run config section of this stage (``None``: the stage has no settings of its own)
    section: str | None
    #: the typed model of that section (``sources`` is the run config's own list of sources)
    config: type[BaseModel] | None
    #: ``module:attribute`` of what does the work: the filter class, the partition step or the
    #: whole-run step
    runs: str | None = None
    #: ``module:attribute`` of the merge step of a ``per_partition_then_merge`` stage, or of
    #: the whole-run step after a ``filter`` stage's partitions
    merge: str | None = None
    #: whether the run config's ``off:`` may name this stage (its documents then pass through)
    can_switch_off: bool = False

    @property
    def documents(self) -> bool:
        """Whether the stage reads and writes documents, partition by partition (the funnel)."""
        return self.work in DOCUMENT_WORK

    def load(self) -> Any:
        """The class or function named by :attr:`runs`."""
        return _load(self.name, self.runs)

    def load_merge(self) -> Any:
        """The merge step named by :attr:`merge`."""
        return _load(self.name, self.merge)


def _load(stage: str, name: str | None) -> Any:
    if name is None:
        raise ValueError(f"stage {stage!r} names nothing to run")
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


#: Every stage, in the order a run executes them.
STAGE_TABLE: tuple[StageSpec, ...] = (
    StageSpec("ingest", "ingest", "sources", None),
    StageSpec(
        "langid",
        "filter",
        "langid",
        LangIDConfig,
        "pipeline.langid.fasttext_lid:LangIDStage",
        can_switch_off=True,
    ),
    StageSpec(
        "quality",
        "filter",
        "quality",
        QualityConfig,
        "pipeline.quality.stage:QualityStage",
        merge="pipeline.steps.run_cut:cut_step",
        can_switch_off=True,
    ),
    StageSpec("dedup", "dedup", "dedup", DedupConfig, can_switch_off=True),
    StageSpec(
        "tokenizer", "whole_run", "tokenizer", TokenizerConfig, "pipeline.steps.tokenizer:step"
    ),
    StageSpec(
        "shards",
        "per_partition_then_merge",
        "shards",
        ShardsConfig,
        "pipeline.steps.shards:partition_step",
        merge="pipeline.steps.shards:merge_step",
    ),
    StageSpec("train", "whole_run", "train", TrainConfig, "pipeline.steps.train:step"),
    StageSpec("card", "whole_run", None, None, "pipeline.steps.card:step"),
)

#: The stage names in run order (the CLI's ``--until`` choices).
STAGES: tuple[str, ...] = tuple(spec.name for spec in STAGE_TABLE)
#: The document stages, in order: the data card's funnel.
DOCUMENT_STAGES: tuple[str, ...] = tuple(spec.name for spec in STAGE_TABLE if spec.documents)
#: The stages a run config's ``off:`` may switch off (their documents pass through unchanged).
SWITCHABLE: tuple[str, ...] = tuple(spec.name for spec in STAGE_TABLE if spec.can_switch_off)
#: The sections a run config may have besides ``sources``, each with its typed model.
CONFIG_SECTIONS: dict[str, type[BaseModel]] = {
    spec.section: spec.config
    for spec in STAGE_TABLE
    if spec.section is not None and spec.config is not None
}


def stage(name: str) -> StageSpec:
    """The entry of stage ``name``."""
    for spec in STAGE_TABLE:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown stage {name!r}; stages are: {', '.join(STAGES)}")


def run_partition_unit(root: str, config: Any, name: str, part: str) -> Any:
    """The per-partition unit of stage ``name`` (a ``per_partition_then_merge`` stage) on one
    partition of run directory ``root`` (a plain function, so a worker process can run it)."""
    from pipeline.rundir import RunDir

    return stage(name).load()(RunDir(root), config, part)


def upstream(name: str) -> str:
    """The document stage whose kept partitions stage ``name`` reads: the one before it among
    the document stages; for a whole-run stage, the last document stage."""
    if name in DOCUMENT_STAGES:
        index = DOCUMENT_STAGES.index(name)
        if index == 0:
            raise ValueError(f"stage {name!r} reads the sources, not another stage")
        return DOCUMENT_STAGES[index - 1]
    stage(name)  # raises for an unknown name
    return DOCUMENT_STAGES[-1]


def work_of(spec: StageSpec, off: list[str] | tuple[str, ...]) -> str:
    """How the flow runs ``spec`` in a run whose config switches off ``off``: its own kind of
    work, or ``pass_through`` (one task per partition that passes its documents on)."""
    return "pass_through" if spec.name in off else spec.work


def stages_until(last: str) -> tuple[StageSpec, ...]:
    """The stages a run executes when it stops after ``last``."""
    return STAGE_TABLE[: STAGES.index(stage(last).name) + 1]
