"""Speed of the objective builders, and of batches from shards against batches made on the fly.

Four measurements, all in one process pinned to one core (``torch.set_num_threads(1)``, one
thread for numpy's BLAS and the Rust tokenizer), so every rate is a rate per core:

1. **Builders**: input tokens/s of each data-side objective's row builder (``mlm``, ``mlm`` with
   ``whole_word``, ``clm``, ``nsp`` and its ``sop`` variant, ``span``, ``denoise``) on documents
   tokenized beforehand
   (untimed), batch by batch as ``build_shards`` feeds them (median of three passes); and
   tokens/s of the whole shards stage (``build_shards``: read Parquet, encode, build, write
   Arrow, hash) for each.
2. **Batches**: 32-row batches of 128 tokens, as the trainer's loader makes them from the
   pre-built shards (``ShardDataset`` + ``StepBatchSampler`` in a ``DataLoader``, num_workers 0),
   against transformers' ``DataCollatorForLanguageModeling`` in a ``DataLoader`` (batch size 32,
   shuffled, num_workers 0) building the same batches from tokenized examples: the same rows,
   unmasked, as ``run_mlm.py`` / ``run_clm.py`` leave them after grouping texts into blocks
   (``input_ids``, ``attention_mask``, and ``special_tokens_mask`` for MLM, which ``run_mlm.py``
   asks the tokenizer for), held as Python lists in memory, the cheapest source the collator can
   have, and again held in a ``datasets.Dataset`` (Arrow, as ``Trainer`` users hold them; a
   quarter as many batches per pass, as it is slower). MLM mode masks 15% at run time; causal
   mode (``mlm=False``) copies ``input_ids`` to ``labels`` with padding ignored. The sides
   alternate (ours, theirs, ours, ...), and the median of the rounds is reported.
3. **Consumption**: tokens/s that the trainer's default model (2 layers, d_model 128) trains on
   the CPU with one thread (forward, backward, AdamW step) on the same batches, encoder for MLM
   and decoder for CLM: the loader is never the bottleneck while its rate is far above this one.
4. **Span batches**: 32-row span-corruption batches (128 inputs, 29 targets) from the ``span``
   shards through ``ShardDataset`` in a ``DataLoader`` (as 2.), against the same raw chunks of
   141 tokens corrupted on the fly in the ``DataLoader``'s collate function by a plain numpy port
   of T5's ``random_spans_noise_mask`` and its sentinel functions (``t5_noise_mask`` below),
   padded and made tensors. Alternating, median of the rounds.

The corpus is the books (pages of about 3000 characters) and the web pages of
``../shared/data`` when present, else a generated corpus; the tokenizer is a WordPiece
vocabulary of 8000 trained on it with ``pipeline.tokenizer.train_tokenizer``. transformers is
not a gristmill dependency: put a copy on the path for this script only.

    PYTHONPATH=$PWD:/path/to/transformers .venv/bin/python bench/objective_speed.py \
        [--data ../shared/data] [--book-chars 600000] [--batches 500] [--rounds 5]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["RAYON_RS_NUM_CPUS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import datasets  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from quality_corpus import DEFAULT_DATA, book_pages, web_pages  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from pipeline.objectives.base import Objective, vocab_of  # noqa: E402
from pipeline.objectives.registry import get_objective  # noqa: E402
from pipeline.objectives.span import FIRST_SENTINEL_ID, SpanConfig  # noqa: E402
from pipeline.shards.build import build_shards  # noqa: E402
from pipeline.shards.config import ShardsConfig  # noqa: E402
from pipeline.shards.format import (  # noqa: E402
    EOS_ID,
    FIRST_REGULAR_ID,
    IGNORE_INDEX,
    PAD_ID,
    SPECIAL_IDS,
)
from pipeline.tokenizer import TokenizerConfig, train_tokenizer  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.loop import build_optimizer, model_config_for, train_loader  # noqa: E402
from trainer.model import TransformerLM  # noqa: E402
from trainer.objectives import get_objective as get_train_objective  # noqa: E402
from trainer.sampler import StepBatchSampler  # noqa: E402
from trainer.shards import ShardDataset, load_manifest  # noqa: E402

BATCH = 32
SEQ_LEN = 128
SEED = 1234
SPAN_COLUMNS = ("input_ids", "attention_mask", "labels", "decoder_attention_mask")
#: name in the tables -> (data-side objective, its settings)
BUILDS: dict[str, tuple[str, dict[str, Any]]] = {
    "mlm": ("mlm", {"seq_len": SEQ_LEN}),
    "mlm whole-word": ("mlm", {"seq_len": SEQ_LEN, "whole_word": True}),
    "clm": ("clm", {"seq_len": SEQ_LEN}),
    "nsp": ("nsp", {"seq_len": SEQ_LEN}),
    "sop": ("nsp", {"seq_len": SEQ_LEN, "sop": True}),
    "span": ("span", {"inputs_length": SEQ_LEN}),
    "denoise": ("denoise", {"seq_len": SEQ_LEN}),
}


def generated_corpus(docs: int = 3000) -> list[tuple[str, str]]:
    """(id, text) of synthetic prose: Zipf-distributed words of random letters."""
    rng = random.Random(SEED)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(20000)]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    out = []
    for d in range(docs):
        sentences = [
            " ".join(rng.choices(words, weights, k=rng.randint(5, 25))).capitalize() + "."
            for _ in range(rng.randint(5, 60))
        ]
        out.append((f"gen:{d}", " ".join(sentences)))
    return out


def bench_documents(data: Path, book_chars: int) -> tuple[list[tuple[str, str]], str]:
    """The benchmarks' documents (id, text) and where they came from: the books (first
    ``book_chars`` characters each, as pages) and web pages of ``data``, else a generated
    corpus; blank documents left out."""
    if (data / "books").is_dir() and (data / "web").is_dir():
        documents = book_pages(data, book_chars) + web_pages(data)
        source = f"{data}: books (first {book_chars:,} chars each) + web pages"
    else:
        documents = generated_corpus()
        source = "generated corpus"
    return [(i, t) for i, t in documents if t and t.strip()], source


def write_corpus(documents: list[tuple[str, str]], path: Path) -> Path:
    ids, texts = zip(*documents, strict=True)
    pq.write_table(pa.table({"id": list(ids), "text": list(texts)}), path)
    return path


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def shards_config(name: str) -> Any:
    objective, settings = BUILDS[name]
    # No validation split: every row goes to train, so all sides see the same rows.
    return ShardsConfig(objectives=[objective], val_fraction=0.0, **{objective: settings})


def bench_builders(corpus: Path, tokenizer_path: Path, out: Path) -> list[dict[str, Any]]:
    """Builder tokens/s on pre-encoded documents, and the whole stage's tokens/s."""
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
    batches = [
        (encoded[i : i + 256], ids[i : i + 256]) for i in range(0, len(encoded), 256)
    ]  # as build_shards feeds its builders (encode_batch_docs 256)
    tokens = sum(len(t) for t in encoded)
    rows = []
    for name in BUILDS:
        config = shards_config(name)
        objective_name = config.objectives[0]
        objective = get_objective(objective_name)
        settings = config.objective_config(objective_name)

        def build(objective: Objective = objective, settings: BaseModel = settings) -> int:
            builder = objective.builder(settings, SEED, vocab)
            made = sum(builder.add(t, d).num_rows for t, d in batches)
            return made + builder.finish().num_rows

        runs = [timed(build) for _ in range(3)]
        seconds, built = statistics.median(s for s, _ in runs), runs[0][1]
        stage_seconds, _ = timed(
            lambda config=config, name=name: build_shards(
                [corpus], tokenizer_path, out / name.replace(" ", "-"), config
            )
        )
        rows.append(
            {
                "name": name,
                "tokens": tokens,
                "rows": built,
                "seconds": seconds,
                "tokens_per_s": tokens / seconds,
                "stage_seconds": stage_seconds,
                "stage_tokens_per_s": tokens / stage_seconds,
            }
        )
        print(f"[builders] {name}: {tokens / seconds:,.0f} tokens/s, stage {stage_seconds:.1f} s")
    return rows


