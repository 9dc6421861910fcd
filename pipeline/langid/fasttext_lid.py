"""The language-ID stage: fastText lid.176 writes `lang` and `lang_score` on every document.

Natural-language documents are cut to `max_chars`, their newlines turned into spaces (fastText
reads one line per prediction) and predicted in batches of `batch_size`; the top language and its
probability are stored (as float32, rounded to 4 digits; the cut compares that stored value, so
re-deciding from the column gives the same answer). A document is kept when its top language is
in its source's keep-list and its score is at least the source's `min_score` (FineWeb's rule:
English at >= 0.65).

Code is not sent through natural-language ID: its `lang` is its programming language -- the one
ingest recorded, else the `language` field of its record, else the one its file name or shebang
line names -- lower-cased, with no score, and code is never dropped here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pyarrow as pa

from pipeline.ingest.code_languages import language_from_name, language_from_shebang
from pipeline.langid.config import LangIDConfig
from pipeline.langid.model import load_model, resolve_model_path
from pipeline.stage import FilterStage

NOT_KEPT = "lang_not_kept"
LOW_SCORE = "lang_low_score"


def code_language(text: str, path: str | None, meta: str | None, lang: str | None = None) -> str:
    """Programming language of a code document, lower-cased ("unknown" if nothing names it)."""
    if lang:
        return lang.lower()
    if meta:
        try:
            language = json.loads(meta).get("language")
        except (ValueError, AttributeError):
            language = None
        if isinstance(language, str) and language:
            return language.lower()
    found = language_from_name(path or "") or language_from_shebang(text.split("\n", 1)[0])
    return found.lower() if found else "unknown"


def fasttext_line(text: str, max_chars: int | None) -> str:
    """What fastText is given for ``text``: at most ``max_chars`` characters, on one line."""
    return (text if max_chars is None else text[:max_chars]).replace("\n", " ")


class LangIDStage(FilterStage):
    """Predicts each document's language; drops those outside the keep-list or below min_score."""

    name: ClassVar[str] = "langid"

    def __init__(self, config: LangIDConfig) -> None:
        super().__init__(config.keep)
        self.config = config
        self.model_path = str(resolve_model_path(config.model_path))  # fail early, load lazily

    def warm_up(self, sources: Sequence[tuple[str, str]]) -> None:
        load_model(self.model_path)

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        """Top language and its probability for each text."""
        model = load_model(self.model_path)
        out: list[tuple[str, float]] = []
        size = self.config.batch_size
        for start in range(0, len(texts), size):
            lines = [fasttext_line(t, self.config.max_chars) for t in texts[start : start + size]]
            labels, scores = model.predict(lines, k=1)
            out.extend(
                (
                    label[0].removeprefix("__label__") if len(label) else "unknown",
                    float(score[0]) if len(score) else 0.0,
                )
                for label, score in zip(labels, scores, strict=True)
            )
        return out

    def annotate(self, table: pa.Table) -> pa.Table:
        kinds = table.column("kind").to_pylist()
        texts = table.column("text").to_pylist()
        prose = [i for i, kind in enumerate(kinds) if kind != "code"]
        predictions = dict(zip(prose, self.predict([texts[i] for i in prose]), strict=True))
        paths = table.column("path").to_pylist()
        metas = table.column("meta").to_pylist()
        given = table.column("lang").to_pylist()
        langs: list[str] = []
        scores: list[float | None] = []
        for i in range(table.num_rows):
            if i in predictions:
                lang, score = predictions[i]
                langs.append(lang)
                scores.append(round(score, 4))  # 4 digits: stable bytes across platforms
            else:
                langs.append(code_language(texts[i], paths[i], metas[i], given[i]))
                scores.append(None)
        table = table.set_column(table.schema.get_field_index("lang"), "lang", pa.array(langs))
        return table.set_column(
            table.schema.get_field_index("lang_score"),
            "lang_score",
            pa.array(scores, type=pa.float32()),
        )

    def reasons(self, table: pa.Table) -> list[str | None]:
        out: list[str | None] = []
        for kind, source, lang, score in zip(
            table.column("kind").to_pylist(),
            table.column("source").to_pylist(),
            table.column("lang").to_pylist(),
            table.column("lang_score").to_pylist(),
            strict=True,
        ):
            keep, min_score = self.config.rules_for(source)
            if kind == "code":
                out.append(None)
            elif keep and lang not in keep:
                out.append(NOT_KEPT)
            elif score is not None and np.float32(score) < np.float32(min_score):
                out.append(LOW_SCORE)
            else:
                out.append(None)
        return out
