"""A loopback server speaking the arXiv API's Atom format, with injectable faults, for tests of live sources."""

from __future__ import annotations

import queue
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from lxml import etree

from tests.loopback import loopback_server

ATOM = "http://www.w3.org/2005/Atom"
OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"
ARXIV = "http://arxiv.org/schemas/atom"
# Prefixes per document (lxml nsmap): ElementTree's register_namespace is global, and other libraries remap it.
_NSMAP = {None: ATOM, "opensearch": OPENSEARCH, "arxiv": ARXIV}

# Field prefixes and boolean operators of arXiv's query syntax carry no search words.
_QUERY_SYNTAX = re.compile(r"\b(?:all|ti|au|abs|co|jr|cat|rn|id):|\b(?:AND|OR|ANDNOT)\b")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Fault:
    """How to spoil the next response: a status, a hang before answering, or a broken body."""

    status: int = 200
    delay: float = 0.0
    body: Literal["feed", "malformed", "truncated", "empty"] = "feed"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it, stamped with time.monotonic() on arrival."""

    at: float
    query: dict[str, str]


def _sub(parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    element.text = text
    return element


def _timestamp(value: str) -> str:
    return value if "T" in value else f"{value}T00:00:00Z"


def _entry(feed: etree._Element, paper: dict[str, Any]) -> None:
    """One <entry> as arXiv writes it: versioned id, wrapped title and summary, links, categories."""
    versioned = f"{paper['id']}v{paper.get('version', 1)}"
    abs_url, pdf_url = f"http://arxiv.org/abs/{versioned}", f"http://arxiv.org/pdf/{versioned}"
    published = _timestamp(paper.get("published", "2024-01-01"))
    categories = paper.get("categories", ["cs.CL"])
    entry = _sub(feed, ATOM, "entry")
    _sub(entry, ATOM, "id", abs_url)
    _sub(entry, ATOM, "updated", _timestamp(paper.get("updated", published)))
    _sub(entry, ATOM, "published", published)
    _sub(entry, ATOM, "title", paper["title"])
    _sub(entry, ATOM, "summary", f"  {paper['abstract']}\n")
    for name in paper.get("authors", []):
        _sub(_sub(entry, ATOM, "author"), ATOM, "name", name)
    _sub(entry, ATOM, "link", href=abs_url, rel="alternate", type="text/html")
    _sub(entry, ATOM, "link", title="pdf", href=pdf_url, rel="related", type="application/pdf")
    _sub(entry, ARXIV, "primary_category", term=categories[0], scheme=ARXIV)
    for term in categories:
        _sub(entry, ATOM, "category", term=term, scheme=ARXIV)


def render_feed(papers: list[dict[str, Any]], total: int, start: int, query: dict[str, str]) -> bytes:
    """An arXiv API response page holding `papers` out of `total` matches."""
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap=_NSMAP)
    self_url = f"http://arxiv.org/api/query?{urlencode(query)}"
    _sub(feed, ATOM, "link", href=self_url, rel="self", type="application/atom+xml")
    _sub(feed, ATOM, "title", f"arXiv Query: {urlencode(query)}", type="html")
    _sub(feed, ATOM, "id", "http://arxiv.org/api/loopback")
    _sub(feed, ATOM, "updated", "2024-05-01T00:00:00-04:00")
    _sub(feed, OPENSEARCH, "totalResults", str(total))
    _sub(feed, OPENSEARCH, "startIndex", str(start))
    _sub(feed, OPENSEARCH, "itemsPerPage", query.get("max_results", "10"))
    for paper in papers:
        _entry(feed, paper)
    return etree.tostring(feed, encoding="UTF-8", xml_declaration=True)


def matching(papers: list[dict[str, Any]], search_query: str) -> list[dict[str, Any]]:
    """Papers whose title or abstract contains any word of the query, in list order."""
    query_words = set(_WORD.findall(_QUERY_SYNTAX.sub(" ", search_query).lower()))
    return [p for p in papers if query_words & set(_WORD.findall(f"{p['title']} {p['abstract']}".lower()))]


class AtomServer:
    """Serves `papers` at http://127.0.0.1:PORT/api/query; `faults` spoils the next responses in order.

    `broken` maps a search_query to the status it always gets (a query that fails for good); `page_cap`,
    `claimed_total` and `ignore_start` imitate arXiv's paging faults: pages shorter than asked for, a
    totalResults larger than what the pages hold, and a server that answers every page with the first one.
    """

    def __init__(self, papers: list[dict[str, Any]]) -> None:
        self.papers = papers
        self.faults: queue.Queue[Fault] = queue.Queue()
        self.broken: dict[str, int] = {}
        self.page_cap: int | None = None
        self.claimed_total: int | None = None
        self.ignore_start = False
        self.requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._httpd = loopback_server(self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url_format(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/query?{{}}"

    def start(self) -> AtomServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> AtomServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def respond(self, raw_query: str) -> tuple[int, bytes]:
        """Record the request and build the status and body the next fault (or none) calls for."""
        query = {k: v[0] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        self.requests.append(RecordedRequest(at=time.monotonic(), query=query))
        try:
            fault = self.faults.get_nowait()
        except queue.Empty:
            fault = Fault()
        if fault.delay:
            self._stopping.wait(fault.delay)
        status = self.broken.get(query.get("search_query", ""), fault.status)
        if status != 200:
            return status, f"<html><body>HTTP {status}</body></html>".encode()
        found = matching(self.papers, query.get("search_query", ""))
        start, size = int(query.get("start", 0)), int(query.get("max_results", 10))
        if fault.body == "empty":
            found = []
        first = 0 if self.ignore_start else start
        page = found[first : first + min(size, self.page_cap or size)]
        body = render_feed(page, self.claimed_total or len(found), start, query)
        if fault.body == "malformed":
            return 200, body.replace(b"</title>", b" & broken</titel>", 1)
        if fault.body == "truncated":
            return 200, body[: len(body) * 2 // 3]
        return 200, body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = server.respond(urlsplit(self.path).query)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/atom+xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a hang fault); nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
