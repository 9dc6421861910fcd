"""Tests for trainer/: shard reading, the resumable sampler, the model, the schedule, the loop.

Every test builds its own tiny shards (tests/shard_fixtures.py): vocab 200, seq_len 32, 200 train
rows in two files of several record batches, 20 val rows.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc
import pytest
import torch

from tests.shard_fixtures import IGNORE_INDEX, SPECIAL_IDS, write_shards
from trainer.__main__ import main as cli_main
from trainer.config import TrainConfig
from trainer.loop import TrainResult, train
from trainer.model import ModelConfig, TransformerLM, count_parameters
from trainer.sampler import SampleStream, StepBatchSampler, epoch_order
from trainer.schedule import lr_multiplier, warmup_cosine
from trainer.shards import ShardDataset, ShardFormatError, load_manifest, open_split

SEQ_LEN = 32
VOCAB = 200
SMALL = {"d_model": 64, "d_ff": 128}  # a quicker model for tests that do not need loss to fall


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shards(tmp_path_factory.mktemp("shards") / "mlm")


@pytest.fixture(scope="module")
def baseline(shards: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """One uninterrupted 30-step run with the default config, shared by the loop tests."""
    return train(shards, tmp_path_factory.mktemp("baseline"), TrainConfig(steps=30), progress=None)


# --- shards -------------------------------------------------------------------------------------


def _rows_by_pyarrow(shards: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The split's rows read the slow, obvious way, for comparison."""
    manifest = json.loads((shards / "manifest.json").read_text())
    ids, labels = [], []
    for entry in manifest["splits"][split]["files"]:
        with pa.OSFile(str(shards / entry["path"])) as fh:
            table = pyarrow.ipc.open_stream(fh).read_all()
        ids += table.column("input_ids").to_pylist()
        labels += table.column("labels").to_pylist()
    return np.array(ids, dtype=np.int32), np.array(labels, dtype=np.int32)


def test_shards_are_read_zero_copy_from_the_memory_map(shards: Path) -> None:
    split = open_split(shards, "train")
    assert len(split.sources) == 2  # two files
    assert len(split.chunks["input_ids"]) > 2  # several record batches, kept as separate chunks
    assert split.chunk_files == [0, 0, 0, 1, 1]  # 120 + 80 rows in batches of 50
    mapped = []
    for source in split.sources:
        source.seek(0)
        mapped.append(np.frombuffer(source.read_buffer(), dtype=np.uint8))  # the whole map
    for chunk, file_index in enumerate(split.chunk_files):
        for name, chunks in split.chunks.items():
            view = chunks[chunk]
            assert view.dtype == np.int32
            assert view.shape[1:] == (() if name in ("copy", "chunk") else (SEQ_LEN,))
            assert not view.flags.owndata and not view.flags.writeable
            assert np.shares_memory(view, mapped[file_index])
    row = split.row(130)  # file 1, chunk 3, row 10: still a view
    assert set(row) == {"input_ids", "attention_mask", "labels", "copy", "chunk"}
    assert all(np.shares_memory(row[n], mapped[1]) for n in ("input_ids", "labels"))


def test_rows_index_across_files_and_record_batches(shards: Path) -> None:
    split = open_split(shards, "train")
    want_ids, want_labels = _rows_by_pyarrow(shards, "train")
    assert len(split) == len(want_ids) == 200
    for index in range(len(split)):
        row = split.row(index)
        np.testing.assert_array_equal(row["input_ids"], want_ids[index])
        np.testing.assert_array_equal(row["labels"], want_labels[index])
    np.testing.assert_array_equal(split.row(-1)["input_ids"], want_ids[-1])
    with pytest.raises(IndexError):
        split.row(200)


