"""The warm worker: a Prefect task worker beside the local server that runs offline `sovereign run`s with the kernel
imported once and its corpus indexes and models kept loaded (`python -m flows.warm`, started by flows/server.py).

The CLI imports this module to submit a run and wait for it: it loads Prefect's client, not the kernel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from prefect import task
from prefect.client.orchestration import get_client
from prefect.context import TaskRunContext
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

from flows.server import WarmWorker, worker_alive, worker_running, worker_storage
from tasks.settings import RunParameters

POLL_SECONDS = 0.25
# runs the worker takes up at once; more wait in the server's queue (two cores: more at once only share them)
RUNS_AT_ONCE = 2


class WarmRunFailed(Exception):
    """A warm run failed: the one-line message the CLI prints and its exit code (2: a user's mistake, 1: a failure)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message, code)  # both in args: the exception is pickled back to the CLI
        self.message = message
        self.code = code


class WorkerUnavailable(RuntimeError):
    """The warm worker did not take up the run, or was started for other code or settings: the CLI runs it
    in-process instead."""


# the key (flows/server.py's worker_key) of the code and settings this process serves, and the server home; set when
# it starts serving
serving: dict[str, str] = {}


def _own_key(context: TaskRunContext, _: dict) -> str:
    """A result key no other run has: every submitted run runs, and its result is stored under it for the CLI."""
    # a task worker caches its tasks by their inputs unless told otherwise; no key at all stores no result
    return f"sovereign-run-{context.task_run.id}"


@task(name="sovereign-run", cache_key_fn=_own_key, persist_result=True)
def warm_run(goal: str, parameters: RunParameters, key: str) -> dict:
    """research_flow(goal, parameters) in the worker (a flow run of its own): the brief's decision, score and files.

    A run submitted for other code or settings than the worker's (`key`) is refused before it starts.
    """
    if key != serving.get("key"):
        raise WorkerUnavailable("the warm worker runs other kernel code or SOVEREIGN_* settings than this command")
    if not _claim(Path(serving["home"]), TaskRunContext.get().task_run.id):
        raise WorkerUnavailable("the command that submitted the run went ahead without the warm worker")
    from flows.cli import user_errors
    from flows.research import research_flow
    from tasks.publish import PublishError

    try:
        with worker_running(Path(serving["home"])):  # not replaced while it runs (flows/server.py)
            published = research_flow(goal=goal, **parameters.model_dump())
    except (*user_errors(), PublishError) as exc:
        raise WarmRunFailed(str(exc), 2) from exc
    except Exception as exc:
        message = f"research run failed: {type(exc).__name__}: {exc} (see the run in the Prefect UI to retry)"
        raise WarmRunFailed(message, 1) from exc
    files = {label: str(path) for label, path in published.files().items()}
    return {"policy": published.policy.value, "score": published.score, "files": files}


def run_warm(
    goal: str,
    parameters: RunParameters,
    home: Path,
    worker: WarmWorker,
    pickup_timeout_seconds: float,
    on_state: Callable[[str], None],
) -> dict:
    """Submit the run to the warm worker of the server at `home` and wait for it: its result, or WarmRunFailed, or
    WorkerUnavailable; `on_state` hears the run's state name."""
    with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: worker_storage(home)}):
        future = warm_run.delay(goal, parameters, worker.key)
        _wait(future.task_run_id, home, worker, pickup_timeout_seconds, on_state)
        result = future.result()
    _claims(home).joinpath(str(future.task_run_id)).unlink(missing_ok=True)  # final: no one runs it again
    return result


def _wait(
    task_run_id: UUID, home: Path, worker: WarmWorker, pickup_seconds: float, on_state: Callable[[str], None]
) -> None:
    """Until the task run is final; WorkerUnavailable when the worker exits, or is not running it in time, before it
    claimed the run (which it then never runs)."""
    deadline = time.monotonic() + pickup_seconds
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_task_run(task_run_id).state
            if state is not None and state.is_final():
                return
            alive = worker_alive(worker)
            if not alive and _claim(home, task_run_id):
                raise WorkerUnavailable(f"the warm worker (pid {worker.pid}) exited")
            if not alive:  # it claimed the run and may have published: running it again could publish twice
                raise WarmRunFailed(f"the warm worker (pid {worker.pid}) exited during the run; see its log", 1)
            if time.monotonic() > deadline and _claim(home, task_run_id):
                raise WorkerUnavailable(
                    f"the warm worker did not take up the run within {pickup_seconds:g} s "
                    "(SOVEREIGN_SERVER__WORKER_PICKUP_TIMEOUT_SECONDS)"
                )
            on_state(state.name if state else "Scheduled")
            time.sleep(POLL_SECONDS)


def _claim(home: Path, task_run_id: UUID) -> bool:
    """Whether this process claimed the run first: the worker to run it, or the CLI to run it in-process instead."""
    claims = _claims(home)
    claims.mkdir(parents=True, exist_ok=True)
    try:
        (claims / str(task_run_id)).open("x").close()  # exclusive creation: of two claims, one fails
    except FileExistsError:
        return False
    return True


def _claims(home: Path) -> Path:
    return worker_storage(home) / "claims"


def serve_warm(key: str, home: str) -> None:
    """Import the kernel once, then take up warm runs for `key` (of the server at `home`) until stopped (SIGTERM)."""
    from prefect.task_worker import serve

    import flows.research  # noqa: F401  the kernel's imports, paid here once instead of by every run

    serving.update(key=key, home=home)
    serve(warm_run, limit=RUNS_AT_ONCE)


if __name__ == "__main__":  # python -m flows.warm KEY HOME, as flows/server.py starts it
    import sys

    # through the module's own name, so that the exceptions and results it pickles are ones the CLI can load
    from flows.warm import serve_warm as serve_under_its_name

    serve_under_its_name(sys.argv[1], sys.argv[2])
