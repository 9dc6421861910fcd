"""Speed of the `plm` (XLNet permutation LM) builder, and of plm batches from shards against
transformers' `DataCollatorForPermutationLanguageModeling` making them on the fly.

All in one process on one thread (``torch.set_num_threads(1)``, one thread for BLAS and the
tokenizer), so every rate is per core:

1. **Builder**: input tokens/s of the `plm` row builder on documents encoded beforehand, fed in
   batches of 256 documents as `build_shards` feeds them (median of three passes), and of the
   whole shards stage (`build_shards`: read Parquet, encode, build, write Arrow, hash), once.
2. **Batches** of 32 x 128: ours, the pre-built shards through the trainer's loader (`ShardDataset`
   + `StepBatchSampler` in the trainer's `DataLoader`, num_workers 0), alone and followed by what
   the trainer does per batch, `two_stream_masks` (the content- and query-stream masks from
   `perm_index`); theirs, the collator in a shuffled `DataLoader` (batch size 32, num_workers 0)
   over the same rows unmasked (`input_ids` only, as `run_plm.py` leaves them after grouping texts),
   held as Python lists and again in a `datasets.Dataset`. The collator returns `input_ids`,
   `perm_mask` and `target_mapping` (two float 128 x 128 matrices per row) and `labels`. The sides
   alternate, the median of the rounds is reported.

Corpus and tokenizer as in `bench/objective_speed.py` (the books and web pages of
``../shared/data``, else a generated corpus; WordPiece, 8000). transformers is not a gristmill
dependency: put a copy on the path for this script only.

    PYTHONPATH=$PWD:/path/to/transformers .venv/bin/python bench/plm_speed.py \
        [--data ../shared/data] [--book-chars 300000] [--batches 300] [--rounds 5]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["RAYON_RS_NUM_CPUS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import datasets  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402
from objective_speed import bench_documents, hf_tokenizer, timed, write_corpus  # noqa: E402
from quality_corpus import DEFAULT_DATA  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from pipeline.objectives.base import vocab_of  # noqa: E402
from pipeline.objectives.registry import get_objective  # noqa: E402
from pipeline.shards.build import build_shards  # noqa: E402
from pipeline.shards.config import ShardsConfig  # noqa: E402
from pipeline.tokenizer import TokenizerConfig, train_tokenizer  # noqa: E402
from trainer.loop import train_loader  # noqa: E402
from trainer.objectives import get_objective as get_train_objective  # noqa: E402
from trainer.objectives.plm import two_stream_masks  # noqa: E402
from trainer.sampler import StepBatchSampler  # noqa: E402
from trainer.shards import ShardDataset  # noqa: E402

BATCH = 32
SEQ_LEN = 128
SEED = 1234


def bench_builder(corpus: Path, tokenizer_path: Path, out: Path) -> dict[str, Any]:
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    vocab = vocab_of(tokenizer)
    table = pq.read_table(corpus)
    ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
    encoded = [
        np.asarray(e.ids, dtype=np.int32)
        for e in tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    ]
    batches = [(encoded[i : i + 256], ids[i : i + 256]) for i in range(0, len(encoded), 256)]
    tokens = sum(len(t) for t in encoded)
    config = ShardsConfig(objectives=["plm"], val_fraction=0.0, plm={"seq_len": SEQ_LEN})
    settings = config.objective_config("plm")
    objective = get_objective("plm")

    def build() -> int:
        builder = objective.builder(settings, SEED, vocab)
        return sum(builder.add(t, d).num_rows for t, d in batches) + builder.finish().num_rows

    runs = [timed(build) for _ in range(3)]
    seconds = statistics.median(s for s, _ in runs)
    stage_seconds, _ = timed(lambda: build_shards([corpus], tokenizer_path, out, config))
    result = {
        "tokens": tokens,
        "rows": runs[0][1],
        "tokens_per_s": tokens / seconds,
        "stage_tokens_per_s": tokens / stage_seconds,
    }
    print(f"[builder] {result}")
    return result


def forever(loader: DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    while True:
        yield from loader


def rate(loader: DataLoader, batches: int, masks: bool = False) -> float:
    """Tokens/s of `batches` batches; with `masks`, the trainer's two-stream masks built too."""
    stream = forever(loader)
    next(stream)
    started = time.perf_counter()
    for _ in range(batches):
        batch = next(stream)
        if masks:
            two_stream_masks(batch["perm_index"], batch["labels"], batch["attention_mask"])
    seconds = time.perf_counter() - started
    assert batch["input_ids"].shape == (BATCH, SEQ_LEN), batch["input_ids"].shape
    return batches * BATCH * SEQ_LEN / seconds


