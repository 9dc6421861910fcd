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


@pytest.fixture
def shared_data() -> Path:
    """`../shared/data` next to the checkout; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"sample data not found at {SHARED_DATA}")
    return SHARED_DATA
