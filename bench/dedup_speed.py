"""MinHash dedup speed: our signature kernel vs datasketch loops vs datatrove's MinHash stages.

All on the same documents in one run (the licence files of `../shared/data/neardup` plus the
source files of `../shared/data/code`), one process, one core each:

1. signatures/s: ours (`document_signatures`, shingling included), a plain
   `datasketch.MinHash.update` loop (one call per shingle, on every 10th document: it is slow),
   `update_batch`, `MinHash.bulk`, and datatrove's `MinhashDedupSignature` stage (its word
   tokenizer, SHA-1 hashing and per-band sorted files included);
2. the whole dedup: our four units over a run directory vs datatrove's four stages
   (signature, buckets, cluster, filter) under `LocalPipelineExecutor`, same partitions;
3. memory: the bucket and cluster units run on 1,000,000 synthetic documents (their inputs are
   keys, not text), each in a fresh process; peak = tracemalloc's peak (NumPy arrays and Python
   objects) + the Arrow memory pool's peak, an upper bound of what the unit itself allocates.

    ../benchenv/bin/python bench/dedup_speed.py [--partitions 4] [--skip-memory]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.dedup import artifacts, paths, settings, units
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.lsh_params import lsh_shape
from pipeline.dedup.minhash import document_signatures
from pipeline.dedup.normalize import word_shingles
from pipeline.rundir import RunDir, write_parquet
from pipeline.schema import documents_to_table

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_documents() -> list[dict]:
    docs = []
    with gzip.open(SHARED / "neardup" / "neardup.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            docs.append({"id": f"neardup/{row['id']}", "text": row["text"], "kind": "web"})
    with gzip.open(SHARED / "code" / "code.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            docs.append({"id": f"code/{row['path']}", "text": row["text"], "kind": "code"})
    return docs


def timed(fn, *args):  # noqa: ANN001, ANN002, ANN201 - a tiny timing helper
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def datasketch_rates(texts: list[str], config: DedupConfig) -> dict[str, tuple[int, float]]:
    from datasketch import MinHash

    num_perm, seed = config.minhash.num_perm, config.minhash.seed

    def update_loop(subset: list[str]) -> None:
        for text in subset:
            m = MinHash(num_perm=num_perm, seed=seed)
            for shingle in word_shingles(text, config.minhash.ngram):
                m.update(shingle)

    def update_batch(subset: list[str]) -> None:
        for text in subset:
            m = MinHash(num_perm=num_perm, seed=seed)
            m.update_batch(word_shingles(text, config.minhash.ngram))

    def bulk(subset: list[str]) -> None:
        MinHash.bulk(
            [word_shingles(t, config.minhash.ngram) for t in subset], num_perm=num_perm, seed=seed
        )

    every_tenth = texts[::10]
    return {
        "datasketch `MinHash.update` loop (every 10th doc)": (
            len(every_tenth),
            timed(update_loop, every_tenth)[1],
        ),
        "datasketch `update_batch` per document": (len(texts), timed(update_batch, texts)[1]),
        "datasketch `MinHash.bulk`": (len(texts), timed(bulk, texts)[1]),
    }


def write_jsonl_parts(folder: Path, docs: list[dict], partitions: int) -> list[list[dict]]:
    folder.mkdir(parents=True)
    chunks = [docs[i::partitions] for i in range(partitions)]
    for i, chunk in enumerate(chunks):
        with gzip.open(folder / f"{i:05d}.jsonl.gz", "wt", encoding="utf-8") as handle:
            for doc in chunk:
                handle.write(json.dumps({"id": doc["id"], "text": doc["text"]}) + "\n")
    return chunks


def datatrove_config(bands: int, rows: int):  # noqa: ANN201 - datatrove's MinhashConfig
    """datatrove's MinHash config with our b x r, hashing shingles with SHA-1 to 32 bits.

    Its default (xxhash-64) fails with xxhash 4.x: datatrove 0.10.1 passes `str` shingles to
    `xxhash.xxh64_intdigest`, which since xxhash 4.0 raises "Strings must be encoded before
    hashing". Its SHA-1 path encodes first, and SHA-1 to 32 bits is what our default uses.
    """
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.utils.hashing import HashConfig

    return MinhashConfig(
        num_buckets=bands,
        hashes_per_bucket=rows,
        hash_config=HashConfig(hash_fc="sha1", precision=32),
    )


def datatrove_signature_stage(folder: Path, docs: list[dict], bands: int, rows: int) -> float:
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

    stage = MinhashDedupSignature(output_folder=str(folder), config=datatrove_config(bands, rows))
    documents = [Document(text=d["text"], id=d["id"]) for d in docs]
    started = time.perf_counter()
    stage.run(iter(documents), rank=0, world_size=1)
    return time.perf_counter() - started


def datatrove_dedup(work: Path, partitions: int, bands: int, rows: int) -> dict[str, float]:
    """datatrove's four MinHash stages over the jsonl partitions in `work/input`."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    config = datatrove_config(bands, rows)

    def reader() -> JsonlReader:
        return JsonlReader(str(work / "input"), glob_pattern="*.jsonl.gz")

    stages = {
        "signature": (
            LocalPipelineExecutor(
                [reader(), MinhashDedupSignature(str(work / "sigs"), config=config)],
                tasks=partitions,
                workers=1,
                logging_dir=str(work / "logs/1"),
            )
        ),
        "buckets": LocalPipelineExecutor(
            [MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=config)],
            tasks=bands,
            workers=1,
            logging_dir=str(work / "logs/2"),
        ),
        "cluster": LocalPipelineExecutor(
            [MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=config)],
            tasks=1,
            workers=1,
            logging_dir=str(work / "logs/3"),
        ),
        "filter": LocalPipelineExecutor(
            [reader(), MinhashDedupFilter(str(work / "remove")), JsonlWriter(str(work / "output"))],
            tasks=partitions,
            workers=1,
            logging_dir=str(work / "logs/4"),
        ),
    }
    seconds = {}
    for name, executor in stages.items():
        seconds[name] = timed(executor.run)[1]
    kept = 0
    for path in (work / "output").glob("*.jsonl.gz"):
        with gzip.open(path, "rt") as handle:
            kept += sum(1 for _ in handle)
    seconds["kept"] = kept
    return seconds


