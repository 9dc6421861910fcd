"""The run config: one YAML file with the sources and one section per stage.

```yaml
sources: [...]        # pipeline.ingest.config.SourceConfig
off: [...]            # stages switched off (pipeline.stages.SWITCHABLE); default: none
langid: {...}         # pipeline.langid.config.LangIDConfig
quality: {...}        # pipeline.quality.config.QualityConfig
dedup: {...}          # pipeline.dedup.config.DedupConfig
tokenizer: {...}      # pipeline.tokenizer.config.TokenizerConfig
shards: {...}         # pipeline.shards.config.ShardsConfig
train: {...}          # trainer.config.TrainConfig
```

The sections besides ``sources`` come from the stage table (:data:`pipeline.stages.STAGE_TABLE`):
each stage with settings contributes its section and typed model, so a new stage needs no edit
here. Loading validates everything before any work starts: unknown keys, unknown formats or
stages, bad values and source paths that match nothing or cannot be read are reported together,
each naming where in the file it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from pipeline.errors import UserFacingError
from pipeline.hashing import stable_hash
from pipeline.ingest.config import SourceConfig
from pipeline.ingest.files import SourceError, resolve_source_files
from pipeline.ingest.formats import FORMATS
from pipeline.stages import CONFIG_SECTIONS, SWITCHABLE


class ConfigError(UserFacingError, ValueError):
    """The run config is invalid; the message names every problem found."""


class _RunConfigBase(BaseModel):
    """A whole run: where the text comes from and how each stage treats it.

    The stage sections (``langid``, ``quality``, ...) are added from the stage table by
    :data:`RunConfig`; each has its model's defaults, so only ``sources`` is required.
    """

    model_config = ConfigDict(extra="forbid")

    sources: list[SourceConfig] = Field(min_length=1)
    #: folder that relative source paths resolve against (the config file's folder)
    base_dir: str = "."
    #: stages switched off: their documents pass through unchanged (an ablation's variants use
    #: it). Empty by default: a run does every step.
    off: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_source_names(self) -> _RunConfigBase:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        wrong = [stage for stage in self.off if stage not in SWITCHABLE]
        if wrong:
            raise ValueError(
                f"off: {', '.join(wrong)} cannot be switched off; these can: "
                + ", ".join(SWITCHABLE)
            )
        unknown = [n for n in self.section("dedup").source_priority if n not in names]
        if unknown:
            raise ValueError(f"dedup.source_priority names unknown sources: {', '.join(unknown)}")
        for section in ("langid", "quality"):
            unknown = sorted(n for n in self.section(section).per_source if n not in names)
            if unknown:
                raise ValueError(
                    f"{section}.per_source names unknown sources: {', '.join(unknown)}"
                )
        return self

    @model_validator(mode="after")
    def _classifier_model(self) -> _RunConfigBase:
        # The quality classifier's model resolves against the config's folder, and must exist
        # when a suite names the `classifier` rule set.
        quality = self.section("quality")
        classifier = quality.classifier
        if classifier.model:
            path = Path(classifier.model).expanduser()
            if not path.is_absolute():
                path = Path(self.base_dir) / path
            classifier.model = str(path)
        named = {n for suite in quality.suites.values() for n in suite}
        named |= {n for source in quality.per_source.values() for n in source.suite or []}
        if "classifier" in named:
            if not classifier.model:
                raise ValueError(
                    "quality.classifier.model: a suite names the `classifier` rule set; "
                    "train a model with `gristmill quality-model train` and name it here"
                )
            if not Path(classifier.model).is_file():
                raise ValueError(f"quality.classifier.model: {classifier.model}: file not found")
        return self

    def section(self, name: str) -> Any:
        """The settings of one stage section (``config.section("quality")`` is
        ``config.quality``)."""
        if name not in CONFIG_SECTIONS:
            known = ", ".join(CONFIG_SECTIONS)
            raise KeyError(f"no config section {name!r}; sections are: {known}")
        return getattr(self, name)

    def section_hash(self, section: str) -> str:
        """A short hash of one stage's settings (used in cache fingerprints)."""
        return stable_hash(self.section(section).model_dump(mode="json"))

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)


#: The run config: ``sources`` plus one section per stage of the stage table, each defaulting to
#: its model's defaults.
RunConfig: type[_RunConfigBase] = create_model(  # type: ignore[call-overload]
    "RunConfig",
    __base__=_RunConfigBase,
    __module__=__name__,
    **{name: (model, Field(default_factory=model)) for name, model in CONFIG_SECTIONS.items()},
)


def _format_validation_error(error: ValidationError, origin: str) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            known = ", ".join(CONFIG_SECTIONS) if len(item["loc"]) == 1 else None
            message = "unknown key" + (f" (sections are: sources, {known})" if known else "")
        elif item["type"] == "literal_error" and item["loc"][-1] == "format":
            message = f"unknown format {item['input']!r}; expected one of {', '.join(FORMATS)}"
        lines.append(f"  {where}: {message}")
    return f"{origin}: invalid run config\n" + "\n".join(lines)


def parse_config(data: Any, base_dir: Path, origin: str = "<config>") -> RunConfig:
    """Validate a config mapping; relative source paths resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping with a `sources:` list at the top level")
    try:
        config = RunConfig.model_validate({**data, "base_dir": str(base_dir.resolve())})
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, origin)) from None
    problems = []
    for source in config.sources:
        try:
            resolve_source_files(source, Path(config.base_dir))
        except SourceError as error:
            problems.append(f"  {error}")
    if problems:
        raise ConfigError(f"{origin}: source files missing or unreadable\n" + "\n".join(problems))
    return config


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run config; raise :class:`ConfigError` naming every problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return parse_config(data, path.parent, origin=str(path))
