"""The local Prefect server: started in the background by the first command that needs one, reused by the rest.

Its state (pid and port) is recorded in `<home>/server.json`; a file lock makes concurrent first commands agree on
one server, and a recorded server whose process is gone or whose health check does not answer is replaced.

Beside it runs the warm worker (flows/warm.py), a Prefect task worker that keeps the kernel loaded for offline runs:
recorded in `<home>/worker.json` under the same lock, replaced when its process is gone or when it was started for
another server, other kernel code or other SOVEREIGN_* settings, and stopped with the server.
"""

from __future__ import annotations

import fcntl
import hashlib
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
from typing import TypeVar

from tasks.io.atomic import write_atomic
from tasks.settings import LocalServerSettings

HOST = "127.0.0.1"
WORKER_MODULE = "flows.warm"
KERNEL = Path(__file__).resolve().parent.parent  # the code this command runs, and so the warm worker too
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


@dataclass(frozen=True)
class WarmWorker:
    """A warm worker this module started: its process (a group leader) and the key of what it was started with."""

    pid: int
    key: str


Record = TypeVar("Record", LocalServer, WarmWorker)


def ensure_worker(settings: LocalServerSettings, server: LocalServer) -> tuple[WarmWorker | None, bool]:
    """The warm worker for `server` and this command's code and settings, started when none is; True when started.

    None when the recorded one was started for other code or settings and is busy: it is left to finish its runs.
    A started worker is not waited for: the server queues the runs submitted meanwhile until it subscribes.
    """
    key = worker_key(server)
    with _locked(settings.home):
        worker = _recorded_worker(settings.home)
        if worker and worker_alive(worker):
            if worker.key == key:
                return worker, False
            if _worker_busy(settings.home):
                return None, False
        _stop_worker(settings)  # dead, or idle and started for another server, code or settings: replaced below
        return _start_worker(settings, server, key), True


def running_worker(settings: LocalServerSettings) -> WarmWorker | None:
    """The recorded warm worker when its process is alive, else None."""
    worker = _recorded_worker(settings.home)
    return worker if worker and worker_alive(worker) else None


def worker_alive(worker: WarmWorker) -> bool:
    """Whether the worker's process is still running (and is the worker, not a process that reused its pid)."""
    return _is_server_process(worker.pid, WORKER_MODULE.encode())


