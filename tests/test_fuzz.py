"""Fuzzing: every reader, language ID, every quality rule set, the dedup normaliser and
signatures, and the MLM objective builder, on random inputs -- no unhandled exception, and
``in = kept + dropped`` wherever stats are returned.

Deterministic (``derandomize=True``: the same examples on every run) and kept small, so the
whole file runs in seconds; a failing example is printed by hypothesis and belongs in a
regression test beside the reader or rule it breaks.
"""

from __future__ import annotations

import gzip
import io
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.dedup.config import MinHashConfig
from pipeline.dedup.minhash import MinHasher, document_signatures
from pipeline.dedup.normalize import char_shingles, normalize, shingle_text, word_shingles
from pipeline.ingest.files import SourceError
from pipeline.langid.config import LangIDConfig
from pipeline.langid.fasttext_lid import LangIDStage
from pipeline.objectives.mlm import (
    IGNORE_INDEX,
    MASK_ID,
    MLMConfig,
    mlm_batch,
    mlm_rows_batch,
    mlm_schema,
)
from pipeline.quality.config import QualityConfig
from pipeline.quality.stage import RULE_SETS, QualityStage
from pipeline.schema import KINDS, documents_to_table
from pipeline.stage import FilterStage, StageResult
from pipeline.tokenizer.config import FIRST_REGULAR_ID
from tests.ingest_helpers import check_accounting, ingest, source

FUZZ = settings(
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: Characters readers and rules must survive: controls, zero-width and bidi marks, line and
#: paragraph separators, combining marks, astral characters (no surrogates: not text).
HOSTILE_CHARS = (
    "\x00\x07\x0b\x0c\x1b\x7f\x85\xa0\u00ad\u0301\u061c\u200b\u200c\u200d\u200e\u200f"
    "\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff\ufffd"
    "\U0001f600\U000e0001 \t\n\r.!?#…-•*'\"<>&;:/\\{}[]()0123456789aeiouxyzAEZßéñ日本語кот"
)
hostile_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(HOSTILE_CHARS),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=400,
)
words_text = st.lists(
    st.sampled_from(["the", "mill", "a", "river", "is", "and", "of", "to", "Mühle", "…", "\u200b"]),
    max_size=120,
).map(" ".join)
any_text = st.one_of(hostile_text, words_text)

#: Starts that take a reader past its first check: compression magic, a WARC version line,
#: a zip signature, JSON and HTML.
PREFIXES = [
    b"",
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff",
    b"\x28\xb5\x2f\xfd",
    b"BZh9",
    b"\xfd7zXZ\x00",
    b"PK\x03\x04",
    b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:x>\r\n"
    b"WARC-Date: 2024-01-01T00:00:00Z\r\nContent-Length: 40\r\n\r\nHTTP/1.1 200 OK\r\n",
    b'{"text": "',
    b"<html><body><p>",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
]


