"""Shared fixtures: one Prefect test server for the whole session, and an in-process fake chat model."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import settings

from tasks.backends.llm import Completion
from tasks.models import Message

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

# The files that take a minute or more, started first: `make test` hands whole files to two processes in collection
# order, and one of these started last would leave the other process idle while it runs (longest first packs best).
LONGEST_FILES = (
    "test_load.py",
    "test_resume.py",
    "test_server.py",
    "test_deployments.py",
    "test_arxiv_runs.py",
    "test_warm_worker.py",
    "test_embed.py",
    "test_sweep.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Collect the longest files first (the rest keep their order)."""
    order = {name: rank for rank, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: order.get(item.path.name, len(order)))


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
            # a bound, not a delay: a loaded 2-core machine can take over a minute to start the server
            with prefect_test_harness(server_startup_timeout=180):
                yield


@dataclass
class FakeChat:
    """An in-process chat model for stage-logic tests: the test's replies, in order, whatever the prompts say."""

    replies: list[object]
    name: str = "fake-chat"
    max_attempts: int = 2
    reply_cache: None = None
    sent: list[list[Message]] = field(default_factory=list)

    def complete(self, messages: list[Message]) -> Completion:
        """The next reply (a dict is sent as its JSON); records the conversation it answers."""
        self.sent.append(list(messages))
        reply = self.replies.pop(0)
        return Completion(text=reply if isinstance(reply, str) else json.dumps(reply))


@pytest.fixture
def fake_chat() -> Iterator[Callable[..., FakeChat]]:
    """Build a FakeChat from its replies; the usage it records is dropped afterwards."""
    from tasks.backends.llm import take_usage

    yield lambda *replies: FakeChat(list(replies))
    take_usage()
