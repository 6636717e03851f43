"""An OpenAI-compatible NIM on loopback: /v1/models, /v1/chat/completions, /v1/embeddings.

Chat replies are scripted per SOVEREIGN stage (read from the "Stage:" line of the system prompt); faults queued
per stage or path replace the next replies: 429 with Retry-After, 500, a hang, a body that is not JSON, or any
reply content (prose, broken JSON, a reply that approves itself). Every request is recorded as the client sent it.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import numpy as np

from tests.loopback import loopback_server

_STAGE = re.compile(r"^Stage: (\S+)", re.MULTILINE)
_BLOCK = re.compile(r'<untrusted-data label="([^"]+)"[^>]*>\n(.*?)\n</untrusted-data>', re.DOTALL)
_SENTENCE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)
_FINDING = re.compile(r"\d|\bthan\b|improv|reduc|outperform|lower|higher|fewer|faster|slower", re.IGNORECASE)
_WORD = re.compile(r"[a-z][a-z0-9-]+")
_STOP = frozenset("the and for with are what does how that this from which compared their than into over".split())

Reply = Callable[[dict], str]


@dataclass
class Fault:
    """What to do instead of the next normal reply."""

    status: int | None = None
    retry_after: str | None = None
    hang_seconds: float = 0.0
    raw_body: str | None = None
    content: str | None = None


@dataclass
class Recorded:
    """One request as the server received it."""

    path: str
    stage: str
    headers: dict[str, str]
    body: dict
    at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        """Every message's content (chat) or every input (embeddings), joined."""
        if "messages" in self.body:
            return "\n".join(m.get("content", "") for m in self.body["messages"])
        inputs = self.body.get("input", [])
        return "\n".join(inputs if isinstance(inputs, list) else [inputs])


def blocks(body: dict) -> dict[str, str]:
    """The <untrusted-data> blocks of a chat request's prompt (its first user turn), by label, unescaped."""
    return {label: html.unescape(text) for label, text in _BLOCK.findall(prompt(body))}


def prompt(body: dict) -> str:
    """The first user turn: the stage's prompt (later turns are repair requests)."""
    return next((m["content"] for m in body.get("messages", []) if m.get("role") == "user"), "")


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2]


def reply_plan(body: dict) -> str:
    words = list(dict.fromkeys(_words(blocks(body).get("research question", ""))))
    queries = [" ".join(words[:6]), " ".join(words[:3]), " ".join(words[-4:]), " ".join(words[1:5])]
    return json.dumps({"queries": [q for q in queries if q] or ["research"]})


def reply_extract(body: dict) -> str:
    abstract = blocks(body).get("abstract", "")
    picked = [(int(n), s) for n, s in _SENTENCE.findall(abstract) if int(n) > 1 and _FINDING.search(s)][:2]
    # a careful extractor: the claim restates its sentence in the sentence's own words
    return json.dumps({"claims": [{"sentence": n, "claim": s} for n, s in picked]})


def reply_judge(body: dict) -> str:
    return json.dumps({"verdict": "SUPPORTS", "reason": "The abstract states the finding with the same numbers."})


def reply_review(body: dict) -> str:
    return json.dumps({"score": 8.0, "findings": [], "rationale": "The evidence is verified and on topic."})


def reply_revise(body: dict) -> str:
    missing = re.search(r"^Missing aspects: (.*)$", prompt(body), re.MULTILINE)
    return json.dumps({"queries": [a.strip() for a in (missing.group(1) if missing else "").split(";") if a.strip()]})


def reply_answer(body: dict) -> str:
    """The first finding restated with its number: a summary sentence its finding supports."""
    number, text = re.findall(r"^\[(\d+)\] \([^)]*\) (.+)$", blocks(body).get("verified findings", ""), re.MULTILINE)[0]
    return json.dumps({"summary": f"{text.rstrip('.')} [{number}]."})


DEFAULT_REPLIES: dict[str, Reply] = {
    "plan_queries": reply_plan,
    "extract_claims": reply_extract,
    "verify_claims": reply_judge,
    "review": reply_review,
    "revise": reply_revise,
    "compose_draft": reply_answer,
}