def test_dataset_items_are_writable_int64_copies_without_warnings(shards: Path) -> None:
    dataset = ShardDataset(shards, "val", columns=("input_ids", "labels", "copy"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        item = dataset[3]
    assert set(item) == {"input_ids", "labels", "copy", "index"}
    assert item["input_ids"].dtype == torch.int64 and item["input_ids"].shape == (SEQ_LEN,)
    assert item["copy"].shape == () and int(item["index"]) == 3
    ids_view = dataset.arrays.row(3)["input_ids"]
    item["input_ids"][0] = 99  # a copy: the mapped file is untouched
    assert ids_view[0] == SPECIAL_IDS["cls"]
    labelled = item["labels"] != IGNORE_INDEX
    assert labelled.any() and (item["labels"][labelled] >= 7).all()


def test_dataset_pickles_by_reference_and_reopens(shards: Path) -> None:
    import pickle

    dataset = ShardDataset(shards, "train")
    data = pickle.dumps(dataset)
    assert len(data) < 1000  # the folder and split name, not the rows
    clone = pickle.loads(data)
    assert torch.equal(clone[17]["input_ids"], dataset[17]["input_ids"])


def _rewrite_manifest(tmp_path: Path, **changes: object) -> Path:
    target = tmp_path / "copy"
    write_shards(target)  # same seed, so same files; then edit the manifest
    manifest = json.loads((target / "manifest.json").read_text())
    manifest.update(changes)
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "something-else"}, "format is 'something-else', expected 'gristmill-shards'"),
        (
            {"format_version": 1},
            "format_version 1 is not supported (this trainer reads version 2); rebuild the shards",
        ),
        ({"format_version": 3}, "format_version 3 is not supported"),
        (
            {
                "columns": [
                    {"name": "input_ids", "dtype": "int32", "shape": [16]},
                    {"name": "labels", "dtype": "int32", "shape": [16]},
                ]
            },
            "expected fixed_size_list<item: int32>[16]",
        ),
        ({"columns": [{"name": "x", "dtype": "float", "shape": []}]}, "column 'x' has dtype"),
        ({"ignore_index": "x"}, "'ignore_index' should be"),
    ],
)
def test_bad_manifest_gives_a_clear_error_naming_the_file(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    target = _rewrite_manifest(tmp_path, **changes)
    with pytest.raises(ShardFormatError) as err:
        open_split(target, "train")
    assert message in str(err.value)
    assert str(target) in str(err.value)  # names the manifest or the shard file


def test_missing_or_unreadable_manifest_and_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ShardFormatError, match=r"manifest\.json: not valid JSON"):
        load_manifest(tmp_path)

    root = write_shards(tmp_path / "ok")
    with pytest.raises(ShardFormatError, match=r"no split 'test'"):
        open_split(root, "test")
    (root / "val" / "shard-00000.arrow").unlink()
    with pytest.raises(ShardFormatError, match=r"val/shard-00000\.arrow: listed in .* missing"):
        open_split(root, "val")

    manifest = json.loads((root / "manifest.json").read_text())
    manifest["splits"]["train"]["files"][0]["rows"] = 119
    manifest["splits"]["train"]["rows"] = 199
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ShardFormatError, match=r"shard-00000\.arrow: has 120 rows, .* says 119"):
        open_split(root, "train")


def test_sha256_verification_catches_a_changed_file(tmp_path: Path) -> None:
    root = write_shards(tmp_path / "s")
    open_split(root, "val", verify=True)
    path = root / "val" / "shard-00000.arrow"
    data = bytearray(path.read_bytes())
    data[-20] ^= 1  # inside the last batch's body; still a readable stream
    path.write_bytes(bytes(data))
    with pytest.raises(ShardFormatError, match="sha256"):
        open_split(root, "val", verify=True)


# --- sampler ------------------------------------------------------------------------------------


def test_the_order_is_a_function_of_seed_epoch_and_index_alone() -> None:
    stream = SampleStream(50, seed=7)
    epoch0 = [row for _, row in stream.take(0, 50)]
    assert sorted(epoch0) == list(range(50)) and epoch0 != list(range(50))
    assert (
        epoch0
        == epoch_order(7, 0, 50).tolist()
        == [r for _, r in SampleStream(50, seed=7).take(0, 50)]
    )
    epoch1 = stream.take(50, 50)
    assert {e for e, _ in epoch1} == {1} and sorted(r for _, r in epoch1) == list(range(50))
    assert [r for _, r in epoch1] != epoch0
    assert epoch_order(8, 0, 50).tolist() != epoch0
    assert epoch_order(0, 0, 5, shuffle=False).tolist() == [0, 1, 2, 3, 4]
    # A batch runs on across the epoch boundary: no row is dropped.
    assert stream.take(45, 10) == stream.take(45, 5) + stream.take(50, 5)
    assert [e for e, _ in stream.take(45, 10)] == [0] * 5 + [1] * 5


@pytest.mark.parametrize(("world", "accum"), [(1, 1), (2, 1), (2, 3), (4, 2)])
def test_ranks_and_micro_batches_split_the_same_global_batch(world: int, accum: int) -> None:
    rows, batch = 37, 4
    single = StepBatchSampler(rows, seed=3, batch_size=batch, grad_accum=accum * world)
    for step in range(6):  # several epochs: 37 rows, 4 x accum x world a step
        want = [pair for micro in single.step_batches(step) for pair in micro]
        got = []
        for rank in range(world):
            sampler = StepBatchSampler(
                rows, seed=3, batch_size=batch, grad_accum=accum, rank=rank, world_size=world
            )
            micros = sampler.step_batches(step)
            assert len(micros) == accum and all(len(m) == batch for m in micros)
            got += [pair for micro in micros for pair in micro]
        assert got == want  # rank r's micro-batches are the r-th slice of one process's


