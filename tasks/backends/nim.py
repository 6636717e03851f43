"""NVIDIA NIM backends: a ChatModel on ChatNVIDIA and an Embedder on NVIDIAEmbeddings.

Both are pydantic models whose fields (model, endpoint, sampling, dimension) form Prefect's cache key; the key
and the transport settings live in a private `NimTransport`, so the key never reaches a cache key, a log or a
report. Every request is rate limited by a Prefect global limit, retried with backoff and jitter on 429 (after
its Retry-After), 5xx, timeouts and broken bodies, and refused at once on 401/403.
"""

from __future__ import annotations

import random
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import numpy as np
import requests
from prefect.concurrency.sync import rate_limit
from pydantic import BaseModel, PrivateAttr, SecretStr

from tasks.backends.llm import (
    Completion,
    ContentCache,
    ModelCallFailed,
    ModelUnavailable,
    current_stage,
    record_usage,
)
from tasks.backends.rate_limits import ensure_rate_limit_once
from tasks.ml.embedders import TextKind
from tasks.models import Message

# langchain (about a second to import) is loaded when a NIM client is first built, so offline runs never pay for it
if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_nvidia_ai_endpoints import ChatNVIDIA, NVIDIAEmbeddings

RATE_LIMIT_NAME = "sovereign-nim"
HOSTED_HOSTS = ("integrate.api.nvidia.com", "ai.api.nvidia.com")
R = TypeVar("R")


@dataclass(frozen=True)
class NimTransport:
    """How requests reach the endpoint: key, timeouts, retries, rate, cache. None of it changes a reply."""

    api_key: SecretStr | None = None
    timeout_seconds: float = 60.0
    max_attempts: int = 3
    max_retries: int = 4
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 60.0
    requests_per_minute: float = 40.0
    cache_dir: Path | None = None

    def redact(self, text: str) -> str:
        """The text with the key, should an endpoint ever echo it, masked."""
        secret = self.api_key.get_secret_value() if self.api_key else ""
        return text.replace(secret, "**********") if secret else text


class _Failure(Exception):
    """A classified failed request: may a retry help, how long the endpoint asked us to wait, is it unusable."""

    def __init__(self, message: str, transient: bool, retry_after: float | None = None, unusable: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after
        self.unusable = unusable


def acquire_request_slot(requests_per_minute: float) -> None:
    """Wait for a slot of the global NIM rate limit (one request per 60/rpm seconds across the run)."""
    if requests_per_minute <= 0:
        return
    ensure_rate_limit_once(RATE_LIMIT_NAME, 60.0 / requests_per_minute)
    rate_limit(RATE_LIMIT_NAME, strict=True)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds; an HTTP date counts as unknown)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def classify_failure(exc: Exception, response: Any, host: str, transport: NimTransport) -> _Failure:
    """Turn whatever the client raised into a _Failure with a message that names the host, never the key."""
    if isinstance(exc, requests.Timeout):
        return _Failure(f"NIM at {host} did not answer within {transport.timeout_seconds:g} s", transient=True)
    if isinstance(exc, requests.ConnectionError):
        return _Failure(f"NIM unreachable at {host} (connection failed)", transient=True)
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and status >= 400:
        if status in (401, 403):
            message = f"NVIDIA_API_KEY rejected by {host} (HTTP {status}); check or regenerate the key"
            return _Failure(message, transient=False, unusable=True)
        if status == 404:
            message = f"NIM at {host} has no such model or path (HTTP 404); check the base URL and model name"
            return _Failure(message, transient=False, unusable=True)
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            return _Failure(f"NIM at {host} is rate limiting (HTTP 429)", transient=True, retry_after=wait)
        if status >= 500:
            return _Failure(f"NIM at {host} failed (HTTP {status})", transient=True)
        detail = transport.redact(str(exc).splitlines()[0])[:200]
        return _Failure(f"NIM at {host} refused the request (HTTP {status}: {detail})", transient=False)
    return _Failure(f"NIM at {host} sent a malformed response ({type(exc).__name__})", transient=True)


def backoff_seconds(attempt: int, transport: NimTransport, retry_after: float | None) -> float:
    """The wait before retry `attempt` (0-based): Retry-After when given, else exponential with jitter."""
    if retry_after is not None:
        return min(retry_after, transport.retry_max_seconds)
    exponential = transport.retry_base_seconds * 2**attempt
    return min(transport.retry_max_seconds, exponential * random.uniform(0.5, 1.5))


