"""prefect.yaml and its mirror, then the whole loop a user runs: server, work pool, deploy, worker, UI-style runs."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

from deployments.serve import read_deployments, to_runner_deployment
from tasks.models import Policy, Report
from tests.factories import attempt_task_runs
from tests.loopback import loopback_server

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
BIN = Path(sys.executable).parent
# Every wait in the server test is bounded; CI can stretch them on a slow machine.
WAIT = float(os.environ.get("SOVEREIGN_TEST_SERVER_WAIT_SECONDS", "180"))
# The server's SQLite answers 503 when a write transaction collides with another (SQLITE_BUSY_SNAPSHOT, under
# full-suite load on two cores). Raising PREFECT_SERVER_DATABASE_TIMEOUT would not help: it only sets the
# connect timeout, which Prefect's own PRAGMA busy_timeout (60 s) overrides, and a snapshot conflict fails at
# once whatever the timeout. A failed transaction wrote nothing, so asking again is safe; no wait without a 503.
RETRY_503_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)


def test_prefect_yaml_declares_research_and_a_nightly_sweep_on_a_process_pool():
    config = yaml.safe_load((PROJECT / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in config["deployments"]}
    assert set(deployments) == {"research", "nightly-sweep"}
    assert {d["work_pool"]["name"] for d in deployments.values()} == {"sovereign-process"}
    (schedule,) = deployments["nightly-sweep"]["schedules"]
    assert schedule["cron"] == "0 2 * * *" and schedule["timezone"]
    assert "schedules" not in deployments["research"]
    assert (PROJECT / deployments["nightly-sweep"]["parameters"]["questions_file"]).is_file()
    assert (PROJECT / deployments["research"]["parameters"]["corpus"]).is_file()


@pytest.mark.parametrize("spec", read_deployments(), ids=lambda spec: spec["name"])
def test_every_parameter_is_typed_described_and_defaulted_for_the_ui_form(spec):
    flow = load_flow_from_entrypoint(str(PROJECT / spec["entrypoint"]))
    schema = parameter_schema(flow).model_dump()
    signature = inspect.signature(flow.fn).parameters
    assert set(spec["parameters"]) <= set(signature)
    for name, field in schema["properties"].items():
        assert field.get("description"), f"{name} has no description"
        assert "type" in field or "anyOf" in field or "enum" in field or "$ref" in field, f"{name} has no type"
        has_default = signature[name].default is not inspect.Parameter.empty or name in spec["parameters"]
        assert has_default, f"{name} has no default"
    assert "goal" in schema["properties"] or "goals" in schema["properties"]
    assert "corpus" in schema["properties"]


def test_serve_mirrors_prefect_yaml():
    served = {spec["name"]: (spec, to_runner_deployment(spec)) for spec in read_deployments()}
    for name, (spec, deployment) in served.items():
        assert deployment.name == name and deployment.parameters == spec["parameters"]
        assert deployment.entrypoint == spec["entrypoint"] and deployment.tags == spec["tags"]
    (schedule,) = served["nightly-sweep"][1].schedules
    assert schedule.schedule.cron == "0 2 * * *" and schedule.schedule.timezone == "UTC"
    assert served["research"][1].schedules == []


# --- a real server, a worker and the deployments, as a user runs them -------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen, name: str) -> None:
    """SIGINT the process group, then SIGKILL it if it lingers; never waits unbounded."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


