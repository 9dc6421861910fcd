"""The language-ID stage: fastText lid.176 writes `lang` and `lang_score` on every document.

Natural-language documents are normalised as fastText expects (newlines to spaces), cut to
`max_chars`, and predicted in one batch per partition. Code is not sent through natural-language
ID: its `lang` is its programming language, guessed from the file extension.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import ClassVar

import pyarrow as pa

from pipeline.langid.config import LangIDConfig
from pipeline.langid.model import load_model, resolve_model_path
from pipeline.stage import FilterStage

CODE_EXTENSIONS = {
    ".py": "python", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp",
    ".js": "javascript", ".mjs": "javascript", ".ts": "typescript", ".java": "java",
    ".go": "go", ".rs": "rust", ".rb": "ruby", ".pl": "perl", ".pm": "perl", ".sh": "shell",
    ".tcl": "tcl", ".awk": "awk", ".lua": "lua", ".php": "php", ".sql": "sql",
}


def code_language(path: str | None, meta: str | None) -> str:
    """Programming language of a code document: `meta.language` if given, else its extension."""
    if meta:
        try:
            language = json.loads(meta).get("language")
        except (ValueError, AttributeError):
            language = None
        if isinstance(language, str) and language:
            return language.lower()
    suffix = PurePosixPath(path or "").suffix.lower()
    return CODE_EXTENSIONS.get(suffix, "unknown")


class LangIDStage(FilterStage):
    """Predicts each document's language; drops those outside the keep-list or below min_score."""

    name: ClassVar[str] = "langid"

    def __init__(self, config: LangIDConfig) -> None:
        super().__init__(config.keep)
        self.config = config
        self.model_path = str(resolve_model_path(config.model_path))  # fail early, load lazily

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        """Top language and its probability for each text."""
        if not texts:
            return []
        model = load_model(self.model_path)
        lines = [" ".join(t[: self.config.max_chars].split()) for t in texts]
        labels, scores = model.predict(lines, k=1)
        return [
            (label[0].removeprefix("__label__") if label else "unknown",
             float(score[0]) if len(score) else 0.0)
            for label, score in zip(labels, scores, strict=True)
        ]

    def annotate(self, table: pa.Table) -> pa.Table:
        kinds = table.column("kind").to_pylist()
        texts = table.column("text").to_pylist()
        prose = [i for i, kind in enumerate(kinds) if kind != "code"]
        predictions = dict(zip(prose, self.predict([texts[i] for i in prose]), strict=True))
        paths = table.column("path").to_pylist()
        metas = table.column("meta").to_pylist()
        langs: list[str] = []
        scores: list[float | None] = []
        for i in range(table.num_rows):
            if i in predictions:
                lang, score = predictions[i]
                langs.append(lang)
                scores.append(round(score, 4))  # 4 digits: stable bytes across platforms
            else:
                langs.append(code_language(paths[i], metas[i]))
                scores.append(None)
        table = table.set_column(table.schema.get_field_index("lang"), "lang", pa.array(langs))
        return table.set_column(
            table.schema.get_field_index("lang_score"), "lang_score",
            pa.array(scores, type=pa.float32()),
        )

    def reasons(self, table: pa.Table) -> list[str | None]:
        keep = set(self.config.languages)
        out: list[str | None] = []
        for kind, lang, score in zip(
            table.column("kind").to_pylist(),
            table.column("lang").to_pylist(),
            table.column("lang_score").to_pylist(),
            strict=True,
        ):
            if kind == "code":
                out.append(None)
            elif keep and lang not in keep:
                out.append("lang_not_kept")
            elif score is not None and score < self.config.min_score:
                out.append("lang_low_score")
            else:
                out.append(None)
        return out
