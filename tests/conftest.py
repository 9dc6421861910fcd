"""Shared fixtures: an isolated Prefect backend for the tests that run flows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows import prefect_env

prefect_env.configure()

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A throwaway Prefect database for the session (flows run in ephemeral mode)."""
    from prefect.testing.utilities import prefect_test_harness

    # None: the start-up limit set by prefect_env, not the harness's own 30 s.
    with prefect_test_harness(server_startup_timeout=None):
        yield


#: A document whose markup must never change the card's page: HTML that would show an image and
#: leave a block open, and a Markdown table. Its own source, so it is the first dropped example.
HOSTILE_TEXT = "<div><img src=x onerror=alert(1)>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> dict:
    """One run of the test corpus (plus a hostile document) through every stage, for the
    tests that only read a finished run."""
    import json

    from flows.cli import main
    from tests.corpus_fixtures import write_config, write_corpus

    folder = tmp_path_factory.mktemp("chain")
    corpus = write_corpus(folder / "in")
    (folder / "in" / "hostile.jsonl").write_text(json.dumps({"text": HOSTILE_TEXT}) + "\n")
    corpus["config"]["sources"].insert(
        0,
        {
            "name": "hostile",
            "kind": "web",
            "format": "jsonl",
            "paths": ["hostile.jsonl"],
            "license": "CC0-1.0",
        },
    )
    corpus["expected"]["ingest_in"] += 1
    config = write_config(folder / "in", corpus["config"])
    out = folder / "run"
    assert main(["run", "--config", str(config), "--out", str(out)]) == 0
    return {"out": out, "config": config, "expected": corpus["expected"]}


@pytest.fixture
def shared_data() -> Path:
    """`../shared/data` next to the checkout; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"sample data not found at {SHARED_DATA}")
    return SHARED_DATA
