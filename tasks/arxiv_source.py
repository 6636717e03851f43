"""Live arXiv search through the `arxiv` client, spaced by a Prefect global rate limit."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import arxiv
import requests
from lxml import etree
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.concurrency.sync import rate_limit
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from pydantic import BaseModel, Field

from tasks.corpus import normalize_id
from tasks.models import Paper
from tasks.sources import SourceUnavailable, TransientSourceError
from tasks.text import normalize_space

RATE_LIMIT_NAME = "sovereign-arxiv"
_ATOM_FEED = "{http://www.w3.org/2005/Atom}feed"
_VERSION_SUFFIX = re.compile(r"v\d+$")
_CONNECTION_REPR = re.compile(r"^(?:<[^>]*>|HTTPS?Connection\([^)]*\)): ")

_ensured: set[tuple[str, float]] = set()
_ensured_lock = threading.Lock()


def ensure_rate_limit(name: str, min_interval_seconds: float) -> None:
    """Create or update the global limit `name` so it admits one request per `min_interval_seconds`."""
    if min_interval_seconds <= 0:
        raise ValueError("a rate limit needs a positive interval")
    decay = 1.0 / min_interval_seconds
    with get_client(sync_client=True) as client:
        try:
            current = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1, slot_decay_per_second=decay)
                )
                return
            except ObjectAlreadyExists:  # another process created it between our read and create
                current = client.read_global_concurrency_limit_by_name(name)
        if current.limit != 1 or not current.active or abs(current.slot_decay_per_second - decay) > 1e-9:
            client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(limit=1, active=True, slot_decay_per_second=decay)
            )


def _ensure_rate_limit_once(name: str, min_interval_seconds: float) -> None:
    """`ensure_rate_limit` once per process for each (name, interval), even from parallel threads."""
    with _ensured_lock:
        if (name, min_interval_seconds) not in _ensured:
            ensure_rate_limit(name, min_interval_seconds)
            _ensured.add((name, min_interval_seconds))


class _PoliteSession(requests.Session):
    """The session arxiv.Client sends every request through: rate-limited, timed out, Atom-checked.

    arxiv.Client takes no timeout and no hook; its only HTTP call is `self._session.get(url, headers=...)`,
    so overriding `request` is the single place that sees every request before it goes out and every
    body before arxiv's lenient parser (lxml with recover=True) silently drops what it cannot read.
    """

    def __init__(self, timeout: float, limit_name: str | None) -> None:
        super().__init__()
        self.timeout = timeout
        self.limit_name = limit_name

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if self.limit_name:
            rate_limit(self.limit_name, strict=True)
        kwargs.setdefault("timeout", self.timeout)
        response = super().request(method, url, *args, **kwargs)
        if response.ok:
            _require_atom_feed(response.content)
        return response


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
    except arxiv.UnexpectedEmptyPageError as exc:
        raise TransientSourceError(f"arXiv at {host} sent an empty follow-up page") from exc
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


class ArxivSource(BaseModel):
    """The arXiv API searched by relevance, one request per query; fields form the cache key."""

    name: str = "arxiv"
    query_url: str = Field(description="API format string, e.g. https://export.arxiv.org/api/query?{}.")
    min_interval_seconds: float = Field(3.0, ge=0.0, description="Spacing of requests; 0 turns it off.")
    timeout_seconds: float = Field(20.0, gt=0.0)

    def search(self, query: str, limit: int) -> list[Paper]:
        if limit < 1:
            return []  # arxiv reads max_results=0 as "no limit"
        limit_name = RATE_LIMIT_NAME if self.min_interval_seconds > 0 else None
        if limit_name:
            _ensure_rate_limit_once(limit_name, self.min_interval_seconds)
        # Retries belong to the Prefect task around this call, spacing to the rate limit: none here.
        client = arxiv.Client(page_size=limit, delay_seconds=0, num_retries=0)
        client.query_url_format = self.query_url
        search = arxiv.Search(query=query, max_results=limit, sort_by=arxiv.SortCriterion.Relevance)
        with (
            _arxiv_errors(self.query_url, self.timeout_seconds),
            _PoliteSession(self.timeout_seconds, limit_name) as session,
        ):
            client._session = session  # arxiv.Client has no parameter for its session
            return [_paper(result) for result in client.results(search)]
