"""Data ablations: variants, the pass-through of a stage switched off, the stage cache shared by
variants, the validation set held out from every variant, and the planted-noise experiment run
through `gristmill ablate` (the Prefect flow): the filtered variant beats the noisy one by more
than the seeds' spread, and an A/A pair is reported as not different."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.ablate.noise import plant_noise, write_planted
from pipeline.ablate.report import pooled_std, verdict
from pipeline.ablate.run import make_plan
from pipeline.ablate.variants import AblationError, apply_variant, parse_sweep, parse_variants
from pipeline.config import ConfigError, load_config, parse_config
from pipeline.dedup.exact import exact_keys
from pipeline.rundir import RunDir
from pipeline.stages import DOCUMENT_STAGES
from tests.corpus_fixtures import english_doc

#: Small enough to train six models in seconds each on two busy cores.
SETTINGS = {
    "tokenizer": {"vocab_size": 400, "min_frequency": 1},
    "shards": {"objectives": ["clm"], "clm": {"seq_len": 32}, "val_fraction": 0.15},
    "train": {
        "batch_size": 8,
        "d_model": 32,
        "n_layers": 1,
        "n_heads": 2,
        "d_ff": 64,
        "lr": 3e-3,
        "warmup_steps": 2,
    },
}


def _clean(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [english_doc(rng, 8) for _ in range(count)]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> dict:
    """The planted-noise experiment through the CLI: 120 clean pages, 30% junk, 20% near
    duplicates; raw (noisy) against full (filtered) and full's A/A replicate, 2 seeds each."""
    import torch

    from flows.cli import main

    folder = tmp_path_factory.mktemp("ablate")
    config = write_planted(folder / "data", _clean(120), 0.3, 0.2, seed=1, settings=SETTINGS)
    out = folder / "out"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the test machine's cores are shared: one thread trains fastest
    try:
        argv = ["ablate", "--config", str(config), "--out", str(out)]
        argv += ["--variants", "raw,full,full-aa", "--seeds", "2", "--tokens", "10000"]
        status = main(argv)
    finally:
        torch.set_num_threads(threads)
    assert status == 0
    report = json.loads((out / "report" / "ablation.json").read_text())
    return {"out": out, "config": config, "report": report}


def test_filtered_variant_beats_noisy_and_aa_pair_is_not_different(planted: dict) -> None:
    report = planted["report"]
    rows = {v["name"]: v for v in report["variants"]}
    raw, full = rows["raw"], rows["full"]
    assert full["mean"] < raw["mean"] - (raw["std"] + full["std"])
    pairs = {(p["a"], p["b"]): p for p in report["pairs"]}
    better = pairs[("raw", "full")]
    assert better["verdict"] == "better" and -better["difference"] > better["spread"]
    aa = pairs[("full", "full-aa")]
    assert aa["aa"] and aa["verdict"] == "not different"
    # the A/A replicate trained the same data with other seeds, so its losses differ
    assert rows["full-aa"]["final_val_losses"] != full["final_val_losses"]
    assert rows["full-aa"]["tokens"] == full["tokens"]
    # equal token budgets, one identical model
    assert len({v["tokens_seen"] for v in rows.values()}) == 1
    assert len({v["parameters"] for v in rows.values()}) == 1
    assert raw["docs"] > full["docs"]


def test_report_files_and_show_print_the_table(planted: dict, capsys) -> None:
    from flows.cli import main

    folder = planted["out"] / "report"
    for name in ("ablation.json", "ablation.md", "val_loss.png", "train_loss.png"):
        assert (folder / name).is_file(), name
    assert (folder / "val_loss.png").read_bytes()[:4] == b"\x89PNG"
    markdown = (folder / "ablation.md").read_text()
    assert "| full |" in markdown and "not different" in markdown and "Rule:" in markdown
    capsys.readouterr()
    assert main(["show", str(planted["out"])]) == 0
    text = capsys.readouterr().out
    assert "variant" in text and "full-aa" in text and "verdicts against raw" in text


def test_variants_share_stage_outputs_as_links(planted: dict) -> None:
    out = planted["out"]
    raw, full = RunDir(out / "variants" / "raw"), RunDir(out / "variants" / "full")
    part = sorted(json.loads(raw.stage_json_path("ingest").read_text())["partitions"])[0]
    # ingest is run once: both variants' partitions are the same file
    assert os.path.samefile(raw.kept_path("ingest", part), full.kept_path("ingest", part))
    # raw switches langid, quality and dedup off: each passes the ingest file on, uncopied
    for stage in DOCUMENT_STAGES[1:]:
        assert os.path.samefile(raw.kept_path(stage, part), raw.kept_path("ingest", part))
        assert raw.stage_record(stage)["counts"]["docs_dropped"] == 0
    # full filtered: its planted junk and near duplicates are gone
    planted_kinds = pq.read_table(full.kept_path("dedup", part)).column("meta").to_pylist()
    kept = [json.loads(m or "{}").get("planted") for m in planted_kinds]
    assert kept.count("clean") >= 0.9 * 120 * 0.85 and not {"boilerplate", "machine"} & set(kept)
    manifest = json.loads(raw.manifest_path.read_text())
    assert manifest["config"]["off"] == ["langid", "quality", "dedup"]


