"""The data card as a Hugging Face dataset card: metadata the Hub's parser reads, `configs` that
`datasets.load_dataset` loads, documents shown as text whatever they hold, and valid PNG plots."""

from __future__ import annotations

import json
import struct
import zlib

from huggingface_hub import DatasetCard
from markdown_it import MarkdownIt

from pipeline.rundir import RunDir

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _card(run: RunDir) -> dict:
    return json.loads(run.card_paths[1].read_text())


def test_card_metadata_parses(finished_run: dict) -> None:
    run = RunDir(finished_run["out"])
    card = DatasetCard.load(run.card_paths[0])
    data = card.data.to_dict()
    assert data["license"] == ["cc0-1.0", "mit", "other"]  # books: public-domain
    assert "public-domain" in data["license_name"]
    assert data["language"] == ["en", "code"]
    assert data["size_categories"] == ["n<1K"]
    assert data["task_categories"] == ["fill-mask"]
    assert data["pretty_name"]
    assert {c["config_name"] for c in data["configs"]} == {"documents", "mlm"}
    assert "## Funnel" in card.text
    assert DatasetCard.load(run.dataset_readme_path).data.to_dict() == data


def test_configs_load_with_datasets(finished_run: dict) -> None:
    import datasets

    run = RunDir(finished_run["out"])
    documents = datasets.load_dataset(str(run.root), "documents", split="train")
    assert len(documents) == run.stage_record("dedup")["counts"]["docs_kept"]
    assert {"id", "text", "kind", "lang"} <= set(documents.column_names)
    # `datasets` picks one builder per dataset folder (Parquet, from the first config), so the
    # Arrow shards' config is read with the Arrow builder, from the files it lists.
    configs = DatasetCard.load(run.card_paths[0]).data.to_dict()["configs"]
    files = next(c for c in configs if c["config_name"] == "mlm")["data_files"]
    mlm = datasets.load_dataset(
        "arrow", data_files={f["split"]: [str(run.root / p) for p in f["path"]] for f in files}
    )
    manifest = json.loads((run.objective_dir("mlm") / "manifest.json").read_text())
    assert len(mlm["train"]) == manifest["splits"]["train"]["rows"]
    assert len(mlm["train"][0]["input_ids"]) == manifest["seq_len"]


def test_document_markup_stays_text(finished_run: dict) -> None:
    """The hostile document (`<div><img src=x ...>` and a Markdown table) is a dropped example:
    rendered, the page has no element from it, only its text in a code span."""
    run = RunDir(finished_run["out"])
    markdown = run.card_paths[0].read_text()
    body = markdown.split("\n---\n", 1)[1]
    assert "`<div><img src=x onerror=alert(1)> | a | b | |---|---| | 1 | 2 |`" in body
    html = MarkdownIt("commonmark").enable("table").render(body)
    assert "<img src=x" not in html and "<div>" not in html
    assert "&lt;div&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    tables = html.count("<table>")
    assert tables == body.count("\n|---") + body.count("\n| --")  # only the card's own tables


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    chunk = data[12 : 12 + 4 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert zlib.crc32(chunk) == crc
    return struct.unpack(">II", data[16:24])


def test_plots_are_valid_pngs_linked_from_the_card(finished_run: dict) -> None:
    from PIL import Image

    run = RunDir(finished_run["out"])
    card = _card(run)
    expected = {"funnel.png", "composition.png", "lengths.png", "clusters.png", "fertility.png"}
    assert expected <= set(card["plots"])
    assert any(name.startswith("signals-gopher") for name in card["plots"])
    markdown = run.card_paths[0].read_text()
    root_markdown = run.dataset_readme_path.read_text()
    for name in card["plots"]:
        data = run.card_plot_path(name).read_bytes()
        width, height = _png_size(data)
        assert width > 100 and height > 100
        with Image.open(run.card_plot_path(name)) as image:
            image.verify()
        assert f"]({name})" in markdown and f"](card/{name})" in root_markdown


def test_card_states_dedup_shape_and_fertility(finished_run: dict) -> None:
    run = RunDir(finished_run["out"])
    lsh = run.stage_record("dedup")["lsh"]
    markdown = run.card_paths[0].read_text()
    assert f"{lsh['bands']} bands x {lsh['rows']} rows" in markdown
    assert f"threshold of **{lsh['threshold']}**" in markdown
    fertility = _card(run)["fertility"]
    assert {(r["kind"], r["lang"]) for r in fertility} >= {("web", "en"), ("code", "python")}
    assert all(r["tokens_per_word"] >= 1 for r in fertility)
