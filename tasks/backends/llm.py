"""The ChatModel interface and what every LLM stage shares: structured replies, repair, content cache, usage."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from prefect.artifacts import create_table_artifact
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from pydantic import BaseModel, ValidationError

from tasks.backends import prompts
from tasks.io.atomic import write_atomic
from tasks.models import Message, StageUsage

T = TypeVar("T", bound=BaseModel)


class Completion(BaseModel):
    """A chat model's reply and what it cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_seconds: float = 0.0
    retries: int = 0


class ModelUnavailable(RuntimeError):
    """The model endpoint cannot be used (unreachable, key rejected, model not served); the message says why."""


class ModelCallFailed(RuntimeError):
    """A model request kept failing after its retries (429, 5xx, timeouts) or was refused as invalid."""


class MalformedReply(RuntimeError):
    """The model's reply could not be parsed into the expected structure within the allowed attempts."""


class ContentCache:
    """Values on disk keyed by sha256 of their content (model, endpoint, parameters, input): never by time.

    Prefect's task cache already reuses a finished stage, but a stage that fails halfway (the twelfth judge call
    meets a 401 or a reply that stays malformed) would pay again for the first eleven when it is retried. Caching
    each call by content makes every paid call reusable by retries, re-runs and other goals that share a paper.
    """

    def __init__(self, directory: Path, namespace: dict[str, Any]) -> None:
        self.directory = Path(directory)
        self.namespace = hashlib.sha256(json.dumps(namespace, sort_keys=True).encode()).hexdigest()

    def key(self, *parts: Any) -> str:
        """Content key of the parts within this cache's namespace."""
        payload = json.dumps([self.namespace, parts], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> Any | None:
        """The stored value, or None when absent or unreadable."""
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: Any) -> None:
        """Store the value atomically (a reader never sees half a file)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(value, ensure_ascii=False))


@runtime_checkable
class ChatModel(Protocol):
    """Answers a conversation. `name` is the model; `max_attempts` bounds re-asks of a malformed reply."""

    name: str

    @property
    def max_attempts(self) -> int: ...

    @property
    def reply_cache(self) -> ContentCache | None: ...

    def complete(self, messages: list[Message]) -> Completion: ...


# Usage of every model call, per flow run and stage; a stage served from Prefect's cache adds nothing (it paid nothing).
_usage: dict[str, dict[str, StageUsage]] = {}
_usage_lock = threading.Lock()


def run_key() -> str:
    """The flow run a call belongs to ("local" outside any run)."""
    return flow_run.get_id() or "local"


def current_stage(default: str) -> str:
    """The Prefect task the call runs in, else `default`."""
    context = TaskRunContext.get()
    return context.task.name if context is not None else default


def record_usage(
    stage: str,
    model: str,
    *,
    calls: int = 0,
    cached: int = 0,
    retries: int = 0,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    latency_seconds: float = 0.0,
) -> None:
    """Add one call's cost to its stage's totals for the current flow run."""
    with _usage_lock:
        stages = _usage.setdefault(run_key(), {})
        usage = stages.setdefault(stage, StageUsage(model=model))
        usage.calls += calls
        usage.cached_calls += cached
        usage.retries += retries
        usage.prompt_tokens += prompt_tokens
        usage.completion_tokens += completion_tokens
        usage.latency_seconds = round(usage.latency_seconds + latency_seconds, 3)
        if model not in usage.model.split(", "):
            usage.model = f"{usage.model}, {model}" if usage.model else model


def take_usage(key: str | None = None) -> dict[str, StageUsage]:
    """The usage recorded for a flow run (the current one by default), removed from the ledger."""
    with _usage_lock:
        return _usage.pop(key or run_key(), {})


_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def extract_json(text: str) -> Any:
    """The JSON object in a reply, repairing what models commonly add: code fences, prose around it, trailing commas."""
    body = _FENCE.sub("", text.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the reply holds no JSON object")
    candidate = body[start : end + 1]
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        return json.loads(_TRAILING_COMMA.sub(r"\1", candidate))


def parse_reply(text: str, schema: type[T]) -> T:
    """The reply validated into `schema`; ValueError says what is wrong."""
    try:
        return schema.model_validate(extract_json(text))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in exc.errors()[:5])
        raise ValueError(problems) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at character {exc.pos})") from None


def ask(
    chat: ChatModel,
    messages: list[Message],
    schema: type[T],
    stage: str,
    check: Callable[[T], str | None] | None = None,
) -> T:
    """The model's reply parsed into `schema`; a malformed or failing-`check` reply is re-asked, then MalformedReply."""
    cache = chat.reply_cache
    key = cache.key("chat", schema.__name__, [m.model_dump() for m in messages]) if cache else ""
    if cache and (stored := cache.get(key)) is not None:
        try:
            reply = schema.model_validate(stored)
            record_usage(stage, chat.name, cached=1)
            return reply
        except ValidationError:
            pass  # written under an older schema: ask again
    conversation = list(messages)
    problem = ""
    for attempt in range(chat.max_attempts):
        completion = chat.complete(conversation)
        record_usage(
            stage,
            chat.name,
            calls=1,
            retries=completion.retries + (1 if attempt else 0),
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            latency_seconds=completion.latency_seconds,
        )
        try:
            reply = parse_reply(completion.text, schema)
            problem = check(reply) if check else None
        except ValueError as exc:
            problem = str(exc)
        if not problem:
            if cache:
                cache.put(key, reply.model_dump(mode="json"))
            return reply
        conversation += [
            Message(role="assistant", content=completion.text[:4000]),
            Message(role="user", content=prompts.repair_request(problem)),
        ]
    raise MalformedReply(
        f"{stage}: {chat.name} gave no usable reply in {chat.max_attempts} attempt(s); last problem: {problem}"
    )


def usage_rows(usage: dict[str, StageUsage]) -> list[dict[str, object]]:
    """One row per stage for tables: model, calls, cached calls, retries, tokens, seconds."""
    return [
        {
            "stage": stage,
            "model": u.model,
            "calls": u.calls,
            "cached": u.cached_calls,
            "retries": u.retries,
            "prompt tokens": u.prompt_tokens,
            "completion tokens": u.completion_tokens,
            "seconds": round(u.latency_seconds, 2),
        }
        for stage, u in usage.items()
    ]


def publish_usage_artifact(usage: dict[str, StageUsage]) -> None:
    """The run's model calls per stage as a Prefect table artifact (none for an offline run)."""
    if usage:
        create_table_artifact(
            key="llm-usage", table=usage_rows(usage), description="Model calls, tokens and latency per stage"
        )
