"""ArxivSource driven through the real arxiv client against a loopback Atom server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task, unmapped
from prefect.client.orchestration import get_client

from tasks.backends.rate_limits import ensure_rate_limit
from tasks.models import Paper
from tasks.sources.arxiv import ArxivSource, host_turn
from tasks.sources.paper_source import PaperSource, SourceUnavailable, TransientSourceError
from tests.atom_server import AtomServer, Fault

PROJECT = Path(__file__).resolve().parent.parent
PAPERS = [
    {
        "id": "2404.15159",
        "version": 2,
        "title": "Mixture of LoRA Experts\n  for Retrieval",
        "abstract": "We study retrieval with\n  mixtures of low-rank adapters.   Gains are large.",
        "authors": ["Ada Lovelace", "Alan Turing"],
        "categories": ["cs.CL", "cs.LG"],
        "published": "2024-04-23T15:37:14Z",
    },
    {
        "id": "2401.00001",
        "title": "Sparse attention for long documents",
        "abstract": "Attention that scales to long inputs.",
        "authors": ["Grace Hopper"],
        "published": "2024-01-02T00:00:00Z",
    },
    {"id": "2402.00002", "title": "Retrieval baselines revisited", "abstract": "Strong baselines."},
]


@pytest.fixture
def server() -> Iterator[AtomServer]:
    with AtomServer(PAPERS) as running:
        yield running


def _source(url_format: str, **overrides: Any) -> ArxivSource:
    """A source without spacing unless asked (tests that need no Prefect API never touch one), no host lock."""
    defaults = {"min_interval_seconds": 0.0, "timeout_seconds": 5.0, "lock_file": None}
    return ArxivSource(query_url=url_format, **{**defaults, **overrides})


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_results_map_to_papers_without_version(server: AtomServer) -> None:
    source = _source(server.url_format)

    papers = source.search("all:retrieval", 5)

    assert isinstance(source, PaperSource)
    assert [p.id for p in papers] == ["2404.15159", "2402.00002"]
    assert papers[0] == Paper(
        id="2404.15159",
        title="Mixture of LoRA Experts for Retrieval",
        abstract="We study retrieval with mixtures of low-rank adapters. Gains are large.",
        authors=["Ada Lovelace", "Alan Turing"],
        categories=["cs.CL", "cs.LG"],
        published="2024-04-23",
        url="http://arxiv.org/abs/2404.15159",
    )
    [request] = server.requests
    assert request.query["search_query"] == "all:retrieval"
    assert request.query["sortBy"] == "relevance"
    assert (request.query["start"], request.query["max_results"]) == ("0", "5")


def test_limit_caps_results_in_one_request(server: AtomServer) -> None:
    papers = _source(server.url_format).search("retrieval attention", 2)

    assert len(papers) == 2
    assert len(server.requests) == 1


@pytest.mark.parametrize("fault", [None, Fault(body="empty")])
def test_no_match_is_empty(server: AtomServer, fault: Fault | None) -> None:
    if fault:
        server.faults.put(fault)

    assert _source(server.url_format).search("quantum" if fault is None else "retrieval", 5) == []


@pytest.mark.parametrize("status", [503, 500, 429])
def test_overload_is_transient(server: AtomServer, status: int) -> None:
    server.faults.put(Fault(status=status))

    with pytest.raises(TransientSourceError, match=f"HTTP {status}"):
        _source(server.url_format).search("retrieval", 5)


def test_client_error_is_not_retried(server: AtomServer) -> None:
    server.faults.put(Fault(status=404))

    with pytest.raises(SourceUnavailable, match="HTTP 404.*--corpus"):
        _source(server.url_format).search("retrieval", 5)


@pytest.mark.parametrize("body", ["malformed", "truncated"])
def test_broken_xml_is_transient(server: AtomServer, body: str) -> None:
    server.faults.put(Fault(body=body))

    with pytest.raises(TransientSourceError, match="malformed or truncated XML"):
        _source(server.url_format).search("retrieval", 5)


def test_connection_refused_points_to_corpus() -> None:
    source = _source(f"http://127.0.0.1:{_closed_port()}/api/query?{{}}")

    with pytest.raises(SourceUnavailable, match="(?i)refused") as raised:
        source.search("retrieval", 5)

    assert "arXiv unreachable" in str(raised.value)
    assert "--corpus PATH" in str(raised.value)


def test_unusable_url_is_not_retried() -> None:
    with pytest.raises(SourceUnavailable, match="arxiv_query_url 'no-scheme/api/query"):
        _source("no-scheme/api/query?{}").search("retrieval", 5)


def test_hung_response_times_out_quickly(server: AtomServer) -> None:
    server.faults.put(Fault(delay=30.0))
    started = time.monotonic()

    with pytest.raises(TransientSourceError, match="did not answer within 0.3 s"):
        _source(server.url_format, timeout_seconds=0.3).search("retrieval", 5)

    assert time.monotonic() - started < 5.0


def test_ensure_rate_limit_creates_then_updates(prefect_harness: None) -> None:
    ensure_rate_limit("test-ensure", 0.5)
    ensure_rate_limit("test-ensure", 0.25)

    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name("test-ensure")
    assert (limit.limit, limit.slot_decay_per_second) == (1, 4.0)


@task
def _search_task(source: ArxivSource, query: str) -> list[Paper]:
    return source.search(query, 5)


@flow
def _parallel_searches(source: ArxivSource, queries: list[str]) -> list[list[Paper]]:
    # A pydantic model iterates over its fields, so .map would fan out over them unless unmapped.
    return _search_task.map(unmapped(source), queries).result()


def test_parallel_searches_are_spaced_by_rate_limit(server: AtomServer, prefect_harness: None) -> None:
    source = _source(server.url_format, min_interval_seconds=0.5)
    queries = ["retrieval", "attention", "baselines", "adapters"]

    results = _parallel_searches(source, queries)

    assert all(results)
    arrivals = sorted(request.at for request in server.requests)
    assert len(arrivals) == 4
    assert min(b - a for a, b in pairwise(arrivals)) >= 0.45


# --- paging that stops early -----------------------------------------------------------------------------


def test_short_pages_ending_in_an_empty_page_keep_what_arrived(server: AtomServer, caplog) -> None:
    server.page_cap, server.claimed_total = 1, 100  # one entry a page, and a total the pages never reach

    papers = _source(server.url_format).search("retrieval", 5)

    assert [p.id for p in papers] == ["2404.15159", "2402.00002"]
    assert [r.query["start"] for r in server.requests] == ["0", "1", "2"]  # the third page came back empty
    assert "empty page for 'retrieval'" in caplog.text and "keeping the 2 that came" in caplog.text


def test_an_empty_follow_up_page_is_not_a_failed_query(server: AtomServer, caplog) -> None:
    server.page_cap = 1
    server.faults.put(Fault())
    server.faults.put(Fault(body="empty"))

    papers = _source(server.url_format).search("retrieval", 5)

    assert [p.id for p in papers] == ["2404.15159"]
    assert len(server.requests) == 2
    assert "keeping the 1 that came" in caplog.text


def test_a_server_stuck_on_the_first_page_is_asked_at_most_max_pages_times(server: AtomServer, caplog) -> None:
    server.page_cap, server.claimed_total, server.ignore_start = 1, 10_000, True

    papers = _source(server.url_format, max_pages=3).search("retrieval", 50)

    assert [p.id for p in papers] == ["2404.15159"]  # the same entry three times, kept once
    assert len(server.requests) == 3  # not 50: every page holds one entry and the limit is 50
    assert "after 3 pages; keeping the 1 that came" in caplog.text


# --- spacing across processes without a shared Prefect API -------------------------------------------------

# Forks `processes` children (one import for all) that each send `count` requests, each in its turn of the
# host lock, as the searches of separate runs would.
TURN_DRIVER = """
import os, sys
from pathlib import Path
import requests
from tasks.sources.arxiv import host_turn