def send_with_retries(
    request: Callable[[], R], last_response: Callable[[], Any], host: str, transport: NimTransport
) -> tuple[R, int, float]:
    """The request's result, its retries and seconds on the wire (not waiting for the rate limit or backoff).

    ModelUnavailable or ModelCallFailed when it gives up.
    """
    seconds = 0.0
    for attempt in range(transport.max_retries + 1):
        acquire_request_slot(transport.requests_per_minute)
        started = time.perf_counter()
        try:
            return request(), attempt, seconds + time.perf_counter() - started
        except Exception as exc:  # the client raises bare Exceptions for HTTP errors
            seconds += time.perf_counter() - started
            failure = classify_failure(exc, last_response(), host, transport)
        if not failure.transient:
            raise (ModelUnavailable if failure.unusable else ModelCallFailed)(str(failure)) from None
        if attempt == transport.max_retries:
            raise ModelCallFailed(f"{failure}; gave up after {attempt + 1} attempt(s)") from None
        time.sleep(backoff_seconds(attempt, transport, failure.retry_after))
    raise AssertionError("unreachable")


# One client per thread and configuration: the clients keep the last response (our only view of an HTTP error's
# status and Retry-After) on themselves, so parallel stages must not share one.
_clients = threading.local()


def _quietly(build: Callable[[], R]) -> R:
    """Build a client without its warnings about models it does not know (self-hosted NIMs serve many)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build()


def _thread_client(key: tuple, build: Callable[[], R]) -> R:
    cache = _clients.__dict__.setdefault("by_key", {})
    if key not in cache:
        cache[key] = _quietly(build)
    return cache[key]


def _lc_messages(messages: list[Message]) -> list[BaseMessage]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m.role](content=m.content) for m in messages]


def host_of(base_url: str) -> str:
    """Host and port of an endpoint, for messages."""
    return urlsplit(base_url).netloc or base_url


class NimChat(BaseModel):
    """ChatModel on ChatNVIDIA (hosted API or a self-hosted NIM)."""

    name: str
    base_url: str
    temperature: float = 0.1
    max_tokens: int = 1024

    _transport: NimTransport = PrivateAttr(default_factory=NimTransport)

    @classmethod
    def create(cls, model: str, base_url: str, transport: NimTransport, **params: Any) -> NimChat:
        """A chat model on the endpoint, with its transport."""
        chat = cls(name=model, base_url=base_url, **params)
        chat._transport = transport
        return chat

    @property
    def max_attempts(self) -> int:
        return self._transport.max_attempts

    @property
    def reply_cache(self) -> ContentCache | None:
        directory = self._transport.cache_dir
        return ContentCache(directory / "chat", self.model_dump()) if directory else None

    def client(self) -> ChatNVIDIA:
        """This thread's ChatNVIDIA for the model and endpoint."""
        from langchain_nvidia_ai_endpoints import ChatNVIDIA

        t = self._transport
        key = ("chat", self.name, self.base_url, self.temperature, self.max_tokens, t.timeout_seconds, t.api_key)
        return _thread_client(
            key,
            lambda: ChatNVIDIA(
                model=self.name,
                base_url=self.base_url,
                api_key=t.api_key.get_secret_value() if t.api_key else None,
                temperature=self.temperature,
                max_completion_tokens=self.max_tokens,
                timeout=t.timeout_seconds,
                usage_telemetry_enabled=False,  # a research kernel does not report on its user
            ),
        )

    def complete(self, messages: list[Message]) -> Completion:
        """One reply to the conversation, with its token usage and latency."""
        client = self.client()
        client._client.last_response = None
        reply, retries, seconds = send_with_retries(
            lambda: client.invoke(_lc_messages(messages)),
            lambda: client._client.last_response,
            host_of(self.base_url),
            self._transport,
        )
        usage = reply.usage_metadata or {}
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("input_tokens", 0)),
            completion_tokens=int(usage.get("output_tokens", 0)),
            latency_seconds=round(seconds, 3),
            retries=retries,
        )

    def probe(self) -> None:
        """Raise ModelUnavailable unless the endpoint answers and (self-hosted) serves the model."""
        probe_endpoint(self.client()._client, self.name, self._transport)