def ours_dedup(work: Path, chunks: list[list[dict]], config: DedupConfig) -> dict[str, float]:
    run = RunDir(work)
    parts = [f"part-{i:05d}" for i in range(len(chunks))]
    for part, chunk in zip(parts, chunks, strict=True):
        table = documents_to_table({**d, "source": d["id"].split("/")[0]} for d in chunk)
        write_parquet(run.kept_path("quality", part), table)
    seconds = {}
    seconds["signature"] = timed(lambda: [units.signature_unit(run, config, p) for p in parts])[1]
    seconds["buckets"] = timed(
        lambda: [units.bucket_unit(run, config, parts, k) for k in units.bucket_keys(config)]
    )[1]
    seconds["cluster"] = timed(units.cluster_unit, run, config, parts)[1]
    summaries, seconds["filter"] = timed(lambda: [units.apply_unit(run, config, p) for p in parts])
    seconds["kept"] = sum(s["stats"]["docs_kept"] for s in summaries)
    return seconds


# -- memory on a million synthetic documents ----------------------------------------------------
MEMORY_CHILD = """
import sys, time, tracemalloc
import pyarrow as pa
from pipeline.dedup import paths, units
from pipeline.dedup.config import DedupConfig
from pipeline.rundir import RunDir
what, root, parts = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
config, run = DedupConfig(), RunDir(root)
pool = pa.default_memory_pool()
tracemalloc.start()
started = time.perf_counter()
if what in ("exact", "bucket"):
    key = "exact" if what == "exact" else "band-000"
    paths.bucket_path(run, key).unlink(missing_ok=True)
    units.bucket_unit(run, config, parts, key)
elif what == "cluster":
    paths.plan_path(run).unlink(missing_ok=True)
    units.cluster_unit(run, config, parts)
elif what == "signature":
    paths.signature_path(run, parts[0]).unlink(missing_ok=True)
    units.signature_unit(run, config, parts[0])
seconds = time.perf_counter() - started
print(tracemalloc.get_traced_memory()[1] + pool.max_memory(), seconds)
"""


def synthetic_run(root: Path, documents: int, partitions: int, config: DedupConfig) -> list[str]:
    """Signature files as unit 1 writes them (without the signature column, which units 2-3 do
    not read), with 5% of documents copies of others in one band and in their exact key."""
    import pyarrow as pa

    rng = np.random.default_rng(0)
    bands, _ = lsh_shape(config.minhash)
    run = RunDir(root)
    parts = [f"part-{i:05d}" for i in range(partitions)]
    per = documents // partitions
    index_settings = settings.index_settings(config)
    for p, part in enumerate(parts):
        keys = rng.integers(0, 2**63, (per, bands), dtype=np.uint64)
        exact = rng.integers(0, 2**63, (per, 2), dtype=np.uint64)
        copies = rng.random(per) < 0.05
        sources = rng.integers(0, per, copies.sum())
        keys[copies, 0] = keys[sources, 0]
        exact[copies] = exact[sources]
        columns = {
            "id": pa.array([f"{part}/{i}" for i in range(per)]),
            "source": pa.array(["web"] * per),
            "length": pa.array(rng.integers(100, 10000, per)),
            "exact": pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(16), per, [None, pa.py_buffer(exact.tobytes())]
            ),
            "shingles": pa.array(np.full(per, 100, np.int32)),
        }
        for band in range(bands):
            columns[f"band_{band:03d}"] = pa.array(keys[:, band])
        artifacts.write_with_info(
            paths.signature_path(run, part),
            pa.table(columns),
            f"synthetic-{p}",
            {"rows": per, "sig_fingerprint": "synthetic", "settings": index_settings},
        )
    for key in units.bucket_keys(config):
        units.bucket_unit(run, config, parts, key)
    return parts


