"""The `classifier` rule set: a trained fastText quality classifier scores every document.

DCLM's filter (Li et al. 2024, "DataComp-LM") and FineWeb-Edu's idea (Penedo et al. 2024) with a
fastText model (Joulin et al. 2017) that `gristmill quality-model train` fits on the user's own
good and bad documents (:mod:`pipeline.quality.classifier_train`). The signal is one column,
``quality_score``: the model's probability that the document is of the positive (good) class.

Two cuts, either or both: ``threshold`` (a probability) and ``percentile`` (drop the lowest
``percentile`` percent of the run's documents). A document's score never depends on the others,
so scoring is per document; the percentile is resolved over every scored document of the run
once all partitions are scored (:mod:`pipeline.steps.run_cut`), or over the table given when a
table is decided alone (:func:`pipeline.quality.stage.refilter`, a direct call of the stage).
Scores stay in the column, so a new threshold or percentile needs no model at all.

The model is loaded once per process (cached by path and modification time), so the rule set
pickles without it.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from pipeline.errors import UserFacingError
from pipeline.quality.config import ClassifierConfig
from pipeline.quality.rules import DocumentView, Rule, RuleSet

SCORE = "quality_score"
POSITIVE = "__label__positive"
NEGATIVE = "__label__negative"
#: Characters of a document prepared for the model (bounds the cost of a book)...
MAX_CHARS = 20_000
#: ...and the words of it the model reads: fastText reads at most 1024 words of one line (its
#: MAX_LINE_SIZE) and reads the rest as further lines without a label, which made training
#: fail with "Encountered NaN" on long documents.
MAX_WORDS = 1000
_SEPARATE = re.compile(r"([^\w\s])")
_SPACES = re.compile(r"[^\S\n]+")
_LOCK = threading.Lock()


class ClassifierModelError(UserFacingError):
    """The quality classifier's model is missing or not a fastText model."""


def model_text(text: str) -> str:
    """What the model reads of a document (in training and scoring alike): its first
    ``MAX_WORDS`` words (of its first ``MAX_CHARS`` characters), lower-cased, punctuation marks as
    words of their own, and each line end as the word ``<nl>`` (fastText reads one example per
    line; line structure tells a listing from prose)."""
    text = _SEPARATE.sub(r" \1 ", text[:MAX_CHARS].lower())
    return " ".join(_SPACES.sub(" ", text).replace("\n", " <nl> ").split()[:MAX_WORDS])


def load_classifier(path: str) -> Any:
    """Load a fastText classifier once per process (again if the file has changed)."""
    try:
        stat = Path(path).stat()
    except OSError:
        raise ClassifierModelError(f"{path}: quality classifier model not found") from None
    return _load(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> Any:
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None  # a warning on every load
    try:
        model = fasttext.load_model(path)
    except ValueError as error:
        raise ClassifierModelError(f"{path}: not a fastText model ({error})") from None
    if POSITIVE not in model.get_labels():
        raise ClassifierModelError(
            f"{path}: not a gristmill quality model (no {POSITIVE} label); "
            "train one with `gristmill quality-model train`"
        )
    return model


def score_texts(model: Any, texts: list[str]) -> np.ndarray:
    """Probability of the positive label for each text."""
    if not texts:
        return np.empty(0)
    labels, probs = model.predict([model_text(t) for t in texts], k=2)
    out = np.empty(len(texts))
    for i, (names, p) in enumerate(zip(labels, probs, strict=True)):
        got = dict(zip(names, p.tolist(), strict=True))
        out[i] = got[POSITIVE] if POSITIVE in got else 1.0 - got.get(NEGATIVE, 0.0)
    return np.clip(out, 0.0, 1.0)  # fastText's softmax can print 1.00001


def percentile_cut(scores: np.ndarray, percentile: float) -> float:
    """The score below which the lowest ``percentile`` percent of ``scores`` lie: the score of
    the first document kept, ``floor(n * percentile / 100)`` places up from the lowest (nulls
    ignored; ties at the cut are all kept)."""
    scores = np.sort(scores[~np.isnan(scores)])
    dropped = int(np.floor(scores.size * percentile / 100 + 1e-9))
    if dropped == 0:
        return float("-inf")
    if dropped >= scores.size:
        return float("inf")
    return float(scores[dropped])


class Classifier(RuleSet):
    """One signal, ``quality_score``; one rule, ``classifier_low_score``."""

    name: ClassVar[str] = "classifier"

    def __init__(self, config: ClassifierConfig, cut: float | None = None) -> None:
        self.config = config
        #: the percentile's score, once resolved over a table (:meth:`resolved`)
        self.cut = cut

    def signals(self) -> dict[str, pa.DataType]:
        return {SCORE: pa.float64()}

    def model(self) -> Any:
        if not self.config.model:
            raise ClassifierModelError(
                "quality.classifier.model: the `classifier` rule set needs a model "
                "(train one with `gristmill quality-model train`)"
            )
        return load_classifier(str(Path(self.config.model).expanduser()))

    def measure(self, doc: DocumentView) -> dict[str, Any]:
        model = self.model()
        with _LOCK:  # one fastText model object, used by one thread at a time
            score = score_texts(model, [doc.text])[0]
        return {SCORE: round(float(score), 6)}

    def resolved(self, scores: np.ndarray) -> Classifier:
        """This rule set with its percentile turned into a score over ``scores``."""
        if self.config.percentile is None:
            return self
        return Classifier(self.config, percentile_cut(scores, self.config.percentile))

    def effective_threshold(self) -> float | None:
        """The score a document must reach: the higher of the threshold and the percentile's
        score (None: no cut)."""
        cuts = [c for c in (self.config.threshold, self.cut) if c is not None]
        if self.config.percentile is not None and self.cut is None:
            # not resolved over a table yet: the percentile alone cannot decide one document
            cuts = [c for c in (self.config.threshold,) if c is not None]
        return max(cuts) if cuts else None

    def rules(self) -> list[Rule]:
        threshold = self.effective_threshold()
        # "min" fails strictly below: a percentile's own score is kept, as is the threshold's.
        return [Rule("classifier_low_score", SCORE, "min", threshold)]