class NimEmbedder(BaseModel):
    """Embedder on NVIDIAEmbeddings; vectors are checked against `dimension` and cached by content."""

    name: str
    base_url: str
    dimension: int = 1024
    truncate: str = "END"

    _transport: NimTransport = PrivateAttr(default_factory=NimTransport)
    _batch_size: int = PrivateAttr(50)

    @classmethod
    def create(cls, model: str, base_url: str, transport: NimTransport, batch_size: int = 50, **params: Any):
        """An embedder on the endpoint, with its transport."""
        embedder = cls(name=model, base_url=base_url, **params)
        embedder._transport = transport
        embedder._batch_size = batch_size
        return embedder

    def client(self) -> NVIDIAEmbeddings:
        """This thread's NVIDIAEmbeddings for the model and endpoint."""
        from langchain_nvidia_ai_endpoints import NVIDIAEmbeddings

        t = self._transport
        key = ("embed", self.name, self.base_url, self.truncate, self._batch_size, t.timeout_seconds, t.api_key)

        def build() -> NVIDIAEmbeddings:
            client = NVIDIAEmbeddings(
                model=self.name,
                base_url=self.base_url,
                api_key=t.api_key.get_secret_value() if t.api_key else None,
                truncate=self.truncate,
                max_batch_size=self._batch_size,
                usage_telemetry_enabled=False,
            )
            client._client.timeout = t.timeout_seconds  # NVIDIAEmbeddings takes no timeout argument
            return client

        return _thread_client(key, build)

    def embed(self, texts: list[str], kind: TextKind = "passage") -> np.ndarray:
        """Unit-length vectors, `kind` sent as input_type; cached texts are not sent again."""
        cache = (
            ContentCache(self._transport.cache_dir / "embed", self.model_dump()) if self._transport.cache_dir else None
        )
        keys = [cache.key(kind, text) for text in texts] if cache else [""] * len(texts)
        vectors: dict[int, list[float]] = {}
        for i, key in enumerate(keys):
            if cache and (stored := cache.get(key)) is not None and len(stored) == self.dimension:
                vectors[i] = stored
        missing = [i for i in range(len(texts)) if i not in vectors]
        stage = current_stage("embed")
        if len(missing) < len(texts):
            record_usage(stage, self.name, cached=len(texts) - len(missing))
        # queries go one per request (embed_query), passages in batches (embed_documents): the client's own API
        size = self._batch_size if kind == "passage" else 1
        for start in range(0, len(missing), size):
            batch = missing[start : start + size]
            for i, vector in zip(batch, self._request([texts[i] for i in batch], kind, stage)):
                vectors[i] = vector
                if cache:
                    cache.put(keys[i], vector)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        matrix = np.asarray([vectors[i] for i in range(len(texts))], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1.0, norms)

    def _request(self, batch: list[str], kind: TextKind, stage: str) -> list[list[float]]:
        """One embeddings request, its usage recorded, its vectors' dimension checked."""
        client = self.client()
        client._client.last_response = None
        call = (
            (lambda: client.embed_documents(batch)) if kind == "passage" else (lambda: [client.embed_query(batch[0])])
        )
        vectors, retries, seconds = send_with_retries(
            call, lambda: client._client.last_response, host_of(self.base_url), self._transport
        )
        try:
            usage = client._client.last_response.json().get("usage") or {}
        except Exception:  # usage is optional in the protocol
            usage = {}
        record_usage(
            stage,
            self.name,
            calls=1,
            retries=retries,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            latency_seconds=seconds,
        )
        wrong = {len(v) for v in vectors} - {self.dimension}
        if len(vectors) != len(batch) or wrong:
            raise ModelUnavailable(
                f"{self.name} at {host_of(self.base_url)} returned {len(vectors)} vectors of "
                f"{sorted(wrong or {self.dimension})} dimensions for {len(batch)} texts; expected {self.dimension} "
                "each (set SOVEREIGN_LLM__EMBED_DIMENSION to the model's size)"
            )
        return vectors

    def probe(self) -> None:
        """Raise ModelUnavailable unless the endpoint answers and (self-hosted) serves the model."""
        probe_endpoint(self.client()._client, self.name, self._transport)


def probe_endpoint(client: Any, model: str, transport: NimTransport) -> None:
    """List the endpoint's models once: unreachable, a rejected key or a model a self-hosted NIM lacks fail here."""
    host = host_of(client.base_url)
    client.last_response = None
    probing = replace(transport, max_retries=min(1, transport.max_retries))
    client._available_models = None
    try:
        models, _, _ = send_with_retries(
            lambda: [m.id for m in client.available_models], lambda: client.last_response, host, probing
        )
    except ModelCallFailed as exc:
        raise ModelUnavailable(str(exc)) from None
    if urlsplit(client.base_url).hostname not in HOSTED_HOSTS and model not in models:
        # the hosted API lists only part of what it serves; a self-hosted NIM lists exactly what it serves
        raise ModelUnavailable(f"NIM at {host} does not serve {model}; it serves: {', '.join(models) or 'nothing'}")