def test_the_sampler_resumes_from_a_few_integers() -> None:
    whole = StepBatchSampler(37, seed=3, batch_size=4, grad_accum=2)
    batches = iter(whole)
    expected = [next(batches) for _ in range(30)]  # 15 steps, 240 samples: 6+ epochs

    resumed = StepBatchSampler(37, seed=3, batch_size=4, grad_accum=2)
    resumed.seek(7 * 8)
    state = resumed.state_dict()
    json.dumps(state)  # plain values only
    assert (state["consumed"], state["epoch"], state["position"]) == (56, 1, 19)
    again = StepBatchSampler(37, seed=3, batch_size=4, grad_accum=2)
    again.load_state_dict(state)
    batches = iter(again)
    assert [next(batches) for _ in range(16)] == expected[14:]

    with pytest.raises(ValueError, match="seed"):
        StepBatchSampler(37, seed=4, batch_size=4).load_state_dict(state)
    with pytest.raises(ValueError, match="num_rows"):
        StepBatchSampler(38, seed=3, batch_size=4).load_state_dict(state)
    with pytest.raises(ValueError, match="not a multiple of the global batch"):
        StepBatchSampler(37, seed=3, batch_size=5).load_state_dict(state)


# --- model and schedule -------------------------------------------------------------------------


def _tiny_model(causal: bool = False) -> TransformerLM:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=VOCAB, max_len=SEQ_LEN, d_model=32, n_layers=2, n_heads=4, d_ff=64)
    return TransformerLM(ModelConfig(**{**cfg.to_dict(), "causal": causal})).eval()


def test_model_ignores_padding_and_causal_flag_hides_the_future() -> None:
    model = _tiny_model()
    ids = torch.randint(7, VOCAB, (2, SEQ_LEN))
    ids[:, 20:] = SPECIAL_IDS["pad"]
    other = ids.clone()
    other[:, 25] = 5  # a real token where there was padding
    logits = model(ids)
    assert logits.shape == (2, SEQ_LEN, VOCAB)
    # Padding is invisible to real positions: same as the unpadded, shorter sequence.
    torch.testing.assert_close(logits[:, :20], model(ids[:, :20]), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(model(other)[:, :20], logits[:, :20])
    all_pad = torch.zeros(1, SEQ_LEN, dtype=torch.long)
    assert torch.isfinite(model(all_pad)).all()

    causal = _tiny_model(causal=True)
    base = causal(ids)
    changed = ids.clone()
    changed[:, 10] = 8
    out = causal(changed)
    torch.testing.assert_close(out[:, :10], base[:, :10])
    assert not torch.allclose(out[:, 10:20], base[:, 10:20])


def test_model_loss_uses_only_labelled_positions_and_ties_the_head() -> None:
    model = _tiny_model()
    ids = torch.randint(7, VOCAB, (3, SEQ_LEN))
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[:, [3, 9]] = ids[:, [3, 9]]
    logits = model(ids)
    want = torch.nn.functional.cross_entropy(
        logits.reshape(-1, VOCAB), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )
    torch.testing.assert_close(model(ids, labels), want)
    assert model(ids, torch.full_like(ids, IGNORE_INDEX)).item() == 0.0  # no NaN
    names = {name for name, _ in model.named_parameters()}
    assert "tok_emb.weight" in names and not any("head.weight" in n for n in names)
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())


