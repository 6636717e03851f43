"""For the embedding flow's tests and benchmark: a real Dask cluster of processes on loopback, a cheap embedder."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parents[1]


def _stop(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to the process group this process leads, then SIGKILL if it has not exited within `timeout`."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _scheduler_address(scheduler_file: Path, scheduler: subprocess.Popen, timeout: float) -> str:
    """The address the scheduler writes to its file once it listens; RuntimeError if it does not within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and scheduler.poll() is None:
        try:
            return json.loads(scheduler_file.read_text())["address"]
        except (OSError, ValueError, KeyError):  # not written yet, or half written
            time.sleep(0.2)
    raise RuntimeError(f"the Dask scheduler did not start within {timeout} s (log beside {scheduler_file})")


@contextmanager
def loopback_cluster(
    workers: int, timeout: float = 60.0, env: dict[str, str] | None = None, logs: Path | None = None
) -> Iterator[str]:
    """`dask scheduler` and `workers` single-threaded `dask worker` processes on 127.0.0.1; yields the address.

    Each is a process group of its own, stopped (SIGTERM, then SIGKILL after `timeout`) whatever the block does;
    `timeout` also bounds the start, the workers' connects, and how long a worker outlives a vanished scheduler.
    """
    logs = logs or Path(tempfile.mkdtemp(prefix="dask-logs-"))
    scheduler_file = logs / "scheduler.json"
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": f"{timeout}s",
        **(env or {}),
    }
    dask = [sys.executable, "-m", "dask"]
    commands = [[*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]]
    commands[0] += ["--scheduler-file", str(scheduler_file)]
    worker = ["worker", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1", "--nthreads", "1"]
    commands += [[*dask, *worker, "--no-nanny", "--no-dashboard", "--death-timeout", str(timeout)]] * workers
    processes: list[subprocess.Popen] = []
    try:
        for number, command in enumerate(commands):
            with open(logs / f"dask-{number}.log", "wb") as log:
                processes.append(
                    subprocess.Popen(command, env=environment, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
                )
            if number == 0:  # workers find the scheduler by its file
                address = _scheduler_address(scheduler_file, processes[0], timeout)
        from distributed import Client

        with Client(address, timeout=timeout) as client:
            client.wait_for_workers(workers, timeout=timeout)
        yield address
    finally:
        for process in reversed(processes):
            _stop(process, timeout)


def executed_per_worker(address: str) -> list[int]:
    """How many tasks each worker of the cluster at `address` has run."""
    from distributed import Client

    with Client(address) as client:
        return list(client.run(lambda dask_worker: dask_worker.state.executed_count).values())


def fake_vector(text: str) -> np.ndarray:
    """A unit vector determined by the text alone."""
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    vector = np.random.default_rng(seed).normal(size=8)
    return vector / np.linalg.norm(vector)


class CountingEmbedder(BaseModel):
    """A cheap embedder that appends how many texts each call embeds to `log`, and fails on a text with `fail_on`.

    Neither is one of its fields (they are excluded from `model_dump`), so both versions share one vector store.
    """

    name: str = "counting"
    log: str = Field(exclude=True)
    fail_on: str = Field("", exclude=True)

    def embed(self, texts: list[str], kind: str = "passage") -> np.ndarray:
        """Fake vectors of `texts`; a RuntimeError when one contains `fail_on`."""
        if self.fail_on and any(self.fail_on in text for text in texts):
            raise RuntimeError(f"injected failure on {self.fail_on!r}")
        with open(self.log, "a") as log:
            log.write(f"{len(texts)}\n")
        return np.stack([fake_vector(text) for text in texts])

    def embedded(self) -> int:
        """Texts embedded so far, by every process that used this embedder."""
        path = Path(self.log)
        return sum(int(line) for line in path.read_text().split()) if path.is_file() else 0
