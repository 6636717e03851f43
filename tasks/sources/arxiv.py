"""Live arXiv search through the `arxiv` client, spaced by a host-wide file lock and a Prefect global rate limit."""

from __future__ import annotations

import fcntl
import logging
import re
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import arxiv
import requests
from lxml import etree
from prefect.concurrency.sync import rate_limit
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from pydantic import BaseModel, Field

from tasks.backends.rate_limits import ensure_rate_limit_once
from tasks.index.text import normalize_space
from tasks.models import Paper, normalize_id
from tasks.settings import Settings
from tasks.sources.paper_source import SourceUnavailable, TransientSourceError

RATE_LIMIT_NAME = "sovereign-arxiv"
_ATOM_FEED = "{http://www.w3.org/2005/Atom}feed"
_VERSION_SUFFIX = re.compile(r"v\d+$")
_CONNECTION_REPR = re.compile(r"^(?:<[^>]*>|HTTPS?Connection\([^)]*\)): ")


def _read_stamp(handle: IO[str]) -> float:
    """The end time of the host's previous arXiv request written in the lock file; 0 when there is none."""
    handle.seek(0)
    try:
        return float(handle.read() or 0)
    except ValueError:  # a torn or foreign file: treat as no previous request
        return 0.0


@contextmanager
def host_turn(lock_file: Path, min_interval_seconds: float) -> Iterator[None]:
    """Hold the host's one arXiv connection, opened at least `min_interval_seconds` after the previous one closed.

    The Prefect limit spaces requests only among processes that share a Prefect database: concurrent runs with
    separate backends (two PREFECT_HOMEs, or a team server and a laptop's ephemeral one) were measured sending
    requests 0.13–0.22 s apart at a 0.5 s spacing. This file lock spaces every process of the host, and timing
    from the end of the previous response keeps the gaps the server sees at or above the interval whatever the
    latency; arXiv also asks for one connection at a time, which holding the lock through the request gives.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, also if the process dies
        wait = _read_stamp(handle) + min_interval_seconds - time.time()
        if 0 < wait <= min_interval_seconds:  # a stamp further ahead comes from a clock that was set back
            time.sleep(wait)
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.write(repr(time.time()))
            handle.flush()


class _PoliteSession(requests.Session):
    """The session arxiv.Client sends every request through: rate-limited, timed out, Atom-checked.

    arxiv.Client takes no timeout and no hook; its only HTTP call is `self._session.get(url, headers=...)`,
    so overriding `request` is the single place that sees every request before it goes out and every
    body before arxiv's lenient parser (lxml with recover=True) silently drops what it cannot read.
    """

    def __init__(self, source: ArxivSource) -> None:
        super().__init__()
        self.source = source
        self.pages = 0

    def _turn(self) -> AbstractContextManager[None]:
        """This host's turn to send a request, or no wait when spacing is off or has no lock file."""
        interval, lock_file = self.source.min_interval_seconds, self.source.lock_file
        return host_turn(lock_file, interval) if interval > 0 and lock_file else nullcontext()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if self.pages >= self.source.max_pages:
            raise _PageLimit(self.pages)
        self.pages += 1
        kwargs.setdefault("timeout", self.source.timeout_seconds)
        with self._turn():
            if self.source.min_interval_seconds > 0:
                rate_limit(RATE_LIMIT_NAME, strict=True)
            response = super().request(method, url, *args, **kwargs)
        if response.ok:
            _require_atom_feed(response.content)
        return response


class _PageLimit(Exception):
    """The next request would exceed the pages one search may ask for."""


def _require_atom_feed(content: bytes) -> None:
    """Raise TransientSourceError unless the body is a complete, well-formed Atom feed."""
    try:
        root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise TransientSourceError(f"arXiv sent malformed or truncated XML ({exc.msg})") from exc
    if root.tag != _ATOM_FEED:
        raise TransientSourceError(f"arXiv sent <{etree.QName(root).localname}> instead of an Atom feed")


