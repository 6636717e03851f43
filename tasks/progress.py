"""Stage progress for whoever watches a run in-process (the CLI); Prefect state hooks feed it."""

from __future__ import annotations

import logging
from collections.abc import Callable

StageListener = Callable[[str, str], None]
_listeners: list[StageListener] = []


def subscribe(listener: StageListener) -> Callable[[], None]:
    """Call `listener(stage, state)` on every stage transition; returns the unsubscribe function."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def _notify(task, task_run, state) -> None:
    for listener in list(_listeners):
        listener(task.name, state.name)


class _QuietHooks(logging.Filter):
    """Drop Prefect's two INFO lines per hook call, which would otherwise double every stage's log in the UI."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _notify.__name__ not in record.getMessage()


logging.getLogger("prefect.task_runs").addFilter(_QuietHooks())
STAGE_HOOKS = {"on_running": [_notify], "on_completion": [_notify], "on_failure": [_notify]}
