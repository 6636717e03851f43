"""The local Prefect server: started in the background by the first command that needs one, reused by the rest.

Its state (pid and port) is recorded in `<home>/server.json`; a file lock makes concurrent first commands agree on
one server, and a recorded server whose process is gone or whose health check does not answer is replaced.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tasks.io.atomic import write_atomic
from tasks.settings import LocalServerSettings

HOST = "127.0.0.1"
POLL_SECONDS = 0.2
_NOT_FOR_THE_SERVER = ("PREFECT_API_", "PREFECT_SERVER_DATABASE_", "PREFECT_UI_API_URL")
# a proxy configured for the internet must not see, or answer, loopback health checks
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerError(RuntimeError):
    """The local server did not start; the message says why and where its log is."""


@dataclass(frozen=True)
class LocalServer:
    """A local server this module started: its process (the leader of its own process group) and port."""

    pid: int
    port: int

    @property
    def ui_url(self) -> str:
        """The Prefect UI."""
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        """The value for PREFECT_API_URL."""
        return f"{self.ui_url}/api"


def ensure_server(settings: LocalServerSettings) -> tuple[LocalServer, bool]:
    """The running local server, started first when none answers; True when this call started it."""
    with _locked(settings.home):
        server = _recorded(settings.home)
        if server and _answers(server, settings):
            return server, False
        if server:
            _terminate(server, settings)  # dead, or alive and not answering: replaced below
        return _start(settings), True


def running_server(settings: LocalServerSettings) -> LocalServer | None:
    """The recorded server when it is alive and answers its health check, else None."""
    server = _recorded(settings.home)
    return server if server and _answers(server, settings) else None


def stop_server(settings: LocalServerSettings) -> LocalServer | None:
    """Stop the recorded server and forget it; returns it when its process was still there to stop."""
    with _locked(settings.home):
        server = _recorded(settings.home)
        if server is None:
            return None
        was_running = _is_server_process(server.pid)
        _terminate(server, settings)
        return server if was_running else None


def server_for_command(settings: LocalServerSettings, start: bool = True) -> tuple[LocalServer | None, bool]:
    """The local server a command's flows use (started when `start` and none answers), and whether it was started.

    None when PREFECT_API_URL is configured (the environment, a Prefect profile, a test harness: always respected)
    or auto start is off.
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value() or not settings.auto_start:
        return None, False
    if start:
        return ensure_server(settings)
    return running_server(settings), False


@contextmanager
def prefect_api_url(url: str) -> Iterator[None]:
    """PREFECT_API_URL is `url` for this process's Prefect client, and the processes it starts, while inside."""
    from prefect.context import SettingsContext, _temporary_global_settings_context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url  # Dask workers and other child processes read it from the environment
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            # threads Prefect starts without copying the context (the process pool's event forwarder) read the
            # global settings, made at import: left alone, they start an ephemeral server of their own, which then
            # fails to record task runs of a flow run it never saw (Prefect's test harness swaps them the same way)
            with _temporary_global_settings_context(SettingsContext.get()):
                yield
    finally:
        if before is None:
            del os.environ["PREFECT_API_URL"]
        else:
            os.environ["PREFECT_API_URL"] = before


def healthy(server: LocalServer, timeout_seconds: float) -> bool:
    """Whether the server's /api/health answers 200 within the timeout."""
    try:
        with _LOOPBACK.open(f"{server.api_url}/health", timeout=timeout_seconds) as response:
            return response.status == 200
    except (OSError, http.client.HTTPException):
        return False


def _answers(server: LocalServer, settings: LocalServerSettings) -> bool:
    return _is_server_process(server.pid) and healthy(server, settings.health_timeout_seconds)


def _start(settings: LocalServerSettings) -> LocalServer:
    """Start `prefect server start` detached, on a free loopback port, and wait until it answers."""
    home = settings.home
    # its own SQLite database and PREFECT_HOME under `home`, whatever database or API the environment names
    env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_FOR_THE_SERVER)}
    env |= {
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    port = _free_port()
    log_path = home / "server.log"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)]
    with open(log_path, "ab") as log:
        # a session of its own: the server outlives this command, and Ctrl-C in the terminal does not reach it
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LocalServer(pid=process.pid, port=port)
    deadline = time.monotonic() + settings.start_timeout_seconds
    while not healthy(server, settings.health_timeout_seconds):
        if process.poll() is not None:
            raise ServerError(f"the local Prefect server exited with code {process.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            _terminate(server, settings)
            raise ServerError(
                f"the local Prefect server did not answer within {settings.start_timeout_seconds:g} s "
                f"(SOVEREIGN_SERVER__START_TIMEOUT_SECONDS); see {log_path}"
            )
        time.sleep(POLL_SECONDS)
    write_atomic(_state_path(home), json.dumps(asdict(server)))  # read outside the lock by `server status`
    return server


def _terminate(server: LocalServer, settings: LocalServerSettings) -> None:
    """SIGTERM the server's process group, SIGKILL it after the stop timeout; forget the server either way."""
    if _is_server_process(server.pid):
        for stop in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(server.pid, stop)
            except ProcessLookupError:
                break
            # the group's web workers outlive their leader briefly: wait until none of them runs
            deadline = time.monotonic() + settings.stop_timeout_seconds
            while (_is_server_process(server.pid) or _group_running(server.pid)) and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
            if not _group_running(server.pid):
                break
    _state_path(settings.home).unlink(missing_ok=True)


def _group_running(pgid: int) -> bool:
    """Whether a process of the group still runs (Linux /proc; a zombie awaiting its parent has stopped)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        if int(group) == pgid and state != "Z":
            return True
    return False


def _is_server_process(pid: int) -> bool:
    """Whether `pid` is still a live Prefect server leading its own process group, not a process that reused it."""
    try:
        # reaps the server when this very process started it, so that a stopped server is not left a zombie
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        if os.getpgid(pid) != pid:
            return False
    except ProcessLookupError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")  # Linux; elsewhere the process group check stands alone
    try:
        return b"prefect" in cmdline.read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return False


def _recorded(home: Path) -> LocalServer | None:
    try:
        return LocalServer(**json.loads(_state_path(home).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _state_path(home: Path) -> Path:
    return home / "server.json"


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    """Hold the server lock: one command at a time checks, starts or stops the server."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "server.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]
