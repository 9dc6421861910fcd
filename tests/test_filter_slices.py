"""A partition filtered in slices -- measured piece by piece, then decided whole -- gives the
bytes of the partition filtered in one piece."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.hashing import file_sha256
from pipeline.ingest.plan import plan_units
from pipeline.rundir import RunDir
from pipeline.steps import filter as filter_steps
from pipeline.steps.ingest import ingest_step
from tests.corpus_fixtures import write_config, write_corpus


def test_row_ranges_cover_every_row_once_in_near_equal_pieces() -> None:
    for rows in (0, 1, 63, 64, 65, 200, 1000, 4097):
        for pieces in (1, 2, 3, 8):
            ranges = filter_steps.row_ranges(rows, pieces, 64)
            assert ranges[0][0] == 0 and ranges[-1][1] == rows
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
            assert len(ranges) == max(1, min(pieces, rows // 64))
            sizes = [stop - start for start, stop in ranges]
            assert max(sizes) - min(sizes) <= 1
            if len(ranges) > 1:
                assert min(sizes) >= 64


def test_read_rows_reads_a_range_across_row_groups(tmp_path: Path) -> None:
    import pyarrow as pa

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"n": list(range(1000))}), path, row_group_size=128)
    for start, stop in ((0, 1000), (0, 1), (127, 129), (300, 700), (999, 1000), (5, 5)):
        assert filter_steps.read_rows(path, start, stop).column("n").to_pylist() == list(
            range(start, stop)
        )


def _ingest(run: RunDir, config) -> list[str]:
    units = plan_units(config.sources, config.base_dir)
    return [s["part"] for unit in units for s in ingest_step(run, config, unit)]


def test_sliced_partitions_are_byte_identical_to_whole_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_corpus(tmp_path / "in")
    config = load_config(write_config(tmp_path / "in", corpus["config"]))
    whole, sliced = RunDir(tmp_path / "whole"), RunDir(tmp_path / "sliced")
    parts = _ingest(whole, config)
    assert _ingest(sliced, config) == parts
    monkeypatch.setattr(filter_steps, "MIN_SLICE_ROWS", 4)
    pieces_seen = []
    for stage in ("langid", "quality"):
        for part in parts:
            one = filter_steps.filter_step(whole, config, stage, part)
            plan = filter_steps.plan_slices(sliced, config, stage, part, 3)
            assert plan.done is None
            pieces_seen.append(len(plan.ranges))
            if not plan.ranges:  # too few rows to share
                filter_steps.filter_step(sliced, config, stage, part)
                continue
            slices = [
                filter_steps.annotate_slice(sliced, config, stage, part, start, stop)
                for start, stop in plan.ranges
            ]
            summary = filter_steps.decide_slices(sliced, config, stage, part, plan.fp, slices)
            assert summary["kept_sha256"] == one["kept_sha256"]
            for path in (RunDir.kept_path, RunDir.dropped_path):
                mine, theirs = path(sliced, stage, part), path(whole, stage, part)
                assert mine.exists() == theirs.exists()
                assert not mine.exists() or file_sha256(mine) == file_sha256(theirs)
            counts = {k: v for k, v in summary["stats"].items() if k != "seconds"}
            assert counts == {k: v for k, v in one["stats"].items() if k != "seconds"}
            # finished now: a second plan finds it done, as filter_step would skip it
            again = filter_steps.plan_slices(sliced, config, stage, part, 3)
            assert again.done is not None and again.done["skipped"]
    assert max(pieces_seen) == 3  # the web partition was cut into three


def test_one_piece_goes_whole(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "in")
    config = load_config(write_config(tmp_path / "in", corpus["config"]))
    run = RunDir(tmp_path / "run")
    parts = _ingest(run, config)
    assert filter_steps.plan_slices(run, config, "langid", parts[0], 1).ranges == []