def test_validation_is_held_out_from_every_variant(planted: dict) -> None:
    out = planted["out"]
    val = pq.read_table(out / "shared" / "validation.parquet")
    val_ids = set(val.column("id").to_pylist())
    val_keys = set(exact_keys(val.column("text").to_pylist(), False))
    for arm in ("raw", "full"):
        docs = [pq.read_table(p) for p in sorted((out / "arms" / arm / "documents").glob("*"))]
        ids = {i for t in docs for i in t.column("id").to_pylist()}
        texts = [x for t in docs for x in t.column("text").to_pylist()]
        assert not ids & val_ids
        assert not set(exact_keys(texts, False)) & val_keys
    data = json.loads((out / "arms" / "raw" / "data.json").read_text())
    # raw holds near duplicates of validation pages: they were removed with them
    assert data["removed_for_validation"] > len(val_ids)


def test_variants_and_sweeps_parse_and_apply(tmp_path: Path) -> None:
    names = [v.name for v in parse_variants("raw,langid,quality,dedup,full,full-aa")]
    assert names == ["raw", "langid", "quality", "dedup", "full", "full-aa"]
    assert parse_variants("full-aa")[0].replicate_of == "full"
    sweep = parse_sweep("quality.gopher_quality.min_doc_words=50,100,null")
    assert [v.name for v in sweep] == [
        "min_doc_words=50",
        "min_doc_words=100",
        "min_doc_words=null",
    ]
    assert [v.settings["quality.gopher_quality.min_doc_words"] for v in sweep] == [50, 100, None]
    config = load_config(write_planted(tmp_path, _clean(5), 0.0, 0.0, settings=SETTINGS))
    applied = apply_variant(config, sweep[1])
    assert applied.quality.gopher_quality.min_doc_words == 100 and applied.off == []
    assert apply_variant(config, parse_variants("quality")[0]).off == ["langid", "dedup"]
    plan = make_plan(config, tmp_path / "o", sweep="quality.gopher_quality.min_doc_words=50,200")
    assert [v.name for v in plan.variants] == ["min_doc_words=50", "min_doc_words=200"]
    assert plan.baseline == "min_doc_words=50"
    assert {v.name for v in plan.prepared} >= {"raw", "full"}
    for bad in ("tokenizer.vocab_size=10,20", "quality.gopher_quality=1", "nothing"):
        with pytest.raises(AblationError):
            make_plan(config, tmp_path / "o", sweep=bad)
    with pytest.raises(AblationError, match="min_doc_wordz"):
        make_plan(config, tmp_path / "o", sweep="quality.gopher_quality.min_doc_wordz=1")
    with pytest.raises(AblationError, match="unknown variant"):
        parse_variants("raw,filtered")
    with pytest.raises(AblationError, match="its original"):
        make_plan(config, tmp_path / "o", variants="raw,full-aa")


