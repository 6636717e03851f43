"""Resume: SIGKILL the flow process after a stage, run the goal again, and no finished stage runs twice.

A brief's run id holds the time and the flow run id, and it records wall times, so "the same brief" is
compared on content: report.json less those run-specific fields, and the claims and papers tables,
against an uninterrupted run in a fresh process with a cold result store; each process gets its own
string-hash seed, so the comparison also proves ranking does not depend on set iteration order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from prefect.settings import PREFECT_API_URL

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
GOAL = "How much does routing collapse hurt mixture of LoRA experts compared with dense LoRA?"
RUN_SECONDS = 120
VOLATILE = {"run_id", "created_at", "stage_seconds"}

DRIVER = """
import os, signal, sys
from tasks.progress import subscribe
from flows.research import research_flow

log_path, kill_after, goal, corpus, out_dir = sys.argv[1:]

def record(stage, state):
    with open(log_path, "a") as log:
        log.write(f"{stage} {state}\\n")
    if stage == kill_after and state == "Completed":
        os.kill(os.getpid(), signal.SIGKILL)

subscribe(record)
research_flow(goal=goal, corpus=corpus, out_dir=out_dir)
"""

pytestmark = pytest.mark.usefixtures("prefect_harness")


def run_flow_process(
    tmp_path: Path, name: str, kill_after: str, out_dir: Path, results: str = "results"
) -> tuple[int, Counter]:
    """Run the flow in its own process against the test API; its exit code and (stage, state) counts."""
    log = tmp_path / f"{name}.log"
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "SOVEREIGN_RESULT_STORAGE": str(tmp_path / results),
        "PYTHONHASHSEED": "random",
    }
    args = [sys.executable, "-c", DRIVER, str(log), kill_after, GOAL, str(FIXTURE), str(out_dir)]
    process = subprocess.run(args, cwd=PROJECT, env=env, capture_output=True, timeout=RUN_SECONDS)
    assert log.exists(), process.stderr.decode()[-3000:]
    events = Counter(tuple(line.split(" ", 1)) for line in log.read_text().splitlines())
    return process.returncode, events


def content(directory: Path) -> dict:
    """A published brief's content: report.json less run-specific fields, and its Parquet tables."""
    report = json.loads((directory / "report.json").read_text())
    for where in ("result_storage", "out_dir"):
        report["settings"].pop(where, None)
    tables = {name: pq.read_table(directory / name).to_pylist() for name in ("claims.parquet", "papers.parquet")}
    return {**{k: v for k, v in report.items() if k not in VOLATILE}, **tables}


def test_killed_run_resumes_without_redoing_finished_stages_and_publishes_the_same_brief(tmp_path):
    out = tmp_path / "runs"
    code, first = run_flow_process(tmp_path, "killed", kill_after="verify_claims", out_dir=out)
    assert code == -signal.SIGKILL
    finished = {stage for (stage, state), _ in first.items() if state == "Completed"}
    assert {"plan_queries", "search", "merge_rank", "extract_claims", "verify_claims"} <= finished
    assert not out.exists() or not any(out.iterdir()), "a killed run published nothing"

    code, second = run_flow_process(tmp_path, "resumed", kill_after="", out_dir=out)
    assert code == 0
    for stage in finished:
        assert second[(stage, "Completed")] == 0, f"{stage} ran again"
        assert second[(stage, "Cached")] == first[(stage, "Completed")], stage
    assert second[("embed", "Completed")] == 1 and second[("review", "Completed")] == 3

    (resumed,) = [d for d in out.iterdir() if not d.name.startswith(".")]
    code, _ = run_flow_process(tmp_path, "reference", "", tmp_path / "reference", results="reference-results")
    (reference,) = (tmp_path / "reference").iterdir()
    assert code == 0 and content(resumed) == content(reference)