class PrefectServer:
    """`prefect server start` on loopback with its own PREFECT_HOME, and processes that talk to it."""

    def __init__(self, home: Path, database_url: str | None = None) -> None:
        self.port = _free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_UI_ENABLED": "true",
            "SOVEREIGN_APPROVAL__POLL_SECONDS": "1",
        }
        if database_url:
            self.env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        """A long-running process in its own process group, output to logs/<name>.log."""
        out = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            args, cwd=PROJECT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append((name, process))
        return process

    def run(self, *args: str) -> str:
        done = subprocess.run(args, cwd=PROJECT, env=self.env, capture_output=True, text=True, timeout=WAIT)
        assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done.stdout

    def stop_all(self) -> None:
        """Stop in reverse order of start: the worker before the server."""
        for name, process in reversed(self.processes):
            _stop(process, name)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert all(p.poll() is None for _, p in self.processes), (self.logs / "server.log").read_text()[-3000:]
            time.sleep(0.5)
        raise AssertionError(f"server not healthy within {WAIT}s")

    def call(self, method: str, path: str, **kwargs) -> object:
        """One API request; a 503 is asked again after a short wait, as Prefect's own client does."""
        response = httpx.request(method, f"{self.api}{path}", timeout=30, **kwargs)
        for delay in RETRY_503_DELAYS:
            if response.status_code != 503:
                break
            time.sleep(delay)
            response = httpx.request(method, f"{self.api}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def run_deployment(self, name: str, parameters: dict) -> str:
        deployment = self.call("GET", f"/deployments/name/{name}")
        run = self.call("POST", f"/deployments/{deployment['id']}/create_flow_run", json={"parameters": parameters})
        return run["id"]

    def wait_for_state(self, flow_run_id: str, state: str) -> dict:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            run = self.call("GET", f"/flow_runs/{flow_run_id}")
            current = run["state"]["type"]
            if current == state:
                return run
            assert current not in {"FAILED", "CRASHED", "CANCELLED"} or current == state, self.diagnose(run)
            time.sleep(1)
        raise AssertionError(f"flow run not {state} within {WAIT}s: {self.diagnose(run)}")

    def diagnose(self, run: dict) -> str:
        worker = (self.logs / "worker.log").read_text()[-4000:] if (self.logs / "worker.log").exists() else ""
        return f"{run['state']}\n--- worker log ---\n{worker}"


def test_an_api_call_answered_503_is_asked_again(tmp_path):
    statuses = [503, 503, 200]

    class Busy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"healthy": true}'
            self.send_response(statuses.pop(0))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with loopback_server(Busy) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        server = PrefectServer(tmp_path / "home")
        server.api = f"http://127.0.0.1:{httpd.server_address[1]}/api"
        try:
            assert server.call("GET", "/health") == {"healthy": True}
        finally:
            httpd.shutdown()
    assert statuses == [], "asked three times: two 503s, then the answer"


@contextmanager
def running_stack(home: Path, database_url: str | None = None) -> Iterator[PrefectServer]:
    """A real server, the process work pool, the deployments from prefect.yaml, and a worker; stopped after."""
    server = PrefectServer(home, database_url)
    prefect = str(BIN / "prefect")
    try:
        server.start("server", prefect, "server", "start", "--host", "127.0.0.1", "--port", str(server.port))
        server.wait_healthy()
        server.run(prefect, "work-pool", "create", "sovereign-process", "--type", "process")
        server.run(prefect, "--no-prompt", "deploy", "--all")
        server.start("worker", prefect, "worker", "start", "--pool", "sovereign-process")
        yield server
    finally:
        server.stop_all()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """One stack for this module's deployment tests: each test writes under its own directory."""
    with running_stack(tmp_path_factory.mktemp("stack") / "prefect-home") as server:
        yield server


