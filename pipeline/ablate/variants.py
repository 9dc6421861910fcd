"""Variants of a run config: the built-in ones, sweeps over one threshold, and applying them.

A variant switches document stages off (their documents pass through unchanged, see
``can_switch_off`` in :mod:`pipeline.stages`) and sets keys of the document stages' sections
(``quality.gopher_quality.min_doc_words``). Tokenizer, shards and training settings are the
same for every variant by construction: an overlay may not touch them.

A name ending in ``-aa`` (``full-aa``) is an A/A replicate: the same data as the variant it
names, trained with the next block of seeds, so that comparing the two measures seed noise
alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

import yaml
from pydantic import ValidationError

from pipeline.config import RunConfig
from pipeline.errors import UserFacingError
from pipeline.stages import DOCUMENT_STAGES, SWITCHABLE, stage

REPLICATE_SUFFIX = "-aa"


class AblationError(UserFacingError):
    """A variant, sweep or ablation setting that cannot be used; the message says which."""


@dataclass(frozen=True)
class Variant:
    """One arm of an ablation: a name, the stages it switches off, the keys it sets."""

    name: str
    off: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    #: the variant whose data this one repeats with other seeds (an A/A replicate), or None
    replicate_of: str | None = None

    def describe(self) -> str:
        parts = [f"off: {', '.join(self.off)}"] if self.off else []
        parts += [f"{key}={value}" for key, value in self.settings.items()]
        if self.replicate_of:
            parts.append(f"A/A replicate of {self.replicate_of}")
        return "; ".join(parts) or "the config as given"


def _only(*on: str) -> tuple[str, ...]:
    return tuple(name for name in SWITCHABLE if name not in on)


#: The built-in variants: no step, each step alone, every step. Each step is measured alone
#: against `raw` (as FineWeb measured each filter), and `full` is the config as given.
BUILTIN: dict[str, Variant] = {
    "raw": Variant("raw", off=_only()),
    "langid": Variant("langid", off=_only("langid")),
    "quality": Variant("quality", off=_only("quality")),
    "dedup": Variant("dedup", off=_only("dedup")),
    "full": Variant("full"),
}
#: The variants `gristmill ablate` compares when none are named.
DEFAULT_VARIANTS = ("raw", "langid", "quality", "dedup", "full")


def parse_variants(names: str | list[str]) -> list[Variant]:
    """Built-in variants by name (``raw,full,full-aa``); an error naming an unknown one."""
    items = names.split(",") if isinstance(names, str) else list(names)
    variants = []
    for raw_name in items:
        name = raw_name.strip()
        if not name:
            continue
        base = name.removesuffix(REPLICATE_SUFFIX)
        if base not in BUILTIN:
            known = ", ".join(BUILTIN)
            raise AblationError(
                f"unknown variant {name!r}; built-in variants are {known} (add {REPLICATE_SUFFIX} "
                "for an A/A replicate)"
            )
        variant = BUILTIN[base]
        if base != name:
            variant = replace(variant, name=name, replicate_of=base)
        variants.append(variant)
    _check_unique(variants)
    return variants


def parse_sweep(spec: str) -> list[Variant]:
    """``KEY=V1,V2,...`` -> one variant per value, named ``<last part of KEY>=<value>``; values
    are read as YAML scalars (``50``, ``0.7``, ``null``, ``true``)."""
    key, sep, values = spec.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise AblationError(f"--sweep {spec!r}: expected KEY=V1,V2,... (e.g. quality.x.y=1,2)")
    _check_key(key)
    variants = []
    for text in values.split(","):
        try:
            value = yaml.safe_load(text.strip())
        except yaml.YAMLError:
            raise AblationError(f"--sweep {spec!r}: value {text!r} is not a scalar") from None
        variants.append(Variant(f"{key.rsplit('.', 1)[-1]}={text.strip()}", settings={key: value}))
    _check_unique(variants)
    return variants


def _check_unique(variants: list[Variant]) -> None:
    names = [v.name for v in variants]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise AblationError(f"variants named more than once: {', '.join(repeated)}")
    if not variants:
        raise AblationError("no variants to compare")


def _check_key(key: str) -> None:
    section = key.split(".", 1)[0]
    allowed = [name for name in DOCUMENT_STAGES if stage(name).config is not None]
    if section not in allowed or "." not in key:
        raise AblationError(
            f"{key}: a variant may set keys of the document stages' sections only "
            f"({', '.join(allowed)}), so that every variant trains the same way"
        )


def apply_variant(config: RunConfig, variant: Variant) -> RunConfig:
    """The run config of ``variant``: ``config`` with its stages switched off and keys set."""
    data = copy.deepcopy(config.model_dump(mode="json"))
    data["off"] = [name for name in SWITCHABLE if name in set(data["off"]) | set(variant.off)]
    for key, value in variant.settings.items():
        _check_key(key)
        *path, last = key.split(".")
        node = data
        for part in path:
            if not isinstance(node.get(part), dict):
                raise AblationError(f"{key}: the run config has no section {part!r} there")
            node = node[part]
        if last not in node:
            raise AblationError(f"{key}: no such setting (its section has {', '.join(node)})")
        node[last] = value
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AblationError(f"variant {variant.name}: {where}: {first['msg']}") from None