def hf_tokenizer(tokenizer_path: Path) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_path),
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        bos_token="[BOS]",
        eos_token="[EOS]",
        model_max_length=SEQ_LEN,
    )


def hf_examples(shards_dir: Path, objective: str) -> list[dict[str, list[int]]]:
    """The shards' rows as tokenized examples: unmasked ids (MLM: original tokens restored from
    `labels`), `attention_mask`, and for MLM the `special_tokens_mask` run_mlm.py asks for."""
    dataset = ShardDataset(shards_dir, "train")
    arrays = dataset.arrays
    examples = []
    special = set(SPECIAL_IDS.values())
    for index in range(len(arrays)):
        row = arrays.row(index)
        ids = row["input_ids"]
        if objective == "mlm":
            labels = row["labels"]
            ids = np.where(labels != IGNORE_INDEX, labels, ids)
        ids_list = ids.tolist()
        example = {"input_ids": ids_list, "attention_mask": row["attention_mask"].tolist()}
        if objective == "mlm":
            example["special_tokens_mask"] = [int(i in special) for i in ids_list]
        examples.append(example)
    dataset.arrays.close()
    return examples


def our_loader(shards_dir: Path, objective: str) -> DataLoader:
    """The trainer's loader (trainer/loop.py), num_workers 0, CPU."""
    columns = get_train_objective(objective).columns
    dataset = ShardDataset(shards_dir, "train", columns=columns)
    sampler = StepBatchSampler(len(dataset), seed=SEED, batch_size=BATCH)
    return train_loader(dataset, sampler, num_workers=0, seed=SEED, pin=False)