def test_schedule_warms_up_linearly_then_decays_by_cosine_to_the_floor() -> None:
    kw = {"warmup_steps": 4, "total_steps": 20, "min_lr_ratio": 0.1}
    assert [lr_multiplier(s, **kw) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_multiplier(4, **kw) == 1.0
    assert math.isclose(lr_multiplier(19, **kw), 0.1)
    assert math.isclose(lr_multiplier(50, **kw), 0.1)
    middle = lr_multiplier(4 + 15 // 2, **kw)
    assert 0.1 < middle < 1.0
    decay = [lr_multiplier(s, **kw) for s in range(4, 20)]
    assert decay == sorted(decay, reverse=True)

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=2.0)
    scheduler = warmup_cosine(optimizer, **kw)
    seen = []
    for _ in range(20):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen[0] == 0.5 and seen[3] == 2.0 and math.isclose(seen[-1], 0.2)


# --- training loop ------------------------------------------------------------------------------


def test_training_loss_falls(baseline: TrainResult) -> None:
    assert baseline.steps == 30 and len(baseline.losses) == 30
    assert all(math.isfinite(x) for x in baseline.losses)
    first, last5 = baseline.losses[0], sum(baseline.losses[-5:]) / 5
    assert first > 4.5  # about ln(200): the model starts knowing nothing
    assert last5 < first - 0.8, baseline.losses
    assert baseline.val_losses[-1][1] < math.log(VOCAB) - 0.8
    assert [s for s, _ in baseline.val_losses] == [20, 30]  # eval_every 20, and at the end
    assert baseline.tokens_seen == 30 * 16 * SEQ_LEN
    assert baseline.device == "cpu" and baseline.parameters > 100_000


def test_training_is_deterministic_on_cpu(
    shards: Path, baseline: TrainResult, tmp_path: Path
) -> None:
    # A second run gives bit-identical losses, however often it validates. (Stopping after
    # 8 steps keeps the schedule of the 30-step run, so the first 8 losses must match exactly.)
    again = train(shards, tmp_path, TrainConfig(steps=30, eval_every=4), None, stop_after=8)
    assert again.losses == baseline.losses[:8]
    assert [s for s, _ in again.val_losses] == [4, 8]  # validation does not disturb training


def test_metrics_and_progress_lines(baseline: TrainResult, shards: Path, tmp_path: Path) -> None:
    records = [json.loads(line) for line in baseline.metrics.read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 10, 15, 20, 25, 30]
    for record in records:
        assert {"step", "loss", "lr", "tokens", "elapsed"} <= set(record)
        assert record["loss"] == pytest.approx(baseline.losses[record["step"] - 1])
    assert "val_loss" in records[3] and "val_loss" not in records[0]

    lines: list[str] = []
    train(shards, tmp_path, TrainConfig(steps=2, log_every=1, **SMALL), progress=lines.append)
    assert any(line.startswith("[train] step 1/2 loss ") and " lr " in line for line in lines)
    assert lines[-1].startswith("[train] done")


def test_checkpoint_loads_weights_only_and_resume_reproduces_the_same_losses(
    shards: Path, baseline: TrainResult, tmp_path: Path
) -> None:
    config = TrainConfig(steps=30)
    first = train(shards, tmp_path, config, progress=None, stop_after=12)
    assert first.losses == baseline.losses[:12] and first.steps == 12

    saved = torch.load(first.checkpoint, map_location="cpu", weights_only=True)
    assert saved["step"] == 12
    assert set(saved) >= {"model", "optimizer", "scheduler", "sampler", "step", "config"}
    assert TrainConfig.model_validate_json(saved["config"]) == config
    # 12 steps of 16 rows: 192 of epoch 0's 200 rows read.
    state = saved["sampler"]["mlm"]
    assert (state["consumed"], state["epoch"], state["position"]) == (192, 0, 192)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))

    second = train(shards, tmp_path, config, progress=None, resume=True)
    assert second.start_step == 12 and second.steps == 30
    assert second.losses == baseline.losses  # the first 12 from the checkpoint's history
    assert second.tokens_seen == baseline.tokens_seen
    records = [json.loads(line) for line in second.metrics.read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 10, 12, 15, 20, 25, 30]


def test_resume_is_exact_with_workers_grad_accum_and_an_epoch_boundary(
    shards: Path, tmp_path: Path
) -> None:
    # 200 rows, 32 a step: step 7 ends 24 rows into epoch 1 (step 7 spans the boundary).
    config = TrainConfig(
        steps=8, grad_accum=2, num_workers=2, eval_every=0, checkpoint_every=4, **SMALL
    )
    whole = train(shards, tmp_path / "whole", config, progress=None)
    part = train(shards, tmp_path / "part", config, progress=None, stop_after=7)
    saved = torch.load(part.checkpoint, weights_only=True)
    state = saved["sampler"]["mlm"]
    assert (state["consumed"], state["epoch"], state["position"]) == (224, 1, 24)
    rest = train(shards, tmp_path / "part", config, progress=None, resume=True)
    assert part.losses == whole.losses[:7] and rest.losses == whole.losses


def test_resume_refuses_a_different_model_shape(shards: Path, tmp_path: Path) -> None:
    train(shards, tmp_path, TrainConfig(steps=1, **SMALL), progress=None)
    with pytest.raises(ValueError, match="d_model"):
        train(shards, tmp_path, TrainConfig(steps=2, d_model=32, d_ff=128), None, resume=True)
    with pytest.raises(FileNotFoundError):
        train(shards, tmp_path / "none", TrainConfig(steps=2), progress=None, resume=True)


def test_empty_val_split_is_skipped(tmp_path: Path) -> None:
    root = write_shards(tmp_path / "shards" / "mlm", train_rows=40, val_rows=0)
    lines: list[str] = []
    # Passing the parent folder finds shards/<objective>/manifest.json.
    result = train(
        tmp_path / "shards", tmp_path / "out", TrainConfig(steps=3, **SMALL), lines.append
    )
    assert result.val_losses == [] and len(result.losses) == 3
    assert any("skipping validation" in line for line in lines)
    assert len(ShardDataset(root, "val")) == 0


def test_cli_trains_a_few_steps(
    shards: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert cli_main(["--shards", str(shards), "--out", str(tmp_path), "--steps", "2"]) == 0
    assert "[train] 2 steps" in capsys.readouterr().out
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "metrics.jsonl").is_file()