def _compressed(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


@st.composite
def file_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes, or random text, behind a meaningful start; maybe compressed and maybe cut."""
    body = draw(st.one_of(st.binary(max_size=600), any_text.map(str.encode)))
    data = draw(st.sampled_from(PREFIXES)) + body
    data = _compressed(data, draw(st.sampled_from(["none", "gzip", "zstd"])))
    if data and draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


READER_FILES = [
    ("jsonl", "web", "in.jsonl"),
    ("text", "book", "in.txt"),
    ("warc", "web", "in.warc.gz"),
    ("wet", "web", "in.warc.wet"),
    ("html", "web", "in.html"),
    ("epub", "book", "in.epub"),
    ("code", "code", "in.py"),
    ("code", "code", "in.tar.gz"),
    ("code", "code", "in.zip"),
    ("parquet", "web", "in.parquet"),
    ("arrow", "web", "in.arrow"),
]


@pytest.mark.parametrize(("fmt", "kind", "name"), READER_FILES)
@FUZZ
@given(data=file_bytes())
def test_every_reader_counts_every_record_of_random_bytes(
    folder: Path, fmt: str, kind: str, name: str, data: bytes
) -> None:
    path = folder / name
    path.write_bytes(data)
    try:
        result = ingest(source(fmt, kind), path, folder)
    except SourceError:
        # Not a Parquet/Arrow file at all: a configuration error that names the file.
        assert fmt in ("parquet", "arrow")
        return
    check_accounting(result)
    if fmt not in ("warc", "wet"):  # a WARC's records that are no pages are not documents
        assert result.stats.docs_in >= 1  # something is always accounted for, never nothing


@FUZZ
@given(
    members=st.lists(
        st.tuples(
            st.sampled_from(["a.py", "../x.py", "/abs.py", "d/../../e.py", "LICENSE", "m.js"]),
            st.one_of(st.binary(max_size=200), any_text.map(str.encode)),
        ),
        max_size=5,
        unique_by=lambda member: member[0],
    ),
    archive=st.sampled_from(["zip", "tar.gz"]),
    cut=st.none() | st.integers(0, 4000),
)
def test_code_reader_counts_every_member_of_random_archives(
    folder: Path, members: list[tuple[str, bytes]], archive: str, cut: int | None
) -> None:
    import tarfile

    buffer = io.BytesIO()
    if archive == "zip":
        with zipfile.ZipFile(buffer, "w") as handle:
            for name, body in members:
                handle.writestr(name, body)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as handle:
            for name, body in members:
                info = tarfile.TarInfo(name)
                info.size = len(body)
                handle.addfile(info, io.BytesIO(body))
    data = buffer.getvalue()
    path = folder / f"repo.{archive}"
    path.write_bytes(data if cut is None else data[:cut])
    result = ingest(source("code", "code"), path, folder)
    check_accounting(result)
    if cut is None:
        assert result.stats.docs_in == len(members)


@FUZZ
@given(texts=st.lists(any_text, min_size=1, max_size=8))
def test_jsonl_and_parquet_keep_or_count_every_random_text(folder: Path, texts: list[str]) -> None:
    import json

    lines = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    (folder / "rows.jsonl").write_text(lines, encoding="utf-8")
    pq.write_table(pa.table({"text": texts}), folder / "rows.parquet")
    for fmt, name in (("jsonl", "rows.jsonl"), ("parquet", "rows.parquet")):
        result = ingest(source(fmt), folder / name, folder)
        check_accounting(result)
        assert result.stats.docs_in == len(texts)
        kept = result.kept.column("text").to_pylist()
        assert kept == [t for t in texts if t.strip()]  # the text itself, unchanged


def _table(texts: list[str], kinds: list[str]) -> pa.Table:
    return documents_to_table(
        {"id": f"d{i}", "text": t, "source": "s", "kind": k, "path": f"f{i}.py", "meta": {}}
        for i, (t, k) in enumerate(zip(texts, kinds, strict=True))
    )


def _filter_random_kinds(stage: FilterStage, texts: list[str], data: st.DataObject) -> StageResult:
    """Run ``stage`` on ``texts`` of random kinds; every document is accounted for."""
    kinds = data.draw(st.lists(st.sampled_from(KINDS), min_size=len(texts), max_size=len(texts)))
    result = stage(_table(texts, kinds))
    result.stats.check()
    assert result.kept.num_rows + result.dropped.num_rows == len(texts)
    return result


@pytest.fixture(scope="module")
def langid() -> LangIDStage:
    return LangIDStage(LangIDConfig())


@FUZZ
@given(texts=st.lists(any_text, min_size=1, max_size=12), data=st.data())
def test_language_id_on_random_text_accounts_for_every_document(
    langid: LangIDStage, texts: list[str], data: st.DataObject
) -> None:
    result = _filter_random_kinds(langid, texts, data)
    for row in result.kept.to_pylist() + result.dropped.to_pylist():
        assert row["lang"]
        score = row["lang_score"]
        assert score is None or 0.0 <= score <= 1.0 + 1e-6


@pytest.fixture(scope="module")
def quality(tmp_path_factory: pytest.TempPathFactory) -> QualityStage:
    """Every rule set on every kind, the classifier with a small model trained here."""
    from tests.test_quality_classifier import train

    model = train(tmp_path_factory.mktemp("classifier") / "quality.bin")
    every = list(RULE_SETS)
    config = QualityConfig.model_validate(
        {"suites": {kind: every for kind in KINDS}, "classifier": {"model": str(model)}}
    )
    return QualityStage(config)


@FUZZ
@given(texts=st.lists(any_text, min_size=1, max_size=8), data=st.data())
def test_every_quality_rule_set_on_random_text_accounts_for_every_document(
    quality: QualityStage, texts: list[str], data: st.DataObject
) -> None:
    result = _filter_random_kinds(quality, texts, data)
    assert sum(result.stats.dropped.values()) == result.dropped.num_rows


@FUZZ
@given(
    texts=st.lists(any_text, min_size=1, max_size=8),
    kinds=st.lists(st.sampled_from(["word", "char"]), min_size=8, max_size=8),
    ngram=st.integers(1, 7),
    case_fold=st.booleans(),
)
def test_dedup_normaliser_shingles_and_signatures_on_random_text(
    texts: list[str], kinds: list[str], ngram: int, case_fold: bool
) -> None:
    shingle_kinds = kinds[: len(texts)]
    for text, kind in zip(texts, shingle_kinds, strict=True):
        normal = normalize(text, case_fold)
        assert normalize(normal, case_fold) == normal  # idempotent
        shingle_text(text, kind)  # type: ignore[arg-type]
        shingles = word_shingles(text, ngram) if kind == "word" else char_shingles(text, ngram)
        assert all(isinstance(s, bytes) and s for s in shingles)
    hasher = MinHasher(num_perm=32, seed=3)
    signatures, counts = hasher.signatures(texts, shingle_kinds, ngram)  # type: ignore[arg-type]
    assert signatures.shape == (len(texts), 32) and signatures.dtype == np.uint32
    for text, kind, count in zip(texts, shingle_kinds, counts, strict=True):
        shingles = word_shingles(text, ngram) if kind == "word" else char_shingles(text, ngram)
        assert (count == 0) == (not shingles)
    config = MinHashConfig(num_perm=32, ngram=ngram)
    again, _ = document_signatures(texts, ["web"] * len(texts), config)
    assert again.shape == signatures.shape


@FUZZ
@given(
    documents=st.lists(st.lists(st.integers(0, 999), max_size=90), max_size=6),
    seq_len=st.integers(3, 40),
    dupe_factor=st.integers(1, 3),
    probability=st.floats(0.01, 1.0),
    seed=st.integers(0, 2**63 - 1),
)
def test_mlm_builder_on_random_token_ids_masks_only_real_tokens(
    documents: list[list[int]], seq_len: int, dupe_factor: int, probability: float, seed: int
) -> None:
    config = MLMConfig(seq_len=seq_len, dupe_factor=dupe_factor, mlm_probability=probability)
    token_ids = [np.array(d, dtype=np.int32) for d in documents]
    ids = [f"doc{i}" for i in range(len(documents))]
    rows = mlm_rows_batch(token_ids, ids, config, seed, vocab_size=1000)
    body = seq_len - 2
    assert len(rows) == dupe_factor * sum(-(-len(d) // body) for d in documents)
    assert rows.input_ids.shape == rows.labels.shape == (len(rows), seq_len)
    chosen = rows.labels != IGNORE_INDEX
    assert (chosen.sum(axis=1) >= 1).all()  # every row predicts at least one token
    assert set(rows.labels[chosen].tolist()) <= {t for d in documents for t in d}
    replaced = chosen & (rows.input_ids != rows.labels)  # masked or a random ordinary token
    assert (rows.input_ids[replaced] >= FIRST_REGULAR_ID).all() or (
        rows.input_ids[replaced] == MASK_ID
    ).any()
    batch = mlm_batch(rows, mlm_schema(seq_len))
    assert batch.num_rows == len(rows)
