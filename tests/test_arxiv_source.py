"""ArxivSource driven through the real arxiv client against a loopback Atom server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from itertools import pairwise

import pytest
from prefect import flow, task, unmapped
from prefect.client.orchestration import get_client

from tasks.arxiv_source import ArxivSource, ensure_rate_limit
from tasks.models import Paper
from tasks.sources import PaperSource, SourceUnavailable, TransientSourceError
from tests.atom_server import AtomServer, Fault

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


def _source(url_format: str, **overrides: float) -> ArxivSource:
    """A source without rate limiting, so tests that need no Prefect API never touch one."""
    return ArxivSource(query_url=url_format, **{"min_interval_seconds": 0.0, "timeout_seconds": 5.0, **overrides})


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
