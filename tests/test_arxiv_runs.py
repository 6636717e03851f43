"""Whole research runs on the live arXiv source, pointed at a loopback Atom server that injects faults.

The concurrent-runs test starts research runs as separate processes at the same moment (a barrier after each
has imported the kernel and reached its Prefect API) and measures the gaps between the requests the server saw.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from flows.cli import app
from flows.research import research_flow
from tasks.index.corpus import load_papers
from tasks.plan import plan_queries
from tests.atom_server import AtomServer

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
GOAL = "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?"
GOALS = [
    "How much does routing collapse hurt mixture of LoRA experts?",
    "Do sparse LoRA experts reduce memory during fine-tuning?",
    "When do mixture-of-experts adapters beat dense LoRA?",
]
SPACING_SECONDS = 0.5
RUN_SECONDS = 300

# One research run. After planning it waits until every run of the test has planned (each has imported the
# kernel and reached its Prefect API, its own ephemeral one included), so that all start searching together.
DRIVER = """
import os, sys, time
from pathlib import Path
from flows.research import research_flow
from tasks.progress import subscribe

ready, runs, goal, out_dir = sys.argv[1:]

def search_together(stage, state):
    if (stage, state) != ("plan_queries", "Completed"):
        return
    Path(ready, str(os.getpid())).touch()
    deadline = time.monotonic() + 240
    while len(os.listdir(ready)) < int(runs) and time.monotonic() < deadline:
        time.sleep(0.01)
    Path(ready).with_name(f"searching-{os.getpid()}").write_text(repr(time.monotonic()))

subscribe(search_together)
print(research_flow(goal=goal, source="arxiv", out_dir=out_dir).directory, flush=True)
"""

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    """The fixture corpus served as arXiv, with runs in this process pointed at it."""
    with AtomServer([p.model_dump() for p in load_papers(FIXTURE)[0]]) as running:
        monkeypatch.setenv("SOVEREIGN_SEARCH__ARXIV_QUERY_URL", running.url_format)
        monkeypatch.setenv("SOVEREIGN_SEARCH__ARXIV_MIN_INTERVAL_SECONDS", "0.1")
        yield running


def test_a_query_that_always_fails_is_named_in_uncertainties_and_the_run_goes_on(server, tmp_path):
    queries = plan_queries.fn(GOAL).queries
    broken = queries[1]
    server.broken[broken] = 500

    published = research_flow(goal=GOAL, source="arxiv", out_dir=str(tmp_path / "runs"))

    asked = [r.query["search_query"] for r in server.requests]
    assert asked.count(broken) == 4, "the first try and the task's 3 retries, then the query is given up"
    assert all(asked.count(q) == 1 for q in queries if q != broken)
    report = json.loads(published.json.read_text())
    (error,) = report["search_errors"]
    assert f"query '{broken}' failed" in error and "HTTP 500" in error
    assert report["draft"]["papers"], "the run goes on with the other three queries' papers"
    uncertainties = re.search(r"^## \d+ Uncertainties$(.*?)^## ", published.markdown.read_text(), re.M | re.S)
    assert uncertainties, "the brief has an Uncertainties section"
    uncertainties = uncertainties.group(1)
    assert "Searches that failed" in uncertainties and broken in uncertainties


def test_every_query_failing_fails_the_run_in_one_line_and_publishes_nothing(server, tmp_path):
    for query in plan_queries.fn(GOAL).queries:
        server.broken[query] = 503

    result = CliRunner().invoke(app, ["run", GOAL, "--source", "arxiv", "--out", str(tmp_path / "runs")])

    assert result.exit_code == 1, result.output
    assert "research run failed" in result.stderr and "HTTP 503" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def _start_run(tmp_path: Path, index: int, goals: list[str], server: AtomServer, backend: str) -> subprocess.Popen:
    """One research run in its own process, on the shared test API or on an ephemeral API of its own."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / f"home-{index}"),
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "SOVEREIGN_RESULT_STORAGE": str(tmp_path / f"results-{index}"),
        "SOVEREIGN_SEARCH__ARXIV_QUERY_URL": server.url_format,
        "SOVEREIGN_SEARCH__ARXIV_MIN_INTERVAL_SECONDS": str(SPACING_SECONDS),
        "SOVEREIGN_LLM__BACKEND": "offline",
        "SOVEREIGN_LLM__EMBEDDER": "offline",
    }
    if backend == "own ephemeral API each":
        del env["PREFECT_API_URL"]
        # Servers migrating fresh databases side by side on two busy cores take longer than Prefect's default 20 s.
        env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
    (tmp_path / f"home-{index}").mkdir()
    args = [
        sys.executable,
        "-c",
        DRIVER,
        str(tmp_path / "ready"),
        str(len(goals)),
        goals[index],
        str(tmp_path / "runs"),
    ]
    with (tmp_path / f"run-{index}.log").open("wb") as log:  # the child keeps its own copy of the descriptor
        # A session of its own, so a run that overstays can be stopped with its ephemeral server.
        return subprocess.Popen(
            args, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_all(processes: list[subprocess.Popen]) -> list[int]:
    """Exit codes of every run; a run still going after RUN_SECONDS is killed with its process group."""
    try:
        return [process.wait(RUN_SECONDS) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("backend, runs", [("one test API", 3), ("own ephemeral API each", 2)])
def test_concurrent_runs_keep_the_spacing_between_all_their_requests(server, tmp_path, backend, runs):
    goals = GOALS[:runs]
    plans = [plan_queries.fn(goal).queries for goal in goals]
    owner = {query: run for run, queries in enumerate(plans) for query in queries}
    assert len(owner) == sum(map(len, plans)), "each run's requests are told apart by their queries"
    (tmp_path / "ready").mkdir()

    processes = [_start_run(tmp_path, i, goals, server, backend) for i in range(runs)]
    codes = _wait_all(processes)

    logs = [(tmp_path / f"run-{i}.log").read_text(errors="replace") for i in range(runs)]
    assert codes == [0] * runs, "\n".join(log[-3000:] for log in logs)
    assert len([d for d in (tmp_path / "runs").iterdir() if not d.name.startswith(".")]) == runs
    # what each run searched, as its report says: the plan's queries and an acronym spelled out ("low rank adaptation")
    reports = [json.loads(path.read_text()) for path in (tmp_path / "runs").glob("*/report.json")]
    owner = {query: goals.index(r["goal"]) for r in reports for query in r["plan"]["queries"]}
    assert set(owner) >= {query for queries in plans for query in queries}
    requests = sorted(server.requests, key=lambda r: r.at)
    assert len(requests) == sum(len(r["plan"]["queries"]) for r in reports) == len(owner)
    last_request = {owner[r.query["search_query"]]: r.at for r in requests}
    searching = [float(path.read_text()) for path in tmp_path.glob("searching-*")]
    assert len(searching) == runs and max(searching) < min(last_request.values()), (
        "every run was searching before any run had sent its last request: they competed for the turns"
    )
    gaps = [b.at - a.at for a, b in pairwise(requests)]
    print(f"{backend}: {len(requests)} requests from {runs} runs, min gap {min(gaps):.3f} s")
    assert min(gaps) >= SPACING_SECONDS, gaps