def run_research(server: PrefectServer, out_dir: Path) -> list[dict]:
    """Run the `research` deployment on the fixture corpus to Completed; the run's artifacts."""
    run_id = server.run_deployment("research/research", {"corpus": str(FIXTURE), "out_dir": str(out_dir)})
    server.wait_for_state(run_id, "COMPLETED")
    return server.call("POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}})


def test_deployed_research_runs_publishes_artifacts_and_waits_for_the_owner(prefect_server, tmp_path):
    server = prefect_server
    deployments = {d["name"] for d in server.call("POST", "/deployments/filter", json={})}
    assert deployments == {"research", "nightly-sweep"}

    artifacts = run_research(server, tmp_path / "ok")
    by_kind = {a["key"].split("-", 1)[0]: a for a in artifacts if a["key"]}
    assert set(by_kind) == {"brief", "claims", "tribunal"}
    assert by_kind["brief"]["type"] == "markdown" and "## Answer" in by_kind["brief"]["data"]
    assert by_kind["claims"]["type"] == "table" and json.loads(by_kind["claims"]["data"])
    assert "AUTO_APPROVE" in by_kind["tribunal"]["data"]

    # no fixture paper is about prefix tuning, though its comparison is: the policy holds the draft for the owner
    held_out = tmp_path / "held"
    held = server.run_deployment(
        "research/research",
        {
            "goal": "How does prefix tuning compare with dense LoRA fine-tuning in accuracy?",
            "corpus": str(FIXTURE),
            "out_dir": str(held_out),
            "approval_timeout_seconds": int(WAIT),
        },
    )
    paused = server.wait_for_state(held, "PAUSED")
    assert paused["state"]["state_details"]["run_input_keyset"], "the pause asks for the owner's input"
    output = server.run(str(BIN / "sovereign"), "approve", held, "--comment", "looked fine", "--reviewer", "ci")
    assert "Approved" in output
    server.wait_for_state(held, "COMPLETED")
    (brief,) = [d for d in held_out.iterdir() if not d.name.startswith(".")]
    report = Report.model_validate_json((brief / "report.json").read_text())
    assert report.decision.policy is Policy.HUMAN_REVIEW
    assert report.owner_review and report.owner_review.status == "approved" and report.owner_review.reviewer == "ci"


def test_a_failed_deployed_run_retried_from_the_cli_is_run_again_by_the_worker_reusing_its_stages(
    prefect_server, tmp_path
):
    server = prefect_server
    blocker = tmp_path / "briefs"
    blocker.write_text("a file where the output directory's parent should be")
    out = blocker / "runs"
    run_id = server.run_deployment("research/research", {"corpus": str(FIXTURE), "out_dir": str(out)})
    failed = server.wait_for_state(run_id, "FAILED")
    assert "cannot write the brief" in failed["state"]["message"]

    blocker.unlink()  # the owner frees the path and presses Retry (here: its CLI twin); the worker runs it again
    said = server.run(str(BIN / "prefect"), "flow-run", "retry", run_id)
    assert "scheduled for retry" in " ".join(said.split())
    assert server.wait_for_state(run_id, "COMPLETED")["run_count"] == 2
    retried = attempt_task_runs(server.call, run_id, 2, {"merge_rank", "verify_claims", "publish"}, WAIT)
    assert retried[("merge_rank", "Cached")] == 1 and retried[("verify_claims", "Cached")] == 1
    assert not retried[("merge_rank", "Completed")] and retried[("publish", "Completed")] == 1
    (brief,) = [d for d in out.iterdir() if not d.name.startswith(".")]
    assert Report.model_validate_json((brief / "report.json").read_text()).goal


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL cluster of the test's own (deployments/postgres.sh), stopped after."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        if os.environ.get("CI"):
            pytest.fail("CI installs postgresql (.ci/run); initdb is missing")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    # The postgres user must reach the data directory; pytest's own tmp dirs are private to this user.
    data = Path(tempfile.mkdtemp(prefix="sovereign-pg-"))
    data.chmod(0o755)
    env = {**os.environ, "PGDATA": str(data / "data"), "PGPORT": str(_free_port())}
    script = str(PROJECT / "deployments" / "postgres.sh")
    try:
        subprocess.run([script, "start"], env=env, check=True, timeout=WAIT)
        yield subprocess.run([script, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
    finally:
        subprocess.run([script, "stop"], env=env, timeout=WAIT)
        shutil.rmtree(data, ignore_errors=True)


def test_research_deployment_on_a_postgresql_backed_server(postgres_url, tmp_path):
    with running_stack(tmp_path / "prefect-home", postgres_url) as server:
        artifacts = run_research(server, tmp_path / "runs")
    assert {a["key"].split("-", 1)[0] for a in artifacts if a["key"]} == {"brief", "claims", "tribunal"}
    # the run is in PostgreSQL, not in a SQLite file under PREFECT_HOME
    port = postgres_url.rsplit(":", 1)[1].split("/")[0]
    psql = [next(Path("/usr/lib/postgresql").glob("*/bin/psql")), "-h", "127.0.0.1", "-p", port, "-U", "prefect"]
    query = "SELECT count(*) FROM artifact WHERE key LIKE 'brief-%'"
    count = subprocess.run([*psql, "-d", "prefect", "-tAc", query], capture_output=True, text=True, timeout=60)
    assert count.stdout.strip() == "1", count.stderr
    assert not list((tmp_path / "prefect-home").glob("*.db"))