def bench_batches(shards: Path, tokenizer_path: Path, batches: int, rounds: int) -> dict:
    from transformers import DataCollatorForPermutationLanguageModeling

    dataset = ShardDataset(shards, "train", columns=get_train_objective("plm").columns)
    sampler = StepBatchSampler(len(dataset), seed=SEED, batch_size=BATCH)
    ours = train_loader(dataset, sampler, num_workers=0, seed=SEED, pin=False)
    arrays = ShardDataset(shards, "train").arrays
    examples = [{"input_ids": arrays.row(i)["input_ids"].tolist()} for i in range(len(arrays))]
    collator = DataCollatorForPermutationLanguageModeling(hf_tokenizer(tokenizer_path))

    def theirs(source: Any) -> DataLoader:
        return DataLoader(
            source,
            batch_size=BATCH,
            shuffle=True,
            num_workers=0,
            drop_last=True,
            collate_fn=collator,
            generator=torch.Generator().manual_seed(SEED),
        )

    lists, arrow = theirs(examples), theirs(datasets.Dataset.from_list(examples))
    rates: dict[str, list[float]] = {"ours": [], "ours_masks": [], "lists": [], "arrow": []}
    for _ in range(rounds):
        rates["ours"].append(rate(ours, batches))
        rates["ours_masks"].append(rate(ours, batches, masks=True))
        rates["lists"].append(rate(lists, max(1, batches // 4)))
        rates["arrow"].append(rate(arrow, max(1, batches // 4)))
    result = {"rows": len(examples), **{k: statistics.median(v) for k, v in rates.items()}}
    print(f"[batches] {result}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--book-chars", type=int, default=300_000, help="characters per book")
    parser.add_argument("--batches", type=int, default=300, help="our batches per timed pass")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="gristmill-plm-speed-") as tmp:
        work = Path(tmp)
        documents, source = bench_documents(args.data, args.book_chars)
        corpus = write_corpus(documents, work / "docs.parquet")
        tokenizer_path = work / "tokenizer.json"
        train_tokenizer([corpus], tokenizer_path, TokenizerConfig())
        builder = bench_builder(corpus, tokenizer_path, work / "shards")
        batches = bench_batches(work / "shards" / "plm", tokenizer_path, args.batches, args.rounds)

    import transformers

    print()
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, "
        f"one thread used; Python {platform.python_version()}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}, datasets {datasets.__version__}."
    )
    print(f"Corpus: {source}; {len(documents):,} documents, {builder['tokens']:,} tokens.")
    print()
    print("| builder | rows | builder tokens/s | stage tokens/s (encode + build + write) |")
    print("|---|---:|---:|---:|")
    print(
        f"| plm | {builder['rows']:,} | {builder['tokens_per_s']:,.0f} | "
        f"{builder['stage_tokens_per_s']:,.0f} |"
    )
    print()
    print(
        "| plm batches (32 x 128) | ours: loader | ours: loader + two-stream masks | "
        "collator on lists | ours+masks / theirs | collator on a datasets.Dataset | "
        "ours+masks / theirs |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    b = batches
    print(
        f"| tokens/s ({b['rows']:,} rows) | {b['ours']:,.0f} | {b['ours_masks']:,.0f} | "
        f"{b['lists']:,.0f} | {b['ours_masks'] / b['lists']:.1f}x | {b['arrow']:,.0f} | "
        f"{b['ours_masks'] / b['arrow']:.1f}x |"
    )


if __name__ == "__main__":
    main()
