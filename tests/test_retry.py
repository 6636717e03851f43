"""`prefect flow-run retry`: a research run fails at its last stage because its output directory cannot be created;
once the directory can be, retrying the same flow run from the Prefect CLI reuses every finished stage and
publishes the brief a clean run publishes.

A run without a deployment is retried in the CLI's own process (`--entrypoint`), against the test API, with the
result store of the failed attempt (SOVEREIGN_RESULT_STORAGE): that store is what lets finished stages be reused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prefect.settings import PREFECT_API_URL

from flows.research import research_flow
from tasks.progress import subscribe
from tests.factories import attempt_task_runs, brief_content

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
PREFECT = Path(sys.executable).parent / "prefect"
GOAL = "How much does routing collapse hurt mixture of LoRA experts compared with dense LoRA?"
ENTRYPOINT = "flows/research.py:research_flow"
# Bounds every wait on the CLI and on the API recording task runs (its events arrive shortly after a run ends).
WAIT = float(os.environ.get("SOVEREIGN_TEST_SERVER_WAIT_SECONDS", "180"))

pytestmark = pytest.mark.usefixtures("prefect_harness")


def api(method: str, path: str, **kwargs) -> object:
    return httpx.request(method, f"{PREFECT_API_URL.value()}{path}", timeout=30, **kwargs).raise_for_status().json()


@contextmanager
def counted_stages() -> Iterator[Counter]:
    """(stage, state) of every stage transition in this process."""
    events: Counter = Counter()
    unsubscribe = subscribe(lambda stage, state: events.update([(stage, state)]))
    try:
        yield events
    finally:
        unsubscribe()


def test_prefect_flow_run_retry_reuses_every_finished_stage_and_publishes_the_clean_brief(tmp_path):
    blocker = tmp_path / "briefs"
    blocker.write_text("a file where the output directory's parent should be")
    out, store = blocker / "runs", tmp_path / "results"
    failing = research_flow.with_options(result_storage=store)
    with counted_stages() as first:
        state = failing(goal=GOAL, corpus=str(FIXTURE), out_dir=str(out), return_state=True)
    assert state.is_failed() and "cannot write the brief" in state.message, state.message
    finished = {stage for (stage, s), n in first.items() if s == "Completed"}
    assert {"plan_queries", "search", "merge_rank", "extract_claims", "verify_claims", "embed"} <= finished
    assert {"compose_draft", "review", "decide_policy"} <= finished and first[("publish", "Failed")] == 1
    flow_run_id = str(state.state_details.flow_run_id)

    blocker.unlink()  # the owner frees the path; the same run is retried from the Prefect CLI
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "SOVEREIGN_RESULT_STORAGE": str(store)}
    retry = [str(PREFECT), "flow-run", "retry", flow_run_id, "--entrypoint", ENTRYPOINT]
    done = subprocess.run(retry, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "completed successfully" in done.stdout

    run = api("GET", f"/flow_runs/{flow_run_id}")
    assert run["state"]["type"] == "COMPLETED" and run["run_count"] == 2
    retried = attempt_task_runs(api, flow_run_id, 2, finished | {"publish"}, WAIT)
    for stage in finished:
        assert retried[(stage, "Completed")] == 0, f"{stage} ran again"
        assert retried[(stage, "Cached")] == first[(stage, "Completed")], stage
    assert retried[("publish", "Completed")] == 1

    (brief,) = [d for d in out.iterdir() if not d.name.startswith(".")]
    reference = tmp_path / "reference"
    clean = research_flow.with_options(result_storage=tmp_path / "reference-results")
    with counted_stages() as cold:
        clean(goal=GOAL, corpus=str(FIXTURE), out_dir=str(reference))
    assert not any(s == "Cached" for _, s in cold), "the clean run computed every stage"
    (expected,) = reference.iterdir()
    assert brief_content(brief) == brief_content(expected)
