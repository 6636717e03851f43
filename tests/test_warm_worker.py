"""The warm worker beside the local server: an offline `sovereign run` goes there, publishes what an in-process run
publishes, loads no kernel module in the CLI, reuses the worker, fails with one line, and `server stop` ends it.

The tests share one server and worker (about 12 s and 10 s to start here), started by the first run, in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flows.server import _worker_busy, worker_running
from tests.factories import brief_content
from tests.test_cli import LOADED_AT_EXIT
from tests.test_load import FIXTURE, GOAL
from tests.test_server import WAIT_SECONDS, gone

PROJECT = Path(__file__).resolve().parent.parent
KERNEL_MODULES = {"sklearn", "weasyprint", "langchain_core", "langchain_nvidia_ai_endpoints", "onnxruntime"}
KERNEL_MODULES |= {"flows.research", "tasks.publish", "tasks.index.corpus"}
NOT_FINAL = ["SCHEDULED", "PENDING", "RUNNING"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of the module's commands: a throwaway server home, warm worker on; both stopped at the end."""
    home = tmp_path_factory.mktemp("warm")
    variables = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    variables |= {
        "PREFECT_HOME": str(home / "client-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "SOVEREIGN_SERVER__HOME": str(home / "server"),
        "SOVEREIGN_SERVER__AUTO_START": "true",
        "SOVEREIGN_SERVER__WARM_WORKER": "true",
        "SOVEREIGN_SERVER__START_TIMEOUT_SECONDS": WAIT_SECONDS,
        "SOVEREIGN_SERVER__WORKER_PICKUP_TIMEOUT_SECONDS": WAIT_SECONDS,
        "SOVEREIGN_SERVER__HEALTH_TIMEOUT_SECONDS": "2",
        "SOVEREIGN_SERVER__STOP_TIMEOUT_SECONDS": "5",
    }
    yield variables
    sovereign(variables, "server", "stop")


def sovereign(env: dict[str, str], *args: str, modules: Path | None = None) -> subprocess.CompletedProcess:
    """`sovereign ARGS…` in its own process; with `modules`, the modules it had loaded at exit are written there."""
    command = [sys.executable, "-c", LOADED_AT_EXIT, str(modules)] if modules else [sys.executable, "-m", "flows.cli"]
    return subprocess.run(
        [*command, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=float(WAIT_SECONDS) * 3
    )


def brief_of(process: subprocess.CompletedProcess) -> Path:
    """The directory of the brief a run printed."""
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-3000:]
    return next(Path(word) for word in process.stdout.split() if word.endswith("report.json")).parent


def worker_pid(env: dict[str, str]) -> int:
    return json.loads((Path(env["SOVEREIGN_SERVER__HOME"]) / "worker.json").read_text())["pid"]


def run_args(out: Path, goal: str = GOAL) -> list[str]:
    return ["run", goal, "--corpus", str(FIXTURE), "--out", str(out), "--llm", "offline", "--embedder", "offline"]


def test_a_warm_run_publishes_the_in_process_brief_without_loading_the_kernel_in_the_cli(env, tmp_path):
    modules = tmp_path / "modules.json"
    warm_run = sovereign(env, *run_args(tmp_path / "warm"), modules=modules)
    warm = brief_of(warm_run)
    assert "note:" not in warm_run.stderr, warm_run.stderr
    loaded = set(json.loads(modules.read_text()))
    assert not KERNEL_MODULES & loaded, "the CLI only submits: the worker runs the kernel"
    port = json.loads((Path(env["SOVEREIGN_SERVER__HOME"]) / "server.json").read_text())["port"]
    completed = {"state": {"type": {"any_": ["COMPLETED"]}}}
    research_runs = {"flows": {"name": {"any_": ["research"]}}, "flow_runs": completed}
    counted = httpx.post(f"http://127.0.0.1:{port}/api/flow_runs/count", json=research_runs)
    assert counted.json() == 1, "the worker's run is a flow run on the server, as in the UI"
    first = worker_pid(env)

    in_process = brief_of(sovereign({**env, "SOVEREIGN_SERVER__WARM_WORKER": "false"}, *run_args(tmp_path / "cold")))
    assert brief_content(warm) == brief_content(in_process)

    again = brief_of(sovereign(env, *run_args(tmp_path / "again")))
    assert worker_pid(env) == first, "the second run reuses the warm worker"
    assert brief_content(again) == brief_content(warm)


def test_a_run_that_fails_in_the_worker_exits_non_zero_with_one_line(env, tmp_path):
    failed = sovereign(env, *run_args(tmp_path / "runs", goal="the of and"))
    assert failed.returncode == 2, failed.stdout[-2000:] + failed.stderr[-2000:]
    assert "no searchable words" in failed.stderr and "Traceback" not in failed.stderr + failed.stdout
    assert "note:" not in failed.stderr, "failed in the worker, not run again in-process"
    assert not (tmp_path / "runs").exists(), "nothing published"


def test_a_run_with_other_settings_replaces_an_idle_worker(env, tmp_path):
    before = worker_pid(env)
    other = {**env, "SOVEREIGN_EXTRACT__MIN_CHARS": "41"}  # a setting the worker was not started with
    ran = sovereign(other, *run_args(tmp_path / "runs"))
    brief_of(ran)
    assert "note:" not in ran.stderr, ran.stderr
    assert worker_pid(env) != before and gone(before), "replaced, since it was idle"
    assert json.loads((brief_of(ran) / "report.json").read_text())["settings"]["extract"]["min_chars"] == 41


def test_a_run_the_worker_does_not_take_up_in_time_goes_ahead_in_process(env, tmp_path):
    other = {**env, "SOVEREIGN_EXTRACT__MIN_CHARS": "42", "SOVEREIGN_SERVER__WORKER_PICKUP_TIMEOUT_SECONDS": "0.01"}
    ran = sovereign(other, *run_args(tmp_path / "runs"))  # a new worker, still importing the kernel, is too late
    brief = brief_of(ran)
    assert "did not take up the run" in ran.stderr and "running in-process" in ran.stderr, ran.stderr
    assert json.loads((brief / "report.json").read_text())["settings"]["extract"]["min_chars"] == 42
    port = json.loads((Path(env["SOVEREIGN_SERVER__HOME"]) / "server.json").read_text())["port"]
    waiting = {"task_runs": {"name": {"any_": ["sovereign-run"]}, "state": {"type": {"any_": NOT_FINAL}}}}
    count = f"http://127.0.0.1:{port}/api/task_runs/count"
    deadline = time.monotonic() + float(WAIT_SECONDS)
    while httpx.post(count, json=waiting).json() and time.monotonic() < deadline:
        time.sleep(0.5)  # the new worker takes the submitted run up once it has imported the kernel, and refuses it
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [brief.name], "published once"


def test_a_busy_worker_is_seen_busy(tmp_path):
    assert not _worker_busy(tmp_path)
    with worker_running(tmp_path):
        assert _worker_busy(tmp_path)
    assert not _worker_busy(tmp_path)


def test_status_reports_the_worker_and_stop_ends_it(env):
    sovereign(env, "server", "start")
    pid = worker_pid(env)
    status = sovereign(env, "server", "status")
    assert status.returncode == 0 and f"warm worker is running: pid {pid}" in status.stdout
    stopped = sovereign(env, "server", "stop")
    assert stopped.returncode == 0 and f"Stopped the warm worker (pid {pid})" in stopped.stdout
    assert gone(pid)
    assert not (Path(env["SOVEREIGN_SERVER__HOME"]) / "worker.json").exists()
