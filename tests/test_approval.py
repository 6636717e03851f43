"""Owner approval: a HUMAN_REVIEW run pauses for the owner's typed decision; `sovereign approve` resumes it."""

from __future__ import annotations

import contextvars
import json
import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from flows.cli import app
from flows.research import research_flow
from tasks.artifacts import goal_key
from tasks.models import Policy, Report

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
GOAL = "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?"
# no paper of the fixture corpus is about prefix tuning, though its comparison is: a draft held for the owner
HELD_GOAL = "How does prefix tuning compare with dense LoRA fine-tuning in accuracy?"
WAIT_SECONDS = 60

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Path:
    """A corpus whose papers do not address HELD_GOAL's central entity, so the policy holds the draft; fast polling."""
    monkeypatch.setenv("SOVEREIGN_APPROVAL__POLL_SECONDS", "1")
    return FIXTURE


class FlowThread(threading.Thread):
    """research_flow in a thread that sees the test's Prefect settings (they live in context variables)."""

    def __init__(self, **parameters: object) -> None:
        super().__init__(daemon=True)
        self.context = contextvars.copy_context()
        self.parameters = parameters
        self.result = None

    def run(self) -> None:
        self.result = self.context.run(research_flow, **self.parameters)


def wait_for_paused_run(goal: str) -> str:
    """The id of the paused research run for goal, polled for at most WAIT_SECONDS."""
    paused = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    deadline = time.monotonic() + WAIT_SECONDS
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = [
                r
                for r in client.read_flow_runs(flow_run_filter=paused, sort=FlowRunSort.ID_DESC, limit=50)
                if r.parameters.get("goal") == goal
            ]
            if runs:
                return str(runs[0].id)
            time.sleep(0.5)
    raise AssertionError(f"no paused run for {goal!r} within {WAIT_SECONDS}s")


def run_until_decided(corpus: Path, out_dir: Path, cli_args: list[str]) -> tuple[Report, str]:
    """Start a HUMAN_REVIEW run, answer it with `sovereign approve …`, return its report and the CLI output."""
    flow = FlowThread(goal=HELD_GOAL, corpus=str(corpus), out_dir=str(out_dir), approval_timeout_seconds=WAIT_SECONDS)
    flow.start()
    run_id = wait_for_paused_run(HELD_GOAL)
    result = CliRunner().invoke(app, ["approve", run_id, *cli_args])
    assert result.exit_code == 0, result.output
    flow.join(WAIT_SECONDS)
    assert not flow.is_alive() and flow.result is not None
    return Report.model_validate_json(flow.result.json.read_text()), result.output


def test_owner_approves_a_held_draft_through_the_cli(held, tmp_path):
    report, output = run_until_decided(held, tmp_path / "runs", ["--comment", "checked by hand", "--reviewer", "ada"])
    assert "Approved flow run" in output
    assert report.decision.policy is Policy.HUMAN_REVIEW
    review = report.owner_review
    assert review and review.status == "approved" and review.reviewer == "ada" and review.comment == "checked by hand"
    markdown = (tmp_path / "runs" / report.run_id / "report.md").read_text()
    assert "**Approved by the owner**" in markdown and "Approved by ada on" in markdown
    assert "checked by hand" in markdown and "DRAFT" not in markdown


def test_owner_rejection_is_published_with_who_and_why(held, tmp_path):
    report, output = run_until_decided(held, tmp_path / "runs", ["--reject", "--comment", "sources off-topic"])
    assert "Rejected flow run" in output
    assert report.owner_review and report.owner_review.status == "rejected"
    markdown = (tmp_path / "runs" / report.run_id / "report.md").read_text()
    assert "Rejected by the owner" in markdown and "sources off-topic" in markdown


def test_no_decision_within_the_timeout_leaves_a_draft(held, tmp_path):
    published = research_flow(
        goal=HELD_GOAL, corpus=str(held), out_dir=str(tmp_path / "runs"), approval_timeout_seconds=2
    )
    report = Report.model_validate_json(published.json.read_text())
    assert report.owner_review and report.owner_review.status == "timed_out"
    markdown = published.markdown.read_text()
    assert "it stays a draft" in markdown and "DRAFT — owner review required" in markdown


def test_held_run_without_a_timeout_publishes_a_draft_at_once(held, tmp_path):
    published = research_flow(goal=HELD_GOAL, corpus=str(held), out_dir=str(tmp_path / "runs"))
    report = Report.model_validate_json(published.json.read_text())
    assert report.decision.policy is Policy.HUMAN_REVIEW and report.owner_review is None


def test_every_run_attaches_brief_claims_and_tribunal_under_keys_stable_per_goal(tmp_path):
    for _ in range(2):
        research_flow(goal=GOAL, corpus=str(FIXTURE), out_dir=str(tmp_path / "runs"))
    key = goal_key(GOAL)
    keys = [f"brief-{key}", f"claims-{key}", f"tribunal-{key}"]
    body = {"artifacts": {"key": {"any_": keys}}, "sort": "CREATED_DESC", "limit": 50}
    artifacts = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", json=body).raise_for_status().json()
    by_key = {k: [a for a in artifacts if a["key"] == k] for k in keys}
    assert all(len(history) >= 2 for history in by_key.values()), {k: len(v) for k, v in by_key.items()}
    brief, claims, tribunal = (by_key[k][0] for k in keys)
    assert brief["type"] == "markdown" and "## Answer" in brief["data"]
    assert claims["type"] == "table" and json.loads(claims["data"])[0]["label"] in {"VERIFIED", "WEAK", "UNSUPPORTED"}
    assert "AUTO_APPROVE" in tribunal["data"] and "| skeptic |" in tribunal["data"]


def test_artifact_keys_are_lowercase_slugs_with_a_hash():
    key = goal_key("Does LoRA — or QLoRA — help? ÜBER-große Modelle")
    assert re.fullmatch(r"[a-z0-9-]+", key) and key.startswith("does-lora-or-qlora-help-uber")
    assert key == goal_key("Does LoRA — or QLoRA — help? ÜBER-große Modelle") != goal_key("Does LoRA help?")
    assert re.fullmatch(r"[0-9a-f]{8}", goal_key("…?"))


def test_approve_refuses_a_run_that_is_not_paused_in_one_line():
    result = CliRunner().invoke(app, ["approve", "00000000-0000-0000-0000-000000000000"])
    assert result.exit_code == 2 and "no flow run" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["approve", "no-such-run-name"])
    assert result.exit_code == 2 and "no flow run named" in result.output
