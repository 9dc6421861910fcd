"""Tokenizer training, MLM rows and objective shards, on a small corpus the tests build."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset
from tokenizers import Tokenizer

from pipeline.objectives.mlm import (
    CLS_ID,
    IGNORE_INDEX,
    MASK_ID,
    PAD_ID,
    SEP_ID,
    MLMConfig,
    mlm_rows,
    mlm_rows_batch,
)
from pipeline.schema import doc_id, documents_to_table
from pipeline.shards import ShardsConfig, build_shards, is_val_doc
from pipeline.tokenizer import SPECIAL_TOKENS, TokenizerConfig, train_tokenizer
from pipeline.tokenizer.config import FIRST_REGULAR_ID, SPECIAL_IDS

REPO = Path(__file__).resolve().parents[1]

WORDS = (
    "the",
    "a",
    "miller",
    "ground",
    "grain",
    "into",
    "flour",
    "while",
    "river",
    "water",
    "turned",
    "wheel",
    "stone",
    "every",
    "morning",
    "baker",
    "bought",
    "sacks",
    "of",
    "fine",
    "white",
    "bread",
    "rose",
    "slowly",
    "in",
    "warm",
    "ovens",
    "children",
    "carried",
    "baskets",
    "along",
    "dusty",
    "road",
    "toward",
    "market",
    "where",
    "merchants",
    "sold",
    "apples",
    "cheese",
    "honey",
    "and",
    "bright",
    "cloth",
    "under",
    "striped",
    "awnings",
    "until",
    "evening",
    "bells",
    "rang",
    "across",
    "quiet",
    "valley",
    "farmers",
    "counted",
    "coins",
    "returned",
    "home",
    "singing",
    "old",
    "songs",
)
EMPTY_TEXTS = ("", "   ", "\n\t")


def sentences(rng: random.Random, n: int) -> str:
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 14))]
        out.append(" ".join(words).capitalize() + rng.choice([".", ".", "!", "?"]))
    return " ".join(out)


def write_corpus(folder: Path) -> list[Path]:
    """Two Parquet files: ~400 short documents, a few long ones, three with no tokens."""
    rng = random.Random(1234)
    files = []
    for part in range(2):
        docs = []
        for i in range(200):
            n = 40 if i % 50 == 7 else rng.randint(1, 4)  # a few documents span several rows
            docs.append(
                {
                    "id": doc_id("fixture", f"{part}:{i}"),
                    "text": sentences(rng, n),
                    "source": "fixture",
                    "kind": "web",
                }
            )
        if part == 1:
            for j, text in enumerate(EMPTY_TEXTS):
                docs.append(
                    {
                        "id": doc_id("fixture", f"empty:{j}"),
                        "text": text,
                        "source": "fixture",
                        "kind": "web",
                    }
                )
        path = folder / f"part-{part:05d}.parquet"
        pq.write_table(documents_to_table(docs), path)
        files.append(path)
    return files


TOKENIZER = TokenizerConfig(vocab_size=400, batch_docs=64)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def tokenizer_file(corpus: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    train_tokenizer(corpus, out, TOKENIZER)
    return out


# -- tokenizer --------------------------------------------------------------------------------


def test_special_tokens_have_fixed_ids(tokenizer_file: Path) -> None:
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    expected = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]"]
    expected += [f"<extra_id_{i}>" for i in range(100)]
    assert list(SPECIAL_TOKENS) == expected
    for i, token in enumerate(expected):
        assert tokenizer.token_to_id(token) == i
    assert FIRST_REGULAR_ID == 107


def test_tokenizer_file_loads_and_wraps_in_cls_sep(tokenizer_file: Path) -> None:
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    encoding = tokenizer.encode("The miller ground grain.")
    assert encoding.ids[0] == CLS_ID and encoding.ids[-1] == SEP_ID
    assert "[UNK]" not in encoding.tokens
    assert any(t.startswith("##") for t in tokenizer.get_vocab())  # WordPiece continuations
    assert tokenizer.decode(encoding.ids) == "The miller ground grain."


def test_train_reports_what_it_read(corpus: list[Path], tmp_path: Path) -> None:
    info = train_tokenizer(corpus, tmp_path / "t.json", TOKENIZER)
    texts = [t for f in corpus for t in pq.read_table(f).column("text").to_pylist()]
    assert info["docs"] == len(texts)
    assert info["bytes"] == sum(len(t.encode()) for t in texts)
    assert info["kind"] == "wordpiece" and info["vocab_size"] <= TOKENIZER.vocab_size
    capped_config = TOKENIZER.model_copy(update={"max_docs": 50})
    capped = train_tokenizer(corpus, tmp_path / "c.json", capped_config)
    assert capped["docs"] == 50


_TRAIN_IN_SUBPROCESS = """
import sys
from pathlib import Path
from pipeline.tokenizer import TokenizerConfig, train_tokenizer
config = TokenizerConfig.model_validate_json(sys.argv[1])
train_tokenizer([Path(p) for p in sys.argv[3:]], Path(sys.argv[2]), config)
"""


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_tokenizer_training_is_byte_identical_across_processes(
    kind: str, corpus: list[Path], tmp_path: Path
) -> None:
    # Rust hash maps are seeded per process: only separate processes show the nondeterminism
    # (huggingface/tokenizers#1794) that train.py works around.
    config = TOKENIZER.model_copy(update={"kind": kind})
    outputs = []
    for i in range(3):
        out = tmp_path / f"{kind}-{i}.json"
        subprocess.run(
            [
                sys.executable,
                "-c",
                _TRAIN_IN_SUBPROCESS,
                config.model_dump_json(),
                str(out),
                *map(str, corpus),
            ],
            check=True,
            cwd=REPO,
        )
        outputs.append(out.read_bytes())
    in_process = tmp_path / f"{kind}-here.json"
    train_tokenizer(corpus, in_process, config)
    outputs.append(in_process.read_bytes())
    assert all(o == outputs[0] for o in outputs)
    tokenizer = Tokenizer.from_str(outputs[0].decode())
    assert [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))


def test_lowercase_option_lowercases(corpus: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "lower.json"
    train_tokenizer(corpus, out, TOKENIZER.model_copy(update={"lowercase": True}))
    tokenizer = Tokenizer.from_file(str(out))
    assert tokenizer.encode("MILLER").ids == tokenizer.encode("miller").ids


# -- MLM rows ---------------------------------------------------------------------------------

VOCAB = 400


def many_rows(config: MLMConfig, seed: int = 7, docs: int = 200):
    rng = np.random.default_rng(0)
    token_ids = [
        rng.integers(FIRST_REGULAR_ID, VOCAB, rng.integers(1, 600)).astype(np.int32)
        for _ in range(docs)
    ]
    ids = [f"doc-{i}" for i in range(docs)]
    return token_ids, ids, mlm_rows_batch(token_ids, ids, config, seed, VOCAB)


def real_mask(input_ids: np.ndarray) -> np.ndarray:
    """Positions holding document tokens: after [CLS], before [SEP]."""
    position = np.arange(input_ids.shape[1])
    sep = np.argmax(input_ids == SEP_ID, axis=1)
    return (position >= 1) & (position < sep[:, None])


def test_mlm_labels_about_fifteen_percent_of_real_tokens() -> None:
    config = MLMConfig(dupe_factor=2)
    _, _, rows = many_rows(config)
    real = real_mask(rows.input_ids)
    labelled = rows.labels != IGNORE_INDEX
    assert not (labelled & ~real).any()
    full = real.sum(axis=1) == config.seq_len - 2
    rate = labelled[full].sum() / real[full].sum()
    assert 0.145 <= rate <= 0.16  # round(126 * 0.15) = 19 of 126 per full row
    overall = labelled.sum() / real.sum()
    assert 0.14 <= overall <= 0.17  # short last windows round up to at least one
    assert (labelled.sum(axis=1) >= 1).all()


def test_mlm_replacements_split_80_10_10() -> None:
    _, _, rows = many_rows(MLMConfig(dupe_factor=4))
    labelled = rows.labels != IGNORE_INDEX
    shown, original = rows.input_ids[labelled], rows.labels[labelled]
    assert len(original) > 20_000
    masked = shown == MASK_ID
    random_token = ~masked & (shown != original)
    unchanged = shown == original
    assert abs(masked.mean() - 0.8) < 0.015
    assert abs(random_token.mean() - 0.1) < 0.012  # a random draw equal to the original is rare
    assert abs(unchanged.mean() - 0.1) < 0.012
    assert (shown[random_token] >= FIRST_REGULAR_ID).all() and (shown < VOCAB).all()


def test_mlm_specials_and_padding_are_never_labelled_or_changed() -> None:
    token_ids, _, rows = many_rows(MLMConfig())
    assert (rows.input_ids[:, 0] == CLS_ID).all()
    real = real_mask(rows.input_ids)
    not_real = ~real
    assert (rows.labels[not_real] == IGNORE_INDEX).all()
    after_sep = np.cumsum(rows.input_ids == SEP_ID, axis=1) - (rows.input_ids == SEP_ID) > 0
    assert (rows.input_ids[after_sep] == PAD_ID).all()
    assert ((rows.input_ids == SEP_ID).sum(axis=1) == 1).all()


def test_mlm_rows_restore_the_document_in_windows() -> None:
    config = MLMConfig(seq_len=32)
    tokens = np.arange(FIRST_REGULAR_ID, FIRST_REGULAR_ID + 95, dtype=np.int32)
    rows = mlm_rows(tokens, "doc", config, seed=3, vocab_size=VOCAB)
    assert list(rows.chunk) == [0, 1, 2, 3] and list(rows.copy) == [0, 0, 0, 0]
    restored = np.where(rows.labels != IGNORE_INDEX, rows.labels, rows.input_ids)
    body = restored[real_mask(rows.input_ids)]
    assert np.array_equal(body, tokens)
    assert mlm_rows(np.empty(0, np.int32), "empty", config, 3, VOCAB).input_ids.shape == (0, 32)


def test_mlm_same_seed_same_rows_other_copy_or_seed_other_masks() -> None:
    config = MLMConfig(dupe_factor=2)
    token_ids, ids, first = many_rows(config, seed=11)
    _, _, again = many_rows(config, seed=11)
    assert np.array_equal(first.input_ids, again.input_ids)
    assert np.array_equal(first.labels, again.labels)
    # Per document, copy 1 repeats copy 0's windows with a different mask.
    per_doc = [mlm_rows(t, i, config, 11, VOCAB) for t, i in zip(token_ids, ids, strict=True)]
    differ = [not np.array_equal(r.labels[r.copy == 0], r.labels[r.copy == 1]) for r in per_doc]
    assert np.mean(differ) > 0.95
    for r in per_doc[:20]:
        restored = np.where(r.labels != IGNORE_INDEX, r.labels, r.input_ids)
        assert np.array_equal(restored[r.copy == 0], restored[r.copy == 1])
    _, _, other_seed = many_rows(config, seed=12)
    assert not np.array_equal(first.labels, other_seed.labels)


def test_mlm_batch_equals_documents_one_by_one() -> None:
    config = MLMConfig(seq_len=16, dupe_factor=3)
    token_ids, ids, batch = many_rows(config, docs=30)
    token_ids[3] = np.empty(0, np.int32)
    batch = mlm_rows_batch(token_ids, ids, config, 7, VOCAB)
    singles = [mlm_rows(t, i, config, 7, VOCAB) for t, i in zip(token_ids, ids, strict=True)]
    assert np.array_equal(batch.input_ids, np.concatenate([s.input_ids for s in singles]))
    assert np.array_equal(batch.labels, np.concatenate([s.labels for s in singles]))
    assert batch.doc_id == [d for s in singles for d in s.doc_id]
    assert "doc-3" not in batch.doc_id


# -- shards -----------------------------------------------------------------------------------

SHARDS = ShardsConfig(
    mlm=MLMConfig(seq_len=64, dupe_factor=2),
    rows_per_shard=200,
    val_fraction=0.1,
    encode_batch_docs=64,
)


def read_stream(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_stream(source).read_all()


@pytest.fixture(scope="module")
def built(corpus: list[Path], tokenizer_file: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("run-a") / "shards"
    seen = []
    manifests = build_shards(corpus, tokenizer_file, out, SHARDS, progress=seen.append)
    return out, manifests["mlm"], seen


def test_manifest_matches_files_and_contract(built, tokenizer_file: Path) -> None:
    out, manifest, seen = built
    folder = out / "mlm"
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    assert manifest["format"] == "gristmill-shards" and manifest["format_version"] == 2
    assert manifest["special_ids"] == SPECIAL_IDS  # pinned: [PAD] 0 ... [EOS] 6
    assert [SPECIAL_IDS[k] for k in ("pad", "cls", "sep", "mask", "eos")] == [0, 2, 3, 4, 6]
    ids = {"dtype": "int32", "shape": [SHARDS.mlm.seq_len]}
    assert manifest["columns"] == [
        {"name": "input_ids", **ids},
        {"name": "attention_mask", **ids},
        {"name": "labels", **ids},
        {"name": "doc_id", "dtype": "string", "shape": []},
        {"name": "copy", "dtype": "int32", "shape": []},
        {"name": "chunk", "dtype": "int32", "shape": []},
    ]
    assert (folder / manifest["tokenizer"]).resolve() == tokenizer_file.resolve()
    assert manifest["stats"]["docs"] == {"in": 403, "encoded": 400, "empty": len(EMPTY_TEXTS)}
    assert seen[-1]["docs"] == 403
    total = 0
    for split in ("train", "val"):
        entry = manifest["splits"][split]
        assert entry["rows"] == sum(f["rows"] for f in entry["files"])
        for f in entry["files"]:
            path = folder / f["path"]
            assert path.name.startswith("part-part-0000") and path.parent.name == split
            assert read_stream(path).num_rows == f["rows"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"]
        for part in ("part-00000", "part-00001"):  # full files but a partition's last
            files = [f for f in entry["files"] if f["path"].startswith(f"{split}/part-{part}-")]
            assert all(f["rows"] == SHARDS.rows_per_shard for f in files[:-1])
        total += entry["rows"]
    assert len(manifest["splits"]["train"]["files"]) > 1  # rolled over
    assert manifest["splits"]["val"]["rows"] > 0
    assert total == seen[-1]["rows"]


def test_shards_open_with_pyarrow_and_datasets(built) -> None:
    out, manifest, _ = built
    path = out / "mlm" / manifest["splits"]["train"]["files"][0]["path"]
    table = read_stream(path)
    seq_len = manifest["seq_len"]
    assert table.schema.field("input_ids").type == pa.list_(pa.int32(), seq_len)
    column = table.column("input_ids")
    assert column.num_chunks == 1
    matrix = column.chunk(0).values.to_numpy(zero_copy_only=True).reshape(-1, seq_len)
    dataset = Dataset.from_file(str(path))
    assert dataset.num_rows == table.num_rows
    assert dataset[5]["input_ids"] == matrix[5].tolist()
    assert dataset[5]["labels"] == table.column("labels")[5].as_py()
    assert dataset[5]["doc_id"] == table.column("doc_id")[5].as_py()


def test_split_follows_document_id_hash(built, corpus: list[Path]) -> None:
    out, manifest, _ = built
    docs = {}
    for split in ("train", "val"):
        ids = set()
        for f in manifest["splits"][split]["files"]:
            ids.update(read_stream(out / "mlm" / f["path"]).column("doc_id").to_pylist())
        assert all(is_val_doc(d, SHARDS.val_fraction) == (split == "val") for d in ids)
        assert len(ids) == manifest["splits"][split]["docs"]
        docs[split] = ids
    assert not docs["train"] & docs["val"]


def test_rebuild_is_byte_identical_whatever_the_batching(
    built, corpus: list[Path], tokenizer_file: Path, tmp_path: Path
) -> None:
    out, manifest, _ = built
    other = tmp_path / "again" / "shards"
    config = SHARDS.model_copy(update={"encode_batch_docs": 7})
    again = build_shards(corpus, tokenizer_file, other, config)["mlm"]
    assert again["splits"] == manifest["splits"]
    for split in ("train", "val"):
        for f in manifest["splits"][split]["files"]:
            first, second = out / "mlm" / f["path"], other / "mlm" / f["path"]
            assert first.read_bytes() == second.read_bytes()


def test_empty_val_split_has_no_files_and_stale_shards_go(
    corpus: list[Path], tokenizer_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "shards"
    build_shards(corpus, tokenizer_file, out, SHARDS.model_copy(update={"rows_per_shard": 50}))
    before = sorted((out / "mlm" / "train").glob("*.arrow"))
    config = SHARDS.model_copy(update={"val_fraction": 0.0, "rows_per_shard": 100_000})
    manifest = build_shards(corpus, tokenizer_file, out, config)["mlm"]
    assert manifest["splits"]["val"] == {"rows": 0, "docs": 0, "tokens": 0, "files": []}
    assert list((out / "mlm" / "val").glob("*.arrow")) == []
    assert len(before) > 1
    assert sorted(p.name for p in (out / "mlm" / "train").glob("*.arrow")) == [
        "part-part-00000-00000.arrow",
        "part-part-00001-00000.arrow",
    ]
    assert manifest["splits"]["train"]["docs"] == 400
