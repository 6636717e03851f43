"""Owner approval: a HUMAN_REVIEW run pauses for a typed decision from the Prefect UI or `sovereign approve`."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput
from pydantic import Field

from tasks.models import Decision, OwnerReview

PAUSE_KEY = "owner-review"


class OwnerDecision(RunInput):
    """The form a paused HUMAN_REVIEW run shows in the Prefect UI."""

    decision: Literal["approve", "reject"] = Field(description="Approve the draft as the brief, or reject it.")
    comment: str = Field("", description="Why; it is published with the brief.")
    reviewer: str = Field("owner", description="Who decides; it is published with the brief.")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def review_prompt(goal: str, decision: Decision) -> str:
    """Markdown the UI shows above the form: what is held and why."""
    held = dict.fromkeys([*decision.failed_gates, *decision.reasons])  # a failed gate is often a reason too
    reasons = "\n".join(f"- {reason}" for reason in held) or "- (none given)"
    return (
        f"**Owner review** of the brief for: {goal}\n\n"
        f"Tribunal score {decision.score:.1f}/10, policy {decision.policy.value}. Held because:\n\n{reasons}"
    )


def request_owner_review(prompt: str, timeout_seconds: int, poll_seconds: int) -> OwnerReview:
    """Pause the flow run until the owner decides; past the timeout the brief stays a draft."""
    form = OwnerDecision.with_initial_data(description=prompt, reviewer="owner")
    try:
        answer = pause_flow_run(wait_for_input=form, timeout=timeout_seconds, poll_interval=poll_seconds, key=PAUSE_KEY)
    except FlowPauseTimeout:
        return OwnerReview(status="timed_out", decided_at=_now())
    status = "approved" if answer.decision == "approve" else "rejected"
    return OwnerReview(status=status, reviewer=answer.reviewer, comment=answer.comment, decided_at=_now())


def find_flow_run(id_or_name: str) -> UUID:
    """The flow run id for an id or a run name as the UI shows it (e.g. `clever-fox`)."""
    try:
        return UUID(id_or_name)
    except ValueError:
        pass
    with get_client(sync_client=True) as client:
        named = FlowRunFilter(name=FlowRunFilterName(any_=[id_or_name]))
        runs = client.read_flow_runs(flow_run_filter=named, limit=2)
    if len(runs) != 1:
        raise LookupError(f"{'no' if not runs else 'more than one'} flow run named {id_or_name!r}: give its id")
    return runs[0].id


def submit_owner_decision(flow_run_id: UUID, approve: bool, comment: str = "", reviewer: str | None = None) -> None:
    """Resume a paused HUMAN_REVIEW run with the owner's decision, as the UI form does."""
    resume_flow_run(
        flow_run_id,
        run_input={
            "decision": "approve" if approve else "reject",
            "comment": comment,
            "reviewer": reviewer or getpass.getuser(),
        },
    )