def _network_reason(exc: requests.RequestException, timeout: float) -> str:
    """The socket-level cause of a failed request, without urllib3's object reprs."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    cause = exc.args[0] if exc.args else exc
    cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the socket error
    return _CONNECTION_REPR.sub("", str(cause))


@contextmanager
def _arxiv_errors(url: str, timeout: float) -> Iterator[None]:
    """Turn requests and arxiv exceptions into SourceUnavailable (give up) or TransientSourceError (retry)."""
    host = urlsplit(url).netloc
    try:
        yield
    except arxiv.HTTPError as exc:
        if exc.status == 429 or exc.status >= 500:
            raise TransientSourceError(f"arXiv at {host} answered HTTP {exc.status}; retry later") from exc
        raise SourceUnavailable(
            f"arXiv at {host} answered HTTP {exc.status}; check arxiv_query_url or use --corpus PATH for a local corpus"
        ) from exc
    except requests.ReadTimeout as exc:  # reached but slow: a nightly run should try again, not give up
        raise TransientSourceError(
            f"arXiv at {host} did not answer within {timeout:g} s; retry later or use --corpus PATH"
        ) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise SourceUnavailable(
            f"arXiv unreachable at {host} ({_network_reason(exc, timeout)}); "
            "check the network or use --corpus PATH for a local corpus"
        ) from exc
    except requests.RequestException as exc:
        if isinstance(exc, ValueError):  # MissingSchema, InvalidURL: a setting is wrong, a retry cannot help
            raise SourceUnavailable(f"arxiv_query_url {url!r} is not usable ({exc})") from exc
        raise TransientSourceError(f"arXiv at {host} broke off the response ({exc})") from exc


def _warn(message: str) -> None:
    """A warning in the run's log (the Prefect UI, the CLI), or this module's log outside a run."""
    try:
        logger: logging.Logger | logging.LoggerAdapter = get_run_logger()
    except MissingContextError:
        logger = logging.getLogger(__name__)
    logger.warning(message)


def _collect(results: Iterator[arxiv.Result], query: str, max_pages: int) -> list[Paper]:
    """Papers in result order, each id once; paging that stops early keeps what arrived."""
    papers: dict[str, Paper] = {}
    try:
        for result in results:
            paper = _paper(result)
            papers.setdefault(paper.id, paper)
    except arxiv.UnexpectedEmptyPageError:  # arXiv's totalResults promised more than its pages hold
        _warn(f"arXiv sent an empty page for '{query}' though it reported more; keeping the {len(papers)} that came")
    except _PageLimit:  # short pages move the offset on by a few entries: paging alone ends only at `limit` requests
        _warn(f"arXiv still reported more for '{query}' after {max_pages} pages; keeping the {len(papers)} that came")
    return list(papers.values())


def _paper(result: arxiv.Result) -> Paper:
    """A Paper from one arXiv result; ids and links drop the version suffix."""
    paper_id = normalize_id(result.entry_id)
    return Paper(
        id=paper_id,
        title=normalize_space(result.title),
        abstract=normalize_space(result.summary),
        authors=[author.name for author in result.authors],
        categories=list(result.categories),
        published=result.published.date().isoformat(),
        url=_VERSION_SUFFIX.sub("", result.entry_id),
    )


def default_lock_file() -> Path:
    """`arxiv.lock` in the cache directory, which every run of this user on this host shares."""
    return Settings().search.cache_dir / "arxiv.lock"


class ArxivSource(BaseModel):
    """The arXiv API searched by relevance, one request per query; fields form the cache key."""

    name: str = "arxiv"
    query_url: str = Field(description="API format string, e.g. https://export.arxiv.org/api/query?{}.")
    min_interval_seconds: float = Field(3.0, ge=0.0, description="Spacing of requests; 0 turns it off.")
    timeout_seconds: float = Field(20.0, gt=0.0)
    max_pages: int = Field(3, ge=1, description="Most requests one search makes when arXiv sends short pages.")
    lock_file: Path | None = Field(
        default_factory=default_lock_file, description="File that spaces the requests of all processes on this host."
    )

    def search(self, query: str, limit: int) -> list[Paper]:
        if limit < 1:
            return []  # arxiv reads max_results=0 as "no limit"
        if self.min_interval_seconds > 0:
            ensure_rate_limit_once(RATE_LIMIT_NAME, self.min_interval_seconds)
        # Retries belong to the Prefect task around this call, spacing to the host lock and rate limit: none here.
        client = arxiv.Client(page_size=limit, delay_seconds=0, num_retries=0)
        client.query_url_format = self.query_url
        search = arxiv.Search(query=query, max_results=limit, sort_by=arxiv.SortCriterion.Relevance)
        with _arxiv_errors(self.query_url, self.timeout_seconds), _PoliteSession(self) as session:
            client._session = session  # arxiv.Client has no parameter for its session
            return _collect(client.results(search), query, self.max_pages)
