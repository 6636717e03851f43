"""The local Prefect server the CLI shares: one per home however many commands start at once, reused, replaced when
stale, never used when PREFECT_API_URL is configured; six `sovereign run` at once on it all publish.

Every real server start takes about 12 s here, so each test starts as few as it can and stops what it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings
from typer.testing import CliRunner

from flows.cli import app
from flows.server import (
    LocalServer,
    ensure_server,
    healthy,
    prefect_api_url,
    running_server,
    server_for_command,
    stop_server,
    workers_of,
)
from tasks.settings import LocalServerSettings
from tests.test_load import FIXTURE, GOAL, assert_whole_briefs

PROJECT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = os.environ.get("SOVEREIGN_TEST_SERVER_WAIT_SECONDS", "180")
runner = CliRunner()

# One command's first call: which server it agreed on, and whether it started it.
STARTER = """
import json
from flows.server import ensure_server
from tasks.settings import LocalServerSettings
server, started = ensure_server(LocalServerSettings())
print(json.dumps({"pid": server.pid, "port": server.port, "started": started}))
"""


@pytest.fixture
def server_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServerSettings]:
    """Local server settings on a throwaway home with short waits; the server a test leaves running is stopped."""
    monkeypatch.setenv("SOVEREIGN_SERVER__HOME", str(tmp_path / "server"))
    monkeypatch.setenv("SOVEREIGN_SERVER__AUTO_START", "true")
    monkeypatch.setenv("SOVEREIGN_SERVER__START_TIMEOUT_SECONDS", WAIT_SECONDS)
    monkeypatch.setenv("SOVEREIGN_SERVER__HEALTH_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("SOVEREIGN_SERVER__STOP_TIMEOUT_SECONDS", "5")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    settings = LocalServerSettings()
    yield settings
    stop_server(settings)


def gone(pid: int) -> bool:
    """Whether the process has exited (a zombie whose parent has not reaped it yet counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_concurrent_first_commands_agree_on_one_server_which_later_commands_reuse_until_stopped(server_settings):
    starters = [
        subprocess.Popen([sys.executable, "-c", STARTER], cwd=PROJECT, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    answers = [json.loads(starter.communicate(timeout=float(WAIT_SECONDS) * 3)[0]) for starter in starters]
    assert len({(a["pid"], a["port"]) for a in answers}) == 1, answers
    assert [a["started"] for a in answers].count(True) == 1, answers
    server = LocalServer(pid=answers[0]["pid"], port=answers[0]["port"])
    assert healthy(server, 2) and running_server(server_settings) == server
    assert (server_settings.home / "prefect.db").is_file(), "its own SQLite database, under the server home"

    assert ensure_server(server_settings) == (server, False), "a later command reuses it"
    status = runner.invoke(app, ["server", "status"])
    assert status.exit_code == 0 and server.api_url in status.output and server.ui_url in status.output

    stopped = runner.invoke(app, ["server", "stop"])
    assert stopped.exit_code == 0 and f"pid {server.pid}" in stopped.output
    assert not healthy(server, 2) and running_server(server_settings) is None
    assert gone(server.pid)
    assert runner.invoke(app, ["server", "status"]).exit_code == 1
    assert "No local Prefect server" in runner.invoke(app, ["server", "stop"]).output


def test_a_dead_or_hung_server_is_replaced_and_an_unrelated_process_is_left_alone(server_settings):
    home = server_settings.home
    home.mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "120"])  # an unrelated process that got the dead server's pid
    try:
        (home / "server.json").write_text(json.dumps({"pid": sleeper.pid, "port": 9}))
        first, started = ensure_server(server_settings)
        assert started and first.pid != sleeper.pid and healthy(first, 2)
        assert sleeper.poll() is None, "a process that is not the server is never signalled"
    finally:
        sleeper.kill()
        sleeper.wait()

    dead = subprocess.Popen(["true"])
    dead.wait()
    (home / "server.json").write_text(json.dumps({"pid": dead.pid, "port": first.port}))
    assert running_server(server_settings) is None, "a recorded pid that is gone is no server, whatever answers"
    (home / "server.json").write_text(json.dumps({"pid": first.pid, "port": first.port}))

    os.kill(first.pid, signal.SIGSTOP)  # alive, but its health check no longer answers
    second, started = ensure_server(server_settings)
    assert started and second.pid != first.pid and healthy(second, 2)
    assert gone(first.pid), "the hung server is killed, not left holding its port and database"


def test_a_configured_prefect_api_is_always_used_and_no_server_is_started(server_settings):
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    code = "from flows.server import server_for_command as s; from tasks.settings import LocalServerSettings as L\n"
    code += "print(s(L()))"
    chosen = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True)
    assert chosen.stdout.strip() == "(None, False)", chosen.stderr[-2000:]
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):  # a profile or a test harness
        assert server_for_command(server_settings) == (None, False)
    off = server_settings.model_copy(update={"auto_start": False})
    assert server_for_command(off) == (None, False)
    assert not (server_settings.home / "server.json").exists()


@pytest.mark.slow
def test_six_runs_started_at_once_share_one_server_and_all_publish(server_settings, tmp_path):
    out = tmp_path / "runs"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "client-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "SOVEREIGN_LLM__BACKEND": "offline",
        "SOVEREIGN_LLM__EMBEDDER": "offline",
    }
    runs = []
    for i in range(6):
        # each run its own result store, so every stage really runs six times side by side
        run_env = {**env, "SOVEREIGN_RESULT_STORAGE": str(tmp_path / "results" / str(i))}
        args = [sys.executable, "-c", "from flows.cli import app; app()", "run", GOAL, "--corpus", str(FIXTURE)]
        args += ["--out", str(out)]
        runs.append(subprocess.Popen(args, cwd=PROJECT, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    said = [run.communicate(timeout=600)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0] * 6, "\n".join(s[-2000:] for s in said)

    assert sum("Started a local Prefect server" in s for s in said) == 1, "one server, announced once"
    server = running_server(server_settings)
    assert server is not None
    reports = [Path(word) for s in said for word in s.split() if word.endswith("report.json")]
    assert_whole_briefs(out, [report.parent for report in reports], 6, "\n".join(said))
    completed = httpx.post(
        f"{server.api_url}/flow_runs/count", json={"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
    )
    assert completed.json() == 6, "the server (and so its UI) shows every CLI run"
    # the runs' different SOVEREIGN_RESULT_STORAGE made them replace each other's warm workers
    stop_server(server_settings)
    assert not workers_of(server_settings.home), "no warm worker outlives the server"


def test_threads_prefect_starts_without_the_context_use_the_local_server_too():
    url = "http://127.0.0.1:9/api"
    seen: list[str | None] = []

    def read() -> None:
        seen.append(get_current_settings().api.url)

    with prefect_api_url(url):
        thread = threading.Thread(target=read)  # as the process pool's event forwarder is started
        thread.start()
        thread.join()
    assert seen == [url]
    assert get_current_settings().api.url != url, "the API is restored on leaving"