def _child(what: str, root: str, parts: list[str]) -> tuple[float, float]:
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, what, root, ",".join(parts)],
        capture_output=True,
        text=True,
        check=True,
    )
    peak, seconds = result.stdout.split()
    return int(peak) / 1e6, float(seconds)


def signature_memory(docs: list[dict]) -> tuple[float, float]:
    """Peak memory (MB) of the signature unit on one partition holding all ``docs``."""
    with tempfile.TemporaryDirectory() as tmp:
        table = documents_to_table({**d, "source": "bench"} for d in docs)
        write_parquet(RunDir(tmp).kept_path("quality", "all"), table)
        return _child("signature", tmp, ["all"])


def memory_per_million(config: DedupConfig) -> list[tuple[str, float, float]]:
    documents = 1_000_000
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        parts = synthetic_run(Path(tmp), documents, 10, config)
        for what in ("exact", "bucket", "cluster"):
            out.append((what, *_child(what, tmp, parts)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    docs = load_documents()
    texts, kinds = [d["text"] for d in docs], [d["kind"] for d in docs]
    config = DedupConfig()
    bands, rows = lsh_shape(config.minhash)
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    print(
        f"{len(docs)} documents, {megabytes:.1f} MB, num_perm {config.minhash.num_perm}, "
        f"word 5-grams, b x r = {bands} x {rows}\n"
    )

    _, first_call = timed(document_signatures, texts[:2], kinds[:2], config.minhash)
    rates = {}
    _, seconds = timed(document_signatures, texts, kinds, config.minhash)
    rates["gristmill `document_signatures` (Numba kernel)"] = (len(texts), seconds)
    rates.update(datasketch_rates(texts, config))
    with tempfile.TemporaryDirectory() as tmp:
        seconds = datatrove_signature_stage(Path(tmp), docs, bands, rows)
    rates[f"datatrove `MinhashDedupSignature` ({bands}x{rows} hashes, SHA-1 32-bit)"] = (
        len(docs),
        seconds,
    )
    ours = len(texts) / rates["gristmill `document_signatures` (Numba kernel)"][1]
    print("| signatures | documents | seconds | docs/s | ours is x faster |")
    print("|---|---:|---:|---:|---:|")
    for name, (count, secs) in rates.items():
        print(
            f"| {name} | {count} | {secs:.2f} | {count / secs:,.0f} | {ours / (count / secs):.1f} |"
        )
    print(
        f"\n(first call of the kernel in this process, loading its compiled cache: "
        f"{first_call:.2f}s)\n"
    )

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        chunks = write_jsonl_parts(work / "datatrove" / "input", docs, args.partitions)
        theirs = datatrove_dedup(work / "datatrove", args.partitions, bands, rows)
        mine = ours_dedup(work / "gristmill", chunks, config)
    print(
        f"| whole dedup, {args.partitions} partitions | signature | buckets | cluster | "
        "filter/apply | total s | kept |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, result in (("gristmill units", mine), ("datatrove stages", theirs)):
        total = sum(v for k, v in result.items() if k != "kept")
        print(
            f"| {name} | {result['signature']:.2f} | {result['buckets']:.2f} | "
            f"{result['cluster']:.2f} | {result['filter']:.2f} | {total:.2f} | "
            f"{int(result['kept'])} |"
        )

    if not args.skip_memory:
        print("\n| unit on 1,000,000 documents | peak memory allocated (MB) | seconds |")
        print("|---|---:|---:|")
        for what, megabytes_used, seconds in memory_per_million(config):
            print(f"| {what} | {megabytes_used:,.0f} | {seconds:.1f} |")
        used, seconds = signature_memory(docs)
        print(
            f"\nsignature unit on one partition of {len(docs)} documents ({megabytes:.1f} MB "
            f"of text): {used:,.0f} MB peak memory allocated, {seconds:.1f}s"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n(this benchmark process peaked at {rss:,.0f} MB RSS)")


if __name__ == "__main__":
    main()
