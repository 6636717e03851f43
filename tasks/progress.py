"""Stage progress for whoever watches a run in-process (the CLI); Prefect state hooks feed it."""

from __future__ import annotations

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


STAGE_HOOKS = {"on_running": [_notify], "on_completion": [_notify], "on_failure": [_notify]}
