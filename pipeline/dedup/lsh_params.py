"""Bands x rows of MinHash LSH for a Jaccard threshold, chosen as datasketch chooses them.

Two documents with Jaccard similarity ``s`` share at least one of ``b`` bands of ``r`` rows with
probability ``P(s) = 1 - (1 - s**r)**b``. For a threshold ``t`` the false-positive area is
``integral_0^t P(s) ds`` and the false-negative area ``integral_t^1 (1 - P(s)) ds``; the pair
``(b, r)`` with ``b * r <= num_perm`` minimising ``w_fp * FP + w_fn * FN`` is used, scanning
``b`` then ``r`` upwards and keeping the first minimum, as ``datasketch.MinHashLSH`` does.

``P`` is a polynomial of degree ``b * r <= num_perm`` in ``s``, so Gauss-Legendre quadrature with
``num_perm // 2 + 1`` nodes integrates it exactly (up to rounding); no adaptive integrator needed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pipeline.dedup.config import MinHashConfig


def collision_probability(similarity: np.ndarray | float, bands: int, rows: int) -> np.ndarray:
    """Probability that two documents of Jaccard ``similarity`` share a band."""
    s = np.asarray(similarity, dtype=np.float64)
    return 1.0 - (1.0 - s**rows) ** bands


def _integral(
    lo: float,
    hi: float,
    nodes: np.ndarray,
    weights: np.ndarray,
    bands: np.ndarray,
    rows: np.ndarray,
    false_negative: bool,
) -> np.ndarray:
    """Integrals over ``[lo, hi]`` of ``P`` (or ``1 - P``) for every ``(bands, rows)`` pair."""
    s = (hi - lo) / 2.0 * nodes + (hi + lo) / 2.0  # nodes mapped from [-1, 1]
    miss = (1.0 - s[None, :] ** rows[:, None]) ** bands[:, None]  # 1 - P(s)
    values = miss if false_negative else 1.0 - miss
    return (hi - lo) / 2.0 * (values @ weights)


@lru_cache(maxsize=64)
def optimal_bands_rows(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5
) -> tuple[int, int]:
    """The ``(bands, rows)`` minimising weighted false positives + false negatives."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)])
    bands, rows = pairs[:, 0].astype(np.float64), pairs[:, 1].astype(np.float64)
    fp = _integral(0.0, threshold, nodes, weights, bands, rows, false_negative=False)
    fn = _integral(threshold, 1.0, nodes, weights, bands, rows, false_negative=True)
    error = false_positive_weight * fp + (1.0 - false_positive_weight) * fn
    best = int(np.argmin(error))  # the first minimum in (b, r) scan order
    return int(pairs[best, 0]), int(pairs[best, 1])


def lsh_shape(config: MinHashConfig) -> tuple[int, int]:
    """The ``(bands, rows)`` in use: the configured pair, or the optimum for the banding
    threshold (``threshold``, or below it when candidates are verified)."""
    if config.bands is not None and config.rows is not None:
        return config.bands, config.rows
    return optimal_bands_rows(
        config.banding_threshold(), config.num_perm, config.false_positive_weight
    )
