"""Stage progress and stage wall times of a flow run, both fed by Prefect's task state hooks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from threading import Lock

StageListener = Callable[[str, str], None]
_listeners: list[StageListener] = []
# Stage names shown in reports where they differ from the task's: the three reviews are the tribunal.
STAGE_NAMES = {"review": "tribunal"}


def subscribe(listener: StageListener) -> Callable[[], None]:
    """Call `listener(stage, state)` on every stage transition; returns the unsubscribe function."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def report(stage: str, state: str) -> None:
    """Tell every listener that `stage` reached `state` (also for progress a flow counts itself)."""
    for listener in list(_listeners):
        listener(stage, state)


@dataclass
class StageClock:
    """The spans (start, end in epoch seconds) each stage of one flow run was busy."""

    spans: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    _lock: Lock = field(default_factory=Lock, repr=False)

    def add(self, stage: str, start: float, end: float) -> None:
        with self._lock:
            self.spans.setdefault(STAGE_NAMES.get(stage, stage), []).append((start, end))

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Count the block as a span of `stage` (for steps that are not tasks)."""
        started = time.time()
        try:
            yield
        finally:
            self.add(stage, started, time.time())

    def seconds(self) -> dict[str, float]:
        """Each stage's wall time, in order of first start: overlapping spans (parallel task runs) count once."""
        with self._lock:
            spans = {stage: sorted(found) for stage, found in self.spans.items()}
        busy = {}
        for stage in sorted(spans, key=lambda s: spans[s][0][0]):
            total, reached = 0.0, float("-inf")
            for start, end in spans[stage]:
                total += max(0.0, end - max(start, reached))
                reached = max(reached, end)
            busy[stage] = round(total, 3)
        return busy


_clocks: dict[str, StageClock] = {}


@contextmanager
def stage_clock(flow_run_id: str) -> Iterator[StageClock]:
    """A clock that the task runs of flow run `flow_run_id` report their start and end to while the block runs."""
    clock = _clocks[flow_run_id] = StageClock()
    try:
        yield clock
    finally:
        del _clocks[flow_run_id]


def _notify(task, task_run, state) -> None:
    report(task.name, state.name)
    clock = _clocks.get(str(task_run.flow_run_id))
    if clock is not None and state.is_final() and task_run.start_time:
        end = task_run.end_time or state.timestamp
        clock.add(task.name, task_run.start_time.timestamp(), end.timestamp())


class _QuietHooks(logging.Filter):
    """Drop Prefect's two INFO lines per hook call, which would otherwise double every stage's log in the UI."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _notify.__name__ not in record.getMessage()


logging.getLogger("prefect.task_runs").addFilter(_QuietHooks())
STAGE_HOOKS = {"on_running": [_notify], "on_completion": [_notify], "on_failure": [_notify]}
