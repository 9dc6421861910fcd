"""How well MinHash-LSH dedup finds real near duplicates, measured against exact Jaccard.

On `../shared/data/neardup/neardup.jsonl.gz` (real licence and copyright files, many nearly
identical) this computes the exact Jaccard similarity of word 5-gram sets for *every* pair of
documents (a sparse matrix product, so no sampling is needed), then reports per Jaccard band the
fraction of pairs that were LSH candidates (share a band) and that were merged (ended in the same
cluster, so one of them is dropped), next to the probability the b x r banding predicts.

    ../benchenv/bin/python bench/dedup_quality.py [--threshold 0.8] [--num-perm 128]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np
from scipy import sparse

from pipeline.dedup.config import DedupConfig
from pipeline.dedup.in_memory import plan_dedup
from pipeline.dedup.lsh import band_keys
from pipeline.dedup.lsh_params import collision_probability, lsh_shape
from pipeline.dedup.minhash import document_signatures
from pipeline.dedup.normalize import word_shingles

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "neardup" / "neardup.jsonl.gz"
EDGES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.0000001]


def jaccard_all_pairs(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact Jaccard of the word n-gram sets of every pair ``i < j``: (i, j, J)."""
    vocab: dict[bytes, int] = {}
    rows, cols = [], []
    for i, text in enumerate(texts):
        ids = {vocab.setdefault(s, len(vocab)) for s in word_shingles(text, n)}
        rows += [i] * len(ids)
        cols += sorted(ids)
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), np.int32), (rows, cols)), shape=(len(texts), len(vocab))
    )
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    inter = (matrix @ matrix.T).toarray()
    i, j = np.triu_indices(len(texts), k=1)
    union = sizes[i] + sizes[j] - inter[i, j]
    jac = np.where(union > 0, inter[i, j] / np.maximum(union, 1), 1.0)
    return i, j, jac


def candidate_matrix(keys: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Boolean matrix: documents ``i`` and ``j`` share at least one band key."""
    n = len(keys)
    share = np.zeros((n, n), bool)
    for band in range(keys.shape[1]):
        column = np.where(has, keys[:, band], np.arange(n, dtype=np.uint64) + np.uint64(2**63))
        _, inverse = np.unique(column, return_inverse=True)
        share |= inverse[:, None] == inverse[None, :]
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--num-perm", type=int, default=128)
    args = parser.parse_args()
    with gzip.open(DATA, "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle]
    config = DedupConfig(minhash={"threshold": args.threshold, "num_perm": args.num_perm})
    bands, rows = lsh_shape(config.minhash)
    started = time.perf_counter()
    plan = plan_dedup(texts, config)
    seconds = time.perf_counter() - started
    cluster = np.array([k if k is not None else i for i, k in enumerate(plan.dup_of)])
    signatures, counts = document_signatures(texts, ["web"] * len(texts), config.minhash)
    share = candidate_matrix(band_keys(signatures, bands, rows), counts > 0)
    i, j, jac = jaccard_all_pairs(texts, config.minhash.ngram)
    candidate = share[i, j]
    merged = cluster[i] == cluster[j]
    print(
        f"{len(texts)} documents, {len(i):,} pairs (all of them), b x r = {bands} x {rows}, "
        f"num_perm {args.num_perm}, threshold {args.threshold}; dedup took {seconds:.2f}s, "
        f"dropped {sum(r is not None for r in plan.reasons)} "
        f"({plan.reasons.count('exact_duplicate')} exact, "
        f"{plan.reasons.count('near_duplicate')} near)\n"
    )
    print(
        "| Jaccard | pairs | candidates (share a band) | merged (same cluster) | P(share) "
        "predicted at band middle |"
    )
    print("|---|---:|---:|---:|---:|")
    for lo, hi in zip(EDGES[:-1], EDGES[1:], strict=True):
        in_bin = (jac >= lo) & (jac < hi)
        count = int(in_bin.sum())
        if not count:
            continue
        label = "= 1.0" if lo == 1.0 else f"[{lo:.2f}, {hi:.2f})"
        mid = 1.0 if lo == 1.0 else (lo + hi) / 2
        predicted = float(collision_probability(mid, bands, rows))
        print(
            f"| {label} | {count:,} | {candidate[in_bin].mean():.2%} | "
            f"{merged[in_bin].mean():.2%} | {predicted:.2%} |"
        )
    for name, mask in (
        ("J >= 0.9", jac >= 0.9),
        ("J >= 0.8", jac >= 0.8),
        ("0.5 <= J < 0.8", (jac >= 0.5) & (jac < 0.8)),
        ("J < 0.5", jac < 0.5),
    ):
        print(
            f"\n{name}: {int(mask.sum()):,} pairs, {candidate[mask].mean():.2%} candidates, "
            f"{merged[mask].mean():.3%} merged",
            end="",
        )
    print()


if __name__ == "__main__":
    main()