lock_file, interval, url, processes, count = sys.argv[1:]
children = []
for _ in range(int(processes)):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for _ in range(int(count)):
                with host_turn(Path(lock_file), float(interval)):
                    requests.get(url, timeout=10).raise_for_status()
            code = 0
        finally:
            os._exit(code)
    children.append(pid)
sys.exit(any(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children))
"""


def test_host_lock_spaces_requests_of_separate_processes(server: AtomServer, tmp_path) -> None:
    interval, processes, each = 0.3, 3, 3
    url = server.url_format.format("search_query=retrieval")
    lock_file = str(tmp_path / "arxiv.lock")
    args = [sys.executable, "-c", TURN_DRIVER, lock_file, str(interval), url, str(processes), str(each)]

    done = subprocess.run(args, cwd=PROJECT, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr[-2000:]
    arrivals = sorted(request.at for request in server.requests)
    assert len(arrivals) == processes * each
    assert min(b - a for a, b in pairwise(arrivals)) >= interval


def test_host_lock_ignores_a_stamp_from_a_clock_set_back(tmp_path) -> None:
    lock_file = tmp_path / "arxiv.lock"
    lock_file.write_text(repr(time.time() + 3600))
    started = time.monotonic()

    with host_turn(lock_file, 30.0):
        pass

    assert time.monotonic() - started < 1.0
    assert float(lock_file.read_text()) <= time.time()