def hashed_vector(text: str, dimension: int) -> list[float]:
    """A unit vector by feature hashing of the text's words: related texts get close vectors."""
    vector = np.zeros(dimension)
    for word in _words(text) or ["empty"]:
        digest = hashlib.sha256(word.encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % dimension] += 1.0 if digest[4] % 2 else -1.0
    norm = np.linalg.norm(vector)
    return (vector / norm if norm else vector).round(6).tolist()


class OpenAIServer:
    """Loopback OpenAI-compatible server; use as a context manager, point clients at `base_url`."""

    def __init__(
        self,
        chat_model: str = "meta/llama-3.3-70b-instruct",
        embed_model: str = "nvidia/nv-embedqa-e5-v5",
        dimension: int = 1024,
        replies: dict[str, Reply] | None = None,
        require_key: str | None = None,
    ) -> None:
        self.models = [chat_model, embed_model]
        self.dimension = dimension
        self.replies = {**DEFAULT_REPLIES, **(replies or {})}
        self.require_key = require_key
        self.requests: list[Recorded] = []
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = loopback_server(self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def inject(self, target: str, *faults: Fault) -> None:
        """Queue faults for the next requests of a stage ("review", …) or path ("embeddings", "models")."""
        with self._lock:
            self.faults[target].extend(faults)

    def sent(self, stage: str) -> list[Recorded]:
        """The requests recorded for a stage or path."""
        return [r for r in self.requests if r.stage == stage]

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self, stage: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(stage)
            return queue.popleft() if queue else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._serve("models", {})
                else:  # what no OpenAI client asks for (another client's health check) is not found
                    self.send_error(404)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                if self.path.endswith("/embeddings"):
                    self._serve("embeddings", body)
                else:
                    system = next((m["content"] for m in body.get("messages", []) if m["role"] == "system"), "")
                    stage = _STAGE.search(system)
                    self._serve(stage.group(1) if stage else "chat", body)

            def _serve(self, stage: str, body: dict) -> None:
                with server._lock:
                    server.requests.append(Recorded(self.path, stage, dict(self.headers), body))
                if server.require_key and self.headers.get("Authorization") != f"Bearer {server.require_key}":
                    return self._send(401, {"status": 401, "title": "Unauthorized", "detail": "invalid key"})
                fault = server._next_fault(stage) or server._next_fault(self.path.rsplit("/", 1)[-1])
                if fault and fault.hang_seconds:
                    server._stop.wait(fault.hang_seconds)
                if fault and fault.status:
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                    return self._send(fault.status, {"status": fault.status, "title": "injected"}, headers)
                if fault and fault.raw_body is not None:
                    return self._send_raw(200, fault.raw_body.encode())
                if stage == "models":
                    return self._send(
                        200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]}
                    )
                if stage == "embeddings":
                    return self._send(200, server._embeddings(body))
                content = fault.content if fault and fault.content is not None else server._content(stage, body)
                return self._send(200, server._completion(body, content))

            def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                self._send_raw(status, json.dumps(payload).encode(), headers)

            def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout) before the answer came
                    pass

        return Handler

    def _content(self, stage: str, body: dict) -> str:
        reply = self.replies.get(stage)
        return reply(body) if reply else "I am not sure what you are asking."

    def _completion(self, body: dict, content: str) -> dict:
        prompt = sum(len(m.get("content", "")) for m in body.get("messages", [])) // 4
        return {
            "id": "chatcmpl-loopback",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": len(content) // 4 + 1, "total_tokens": prompt + 1},
        }

    def _embeddings(self, body: dict) -> dict:
        inputs = body.get("input", [])
        inputs = inputs if isinstance(inputs, list) else [inputs]
        tokens = sum(len(t) for t in inputs) // 4
        return {
            "object": "list",
            "model": body.get("model"),
            "data": [
                {"object": "embedding", "index": i, "embedding": hashed_vector(t, self.dimension)}
                for i, t in enumerate(inputs)
            ],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