def test_off_names_only_stages_that_can_be_switched_off(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    source = {"name": "a", "kind": "web", "format": "jsonl", "paths": ["a.jsonl"]}
    parse_config({"sources": [source], "off": ["quality", "dedup"]}, tmp_path)
    with pytest.raises(ConfigError, match="ingest cannot be switched off"):
        parse_config({"sources": [source], "off": ["ingest"]}, tmp_path)


def test_verdict_rule() -> None:
    rows = [{"std": 0.02, "seeds": 3}, {"std": 0.04, "seeds": 3}]
    pooled, df = pooled_std(rows)
    assert df == 4 and pooled == pytest.approx((0.0004 + 0.0016) ** 0.5 / 2**0.5)
    spread = 2.776 * pooled * (2 / 3) ** 0.5  # t(0.975, 4)
    base = {"mean": 3.0, "std": 0.02, "seeds": 3}
    assert verdict(base, {"mean": 3.0 - 1.01 * spread, "seeds": 3}, pooled, df)["verdict"] == (
        "better"
    )
    assert verdict(base, {"mean": 3.0 + 1.01 * spread, "seeds": 3}, pooled, df)["verdict"] == (
        "worse"
    )
    close = verdict(base, {"mean": 3.0 + 0.99 * spread, "seeds": 3}, pooled, df)
    assert close["verdict"] == "not different"
    assert close["spread"] == pytest.approx(spread)
    one = verdict({"mean": 3.0, "seeds": 1}, {"mean": 2.0, "seeds": 1}, 0.0, 0)
    assert one["verdict"] == "no spread (one seed)"


def test_planted_noise_is_deterministic_and_counted() -> None:
    clean = _clean(40)
    first, second = plant_noise(clean, 0.3, 0.2, seed=5), plant_noise(clean, 0.3, 0.2, seed=5)
    assert first == second
    kinds = [r["planted"] for r in first]
    assert kinds.count("clean") == 40 and len(kinds) == 80
    assert kinds.count("near_duplicate") == 16
    assert sum(kinds.count(k) for k in ("boilerplate", "repeated", "machine")) == 24


def test_ablate_errors_are_one_line(tmp_path: Path, capsys) -> None:
    from flows.cli import main

    config = write_planted(tmp_path, _clean(5), 0.0, 0.0, settings=SETTINGS)
    cases = [
        ["--variants", "raw,filtered"],
        ["--sweep", "train.steps=1,2"],
        ["--seeds", "0"],
        ["--objective", "nope"],
    ]
    for extra in cases:
        capsys.readouterr()
        argv = ["ablate", "--config", str(config), "--out", str(tmp_path / "o"), *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("gristmill: ") and "\n" not in err, err
    assert main(["ablate", "--config", str(tmp_path / "missing.yaml"), "--out", "x"]) == 2


def test_run_with_stages_switched_off_passes_documents_through(planted: dict) -> None:
    """`off:` in a plain `gristmill run`: the flow's pass-through tasks, and the stage after
    reads the passed-on partitions."""
    import yaml

    from flows.cli import main

    config_path = planted["config"]
    data = yaml.safe_load(config_path.read_text())
    data["off"] = ["quality", "dedup"]
    off_config = config_path.with_name("off.yaml")
    off_config.write_text(yaml.safe_dump(data))
    out = planted["out"].parent / "off-run"
    assert main(["run", "--config", str(off_config), "--out", str(out), "--until", "dedup"]) == 0
    run = RunDir(out)
    langid_kept = run.stage_record("langid")["counts"]["docs_kept"]
    for stage in ("quality", "dedup"):
        counts = run.stage_record(stage)["counts"]
        assert counts["docs_in"] == counts["docs_kept"] == langid_kept
    part = sorted(run.stage_record("dedup")["partitions"])[0]
    assert os.path.samefile(run.kept_path("dedup", part), run.kept_path("langid", part))
    # a second run through the flow (--recheck: not answered by the up-to-date check) skips
    # every pass-through partition
    again = ["run", "--config", str(off_config), "--out", str(out), "--until", "dedup"]
    assert main([*again, "--recheck"]) == 0
    assert run.stage_record("dedup")["skipped_partitions"] == 1


def test_card_has_an_ablation_section(planted: dict) -> None:
    """A run directory holding `ablation/report/` shows the table in its card."""
    import shutil

    from pipeline.card.build import build_card

    run = RunDir(planted["out"] / "variants" / "full")
    shutil.copytree(planted["out"] / "report", run.ablation_dir / "report")
    card = build_card(run, load_config(planted["config"]), title="ablation card")
    assert card["ablation"]["baseline"] == "raw"
    text = run.card_paths[0].read_text()
    assert "## Data ablations" in text and "| full-aa |" in text
    assert "](../ablation/report/val_loss.png)" in text
    assert "](ablation/report/val_loss.png)" in run.dataset_readme_path.read_text()


def test_sigterm_stops_an_ablation_while_it_trains(planted: dict, tmp_path: Path) -> None:
    """SIGTERM while models train: the command ends within seconds with its one line (Prefect's
    own handler would wait for the running trainings)."""
    import signal
    import subprocess
    import sys
    import time

    from tests.cli_helpers import own_prefect

    out = tmp_path / "out"
    argv = [sys.executable, "-m", "flows.cli", "ablate", "--config", str(planted["config"])]
    argv += ["--out", str(out), "--variants", "raw", "--seeds", "1", "--tokens", "5000000"]
    env = {**own_prefect(tmp_path / "prefect-home"), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(out.rglob("metrics.jsonl")):  # a model is training
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    stopped_at = time.monotonic()
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert time.monotonic() - stopped_at < 15
    assert child.returncode == 128 + signal.SIGTERM
    assert b"stopped (SIGTERM)" in err and b"Traceback" not in err
