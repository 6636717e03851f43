"""Prefect global rate limits: one request per interval across every process of a run, for live sources and models."""

from __future__ import annotations

import threading

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

_ensured: dict[str, float] = {}  # limit name -> the interval this process last set it to
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


def ensure_rate_limit_once(name: str, min_interval_seconds: float) -> None:
    """`ensure_rate_limit` once per process and interval, again when the interval changes, even from threads."""
    with _ensured_lock:
        if _ensured.get(name) != min_interval_seconds:
            ensure_rate_limit(name, min_interval_seconds)
            _ensured[name] = min_interval_seconds