def hf_loader(examples: Any, tokenizer: Any, mlm: bool) -> DataLoader:
    """The collator in a shuffled DataLoader over `examples` (a list of dicts, or a
    `datasets.Dataset`, which hands the DataLoader rows decoded from Arrow)."""
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(tokenizer, mlm=mlm, mlm_probability=0.15)
    return DataLoader(
        examples,
        batch_size=BATCH,
        shuffle=True,
        num_workers=0,
        drop_last=True,
        collate_fn=collator,
        generator=torch.Generator().manual_seed(SEED),
    )


def forever(loader: DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    while True:
        yield from loader


def batches_per_s(loader: DataLoader, batches: int) -> float:
    stream = forever(loader)
    next(stream)  # warm up
    started = time.perf_counter()
    for _ in range(batches):
        batch = next(stream)
    seconds = time.perf_counter() - started
    assert batch["input_ids"].shape == (BATCH, SEQ_LEN), batch["input_ids"].shape
    return batches / seconds


def bench_loaders(
    out: Path, tokenizer_path: Path, batches: int, rounds: int
) -> list[dict[str, Any]]:
    tokenizer = hf_tokenizer(tokenizer_path)
    rows = []
    for objective, folder in (("mlm", "mlm/mlm"), ("clm", "clm/clm")):
        shards = out / folder
        examples = hf_examples(shards, objective)
        ours = our_loader(shards, objective)
        theirs = hf_loader(examples, tokenizer, mlm=objective == "mlm")
        arrow = hf_loader(datasets.Dataset.from_list(examples), tokenizer, objective == "mlm")
        rates: dict[str, list[float]] = {"ours": [], "theirs": [], "theirs_arrow": []}
        for _ in range(rounds):
            rates["ours"].append(batches_per_s(ours, batches))
            rates["theirs"].append(batches_per_s(theirs, batches))
            rates["theirs_arrow"].append(batches_per_s(arrow, batches // 4))
        rows.append(
            {
                "objective": objective,
                "rows": len(examples),
                **{k: statistics.median(v) * BATCH * SEQ_LEN for k, v in rates.items()},
                "model": model_tokens_per_s(shards, objective, ours),
            }
        )
        print(f"[loaders] {rows[-1]}")
    return rows


def model_tokens_per_s(shards: Path, objective: str, loader: DataLoader, steps: int = 12) -> float:
    """Tokens/s the trainer's default tiny model trains on, on the CPU: forward, backward, AdamW."""
    torch.manual_seed(SEED)
    config = TrainConfig(objective=objective, batch_size=BATCH, device="cpu")
    train_objective = get_train_objective(objective)
    model = TransformerLM(model_config_for(load_manifest(shards), config, train_objective))
    optimizer = build_optimizer(model, config)
    batches = forever(loader)
    fixed = [next(batches) for _ in range(steps + 2)]

    def step(batch: dict[str, torch.Tensor]) -> None:
        output = train_objective.loss(model, {c: batch[c] for c in train_objective.columns})
        optimizer.zero_grad(set_to_none=True)
        output.total.backward()
        optimizer.step()

    for batch in fixed[:2]:
        step(batch)
    seconds, _ = timed(lambda: [step(b) for b in fixed[2:]])
    return steps * BATCH * SEQ_LEN / seconds


def t5_noise_mask(
    length: int, noise_density: float, mean_noise_span_length: float, rng: np.random.Generator
) -> np.ndarray:
    """T5's ``random_spans_noise_mask`` (Raffel et al. 2020), step for step in plain numpy: the
    noise and non-noise counts, two random segmentations by shuffling a boundary indicator, the
    interleaved span lengths, and the mask from the span starts."""
    original_length = length
    length = max(length, 2)
    num_noise_tokens = min(max(int(np.round(length * noise_density)), 1), length - 1)
    num_noise_spans = max(int(np.round(num_noise_tokens / mean_noise_span_length)), 1)
    num_nonnoise_tokens = length - num_noise_tokens

    def random_segmentation(num_items: int, num_segments: int) -> np.ndarray:
        boundary = np.arange(num_items - 1) < num_segments - 1
        rng.shuffle(boundary)
        segment_id = np.cumsum(np.concatenate([[0], boundary]))
        return np.bincount(segment_id)

    noise_lengths = random_segmentation(num_noise_tokens, num_noise_spans)
    nonnoise_lengths = random_segmentation(num_nonnoise_tokens, num_noise_spans)
    interleaved = np.stack([nonnoise_lengths, noise_lengths], axis=1).reshape(-1)
    span_start = np.zeros(length, dtype=np.int64)
    span_start[np.cumsum(interleaved)[:-1]] = 1
    return (np.cumsum(span_start) % 2 == 1)[:original_length]


def t5_sentinels(tokens: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """T5's ``noise_span_to_unique_sentinel`` in numpy, with our sentinel ids."""
    previous = np.concatenate([[False], noise[:-1]])
    first = noise & ~previous
    out = np.where(first, FIRST_SENTINEL_ID + np.cumsum(first) - 1, tokens)
    return out[~(noise & previous)]


def t5_collate(config: SpanConfig, seed: int) -> Callable[[list[np.ndarray]], dict[str, Any]]:
    """A collate function that corrupts raw chunks on the fly, pads them and makes tensors."""
    rng = np.random.default_rng(seed)
    n_in, n_out = config.inputs_length, config.targets_length

    def collate(chunks: list[np.ndarray]) -> dict[str, Any]:
        input_ids = np.full((len(chunks), n_in), PAD_ID, dtype=np.int64)
        labels = np.full((len(chunks), n_out), IGNORE_INDEX, dtype=np.int64)
        for r, chunk in enumerate(chunks):
            noise = t5_noise_mask(
                len(chunk), config.noise_density, config.mean_noise_span_length, rng
            )
            inputs = t5_sentinels(chunk, noise)
            targets = t5_sentinels(chunk, ~noise)
            input_ids[r, : len(inputs)], input_ids[r, len(inputs)] = inputs, EOS_ID
            labels[r, : len(targets)], labels[r, len(targets)] = targets, EOS_ID
        return {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy((input_ids != PAD_ID).astype(np.int64)),
            "labels": torch.from_numpy(labels),
            "decoder_attention_mask": torch.from_numpy((labels != IGNORE_INDEX).astype(np.int64)),
        }

    return collate


def span_chunks(shards_dir: Path) -> list[np.ndarray]:
    """The raw chunks of the span shards: inputs and targets interleaved at the sentinels."""
    dataset = ShardDataset(shards_dir, "train", columns=SPAN_COLUMNS)
    chunks = []
    for index in range(len(dataset.arrays)):
        row = dataset.arrays.row(index)
        inputs = row["input_ids"][row["attention_mask"] == 1][:-1]
        targets = row["labels"][row["decoder_attention_mask"] == 1][:-1]
        is_sentinel = (targets >= FIRST_SENTINEL_ID) & (targets < FIRST_REGULAR_ID)
        spans = np.split(targets, np.flatnonzero(is_sentinel)[1:])
        by_sentinel = {int(span[0]): span[1:] for span in spans}
        pieces = [by_sentinel.get(int(t), np.array([t])) for t in inputs]
        chunks.append(np.concatenate(pieces).astype(np.int64))
    dataset.arrays.close()
    return chunks


def bench_span(out: Path, batches: int, rounds: int) -> dict[str, Any]:
    """Span batches from our shards against the numpy T5 port on the fly, alternating."""
    shards = out / "span" / "span"
    config = SpanConfig(inputs_length=SEQ_LEN)
    chunks = span_chunks(shards)
    dataset = ShardDataset(shards, "train", columns=SPAN_COLUMNS)
    ours = train_loader(
        dataset,
        StepBatchSampler(len(dataset), seed=SEED, batch_size=BATCH),
        num_workers=0,
        seed=SEED,
        pin=False,
    )
    theirs = DataLoader(
        chunks,  # type: ignore[arg-type]
        batch_size=BATCH,
        shuffle=True,
        num_workers=0,
        drop_last=True,
        collate_fn=t5_collate(config, SEED),
        generator=torch.Generator().manual_seed(SEED),
    )
    rates: dict[str, list[float]] = {"ours": [], "theirs": []}
    for _ in range(rounds):
        rates["ours"].append(batches_per_s(ours, batches))
        rates["theirs"].append(batches_per_s(theirs, batches))
    row = {
        "rows": len(chunks),
        "raw_length": config.raw_length,
        "targets_length": config.targets_length,
        **{k: statistics.median(v) * BATCH * SEQ_LEN for k, v in rates.items()},
    }
    print(f"[span] {row}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--book-chars", type=int, default=600_000, help="characters per book")
    parser.add_argument("--batches", type=int, default=500, help="batches per timed pass")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="gristmill-objective-speed-") as tmp:
        work = Path(tmp)
        documents, source = bench_documents(args.data, args.book_chars)
        corpus = write_corpus(documents, work / "docs.parquet")
        chars = sum(len(t) for _, t in documents)
        print(f"corpus: {source}: {len(documents):,} documents, {chars:,} characters")
        tokenizer_path = work / "tokenizer.json"
        info = train_tokenizer([corpus], tokenizer_path, TokenizerConfig())
        print(f"tokenizer: {info}")

        builders = bench_builders(corpus, tokenizer_path, work)
        loaders = bench_loaders(work, tokenizer_path, args.batches, args.rounds)
        span = bench_span(work, args.batches, args.rounds)

    import transformers

    print()
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, "
        f"one thread used; Python {platform.python_version()}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}, datasets {datasets.__version__}."
    )
    print(f"Corpus: {source}; {len(documents):,} documents, {builders[0]['tokens']:,} tokens.")
    print()
    print("| builder | rows | builder tokens/s | stage tokens/s (encode + build + write) |")
    print("|---|---:|---:|---:|")
    for row in builders:
        print(
            f"| {row['name']} | {row['rows']:,} | {row['tokens_per_s']:,.0f} | "
            f"{row['stage_tokens_per_s']:,.0f} |"
        )
    print()
    print(
        "| batches (32 x 128) | ours: shards + trainer loader, tokens/s | collator on lists, "
        "tokens/s | ours / theirs | collator on a datasets.Dataset, tokens/s | ours / theirs | "
        "tiny model trains, tokens/s | our loader / model |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in loaders:
        print(
            f"| {row['objective']} ({row['rows']:,} rows) | {row['ours']:,.0f} | "
            f"{row['theirs']:,.0f} | {row['ours'] / row['theirs']:.1f}x | "
            f"{row['theirs_arrow']:,.0f} | {row['ours'] / row['theirs_arrow']:.1f}x | "
            f"{row['model']:,.0f} | {row['ours'] / row['model']:.0f}x |"
        )

    print()
    print(
        f"| span batches (32 x {SEQ_LEN} inputs, {span['targets_length']} targets) | ours: "
        "shards + loader, input tokens/s | numpy T5 port on the fly, input tokens/s | "
        "ours / theirs |"
    )
    print("|---|---:|---:|---:|")
    print(
        f"| span ({span['rows']:,} chunks of {span['raw_length']}) | {span['ours']:,.0f} | "
        f"{span['theirs']:,.0f} | {span['ours'] / span['theirs']:.1f}x |"
    )


if __name__ == "__main__":
    main()