@contextmanager
def worker_running(home: Path) -> Iterator[None]:
    """Held by the warm worker while it runs a run: a shared lock, released with its process whatever happens."""
    with open(home / "worker-runs.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield


def _worker_busy(home: Path) -> bool:
    """Whether the warm worker is running a run now (it holds `worker_running`)."""
    with open(home / "worker-runs.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file is closed
        except BlockingIOError:
            return True
    return False


def worker_storage(home: Path) -> Path:
    """Where warm runs' parameters and results (and their stages' results, unless SOVEREIGN_RESULT_STORAGE is set)
    are stored: set explicitly in both the CLI and the worker."""
    return home / "worker-storage"


def worker_key(server: LocalServer) -> str:
    """What a warm run depends on beyond its parameters: the server, the kernel's files, the SOVEREIGN_* settings."""
    files = sorted(p for folder in ("flows", "tasks") for p in (KERNEL / folder).rglob("*") if p.is_file())
    code = [(str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files if "__pycache__" not in p.parts]
    # the server's own settings do not shape a run, and the API key never goes into a state file, not even hashed
    env = sorted(
        (k, v)
        for k, v in os.environ.items()
        if k.startswith("SOVEREIGN_") and not k.startswith(("SOVEREIGN_SERVER__", "SOVEREIGN_NVIDIA_API_KEY"))
    )
    dotenv = Path(".env")  # read by Settings from the working directory, which the worker inherits
    secret = ("NVIDIA_API_KEY", "SOVEREIGN_NVIDIA_API_KEY")
    dotenv_values = [(k, v) for k, v in _dotenv(dotenv).items() if k.upper() not in secret]
    payload = json.dumps([asdict(server), sys.executable, code, env, dotenv_values])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def running_server(settings: LocalServerSettings) -> LocalServer | None:
    """The recorded server when it is alive and answers its health check, else None."""
    server = _recorded(settings.home)
    return server if server and _answers(server, settings) else None


def stop_server(settings: LocalServerSettings) -> LocalServer | None:
    """Stop the recorded server and forget it; returns it when its process was still there to stop."""
    with _locked(settings.home):
        _stop_worker(settings)
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


def _dotenv(path: Path) -> dict[str, str | None]:
    from dotenv import dotenv_values

    return dict(dotenv_values(path)) if path.is_file() else {}


def _start_worker(settings: LocalServerSettings, server: LocalServer, key: str) -> WarmWorker:
    """Start the warm worker detached, on `server`'s API and the shared warm-run storage."""
    home = settings.home
    env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_FOR_THE_SERVER)}
    env |= {
        "PREFECT_API_URL": server.api_url,
        "PREFECT_LOCAL_STORAGE_PATH": str(worker_storage(home)),
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "INFO",  # its log file says which runs it took up and how they ended
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",  # the warm task logs outside any flow run
        "PYTHONPATH": os.pathsep.join(filter(None, [str(KERNEL), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", WORKER_MODULE, key, str(home)]
    with open(home / "worker.log", "ab") as log:
        # a session of its own, as the server's: it outlives this command and Ctrl-C does not reach it
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = WarmWorker(pid=process.pid, key=key)
    write_atomic(_worker_path(home), json.dumps(asdict(worker)))
    return worker


def _stop_worker(settings: LocalServerSettings) -> None:
    """Stop every warm worker of this home, recorded or not, and forget the recorded one."""
    worker = _recorded_worker(settings.home)
    # concurrent commands that replace each other's workers have been seen to leave one unrecorded and running
    pids = {worker.pid} if worker else set()
    for pid in pids | workers_of(settings.home):
        _stop_group(pid, settings, WORKER_MODULE.encode())
    _worker_path(settings.home).unlink(missing_ok=True)


def workers_of(home: Path) -> set[int]:
    """The processes running `python -m flows.warm KEY HOME` for this home (Linux /proc; elsewhere none found)."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # the process ended while we looked
        if argv[1:3] == ["-m", WORKER_MODULE] and argv[4:5] == [str(home)]:
            found.add(int(cmdline.parent.name))
    return found


def _recorded_worker(home: Path) -> WarmWorker | None:
    return _read_record(_worker_path(home), WarmWorker)


def _worker_path(home: Path) -> Path:
    return home / "worker.json"


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
    """Stop the server's process group and forget the server; its warm worker goes with it."""
    _stop_worker(settings)
    _stop_group(server.pid, settings)
    _state_path(settings.home).unlink(missing_ok=True)


def _stop_group(pid: int, settings: LocalServerSettings, marker: bytes = b"prefect") -> None:
    """SIGTERM the process group `pid` leads, SIGKILL it after the stop timeout (when it is still ours)."""
    if not _is_server_process(pid, marker):
        return
    for stop in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, stop)
        except ProcessLookupError:
            break
        # the group's web workers outlive their leader briefly: wait until none of them runs
        deadline = time.monotonic() + settings.stop_timeout_seconds
        while (_is_server_process(pid, marker) or _group_running(pid)) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        if not _group_running(pid):
            break


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


def _is_server_process(pid: int, marker: bytes = b"prefect") -> bool:
    """Whether `pid` is still a live process of ours (its command line holds `marker`) leading its own process
    group, not a process that reused the pid."""
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
        return marker in cmdline.read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return False


def _recorded(home: Path) -> LocalServer | None:
    return _read_record(_state_path(home), LocalServer)


def _read_record(path: Path, kind: type[Record]) -> Record | None:
    """The process recorded in `path` (server.json, worker.json), or None when it is missing or unreadable."""
    try:
        return kind(**json.loads(path.read_text()))
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
