"""Stage progress for whoever watches a run in-process (the CLI), fed by Prefect state hooks; stage wall times."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

StageListener = Callable[[str, str], None]
_listeners: list[StageListener] = []


def subscribe(listener: StageListener) -> Callable[[], None]:
    """Call `listener(stage, state)` on every stage transition; returns the unsubscribe function."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def report(stage: str, state: str) -> None:
    """Tell every listener that `stage` reached `state` (also for progress a flow counts itself)."""
    for listener in list(_listeners):
        listener(stage, state)


def _notify(task, task_run, state) -> None:
    report(task.name, state.name)


class _QuietHooks(logging.Filter):
    """Drop Prefect's two INFO lines per hook call, which would otherwise double every stage's log in the UI."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _notify.__name__ not in record.getMessage()


logging.getLogger("prefect.task_runs").addFilter(_QuietHooks())
STAGE_HOOKS = {"on_running": [_notify], "on_completion": [_notify], "on_failure": [_notify]}


@contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Add the block's wall time to `timings[stage]` (a stage that runs once per round adds up)."""
    started = time.perf_counter()
    yield
    timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - started, 3)
