"""decide_policy: computed hard gates first, then the tribunal's score against the thresholds."""

from __future__ import annotations

from prefect import task

from tasks.common import STAGE_CACHE
from tasks.models import Decision, Draft, Label, Policy, TribunalResult
from tasks.progress import STAGE_HOOKS
from tasks.settings import TribunalSettings


def hard_gates(draft: Draft, relevance_threshold: float) -> list[str]:
    """Gates no score can override: they are computed from the draft, never asked of a model."""
    failed = []
    claims = {c.id: c for c in draft.claims}
    if not draft.answered or not any(c.label is Label.VERIFIED for c in draft.claims):
        failed.append("no verified evidence for the goal")
    cited_papers = {c.paper_id for c in draft.citations}
    relevance = {p.paper.id: p.relevance for p in draft.papers}
    off_topic = [pid for pid in cited_papers if relevance.get(pid, 0.0) < relevance_threshold]
    if off_topic:
        failed.append(f"answer cites off-topic sources: {', '.join(sorted(off_topic))}")
    unverified = [
        c.claim_id
        for c in draft.citations
        if claims.get(c.claim_id) is None or claims[c.claim_id].label is not Label.VERIFIED
    ]
    if unverified:
        failed.append(f"answer cites unverified claims: {', '.join(sorted(set(unverified)))}")
    return failed


@task(name="decide_policy", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def decide_policy(
    draft: Draft, tribunal: TribunalResult, settings: TribunalSettings, relevance_threshold: float
) -> Decision:
    """AUTO_APPROVE, SOFT_APPROVE, HUMAN_REVIEW or REJECT, with the reasons."""
    failed = hard_gates(draft, relevance_threshold)
    score = tribunal.score
    if failed:
        policy, reason = Policy.HUMAN_REVIEW, "a hard gate failed; the owner must review"
    elif score >= settings.approve_threshold:
        policy, reason = Policy.AUTO_APPROVE, f"score {score:.2f} ≥ {settings.approve_threshold}"
    elif score >= settings.reject_floor:
        policy, reason = (
            Policy.SOFT_APPROVE,
            (f"score {score:.2f} < {settings.approve_threshold} after {tribunal.round} revision round(s)"),
        )
    else:
        policy, reason = Policy.REJECT, f"score {score:.2f} below the floor {settings.reject_floor}"
    return Decision(policy=policy, score=score, failed_gates=failed, reasons=[reason, *failed])
