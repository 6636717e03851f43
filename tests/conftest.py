"""Shared fixtures: one Prefect test server for the whole session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import settings

# Fuzz tests (tests/test_fuzz.py) run few generated cases by default; their `slow` twins load "sovereign-full".
settings.register_profile("sovereign", max_examples=15, deadline=None, database=None)
settings.register_profile("sovereign-full", max_examples=300, deadline=None, database=None)
settings.load_profile("sovereign")

# Tests never touch the user's index cache and never wait on real retry delays.
os.environ["SOVEREIGN_SEARCH__CACHE_DIR"] = tempfile.mkdtemp(prefix="sovereign-cache-")
os.environ["SOVEREIGN_SEARCH__RETRY_DELAY_SECONDS"] = "0"
# Nor the user's local Prefect server: CLI runs stay on the test's own API unless a test starts a server of its own.
os.environ["SOVEREIGN_SERVER__HOME"] = tempfile.mkdtemp(prefix="sovereign-server-")
os.environ["SOVEREIGN_SERVER__AUTO_START"] = "false"


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A throwaway Prefect API (about 12 s to start), shared by every test that asks for it."""
    from prefect.settings import PREFECT_HOME, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    home = tmp_path_factory.mktemp("prefect-home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PREFECT_HOME", str(home))
        env.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        with temporary_settings({PREFECT_HOME: home, PREFECT_SERVER_ANALYTICS_ENABLED: False}):
            with prefect_test_harness():
                yield
