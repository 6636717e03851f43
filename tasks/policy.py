"""decide_policy: computed gates on the goal's aspects first, then the tribunal's score against the thresholds."""

from __future__ import annotations

from prefect import task

from tasks.common import STAGE_CACHE
from tasks.models import AspectKind, Decision, Draft, Policy, TribunalResult
from tasks.progress import STAGE_HOOKS
from tasks.settings import TribunalSettings
from tasks.tribunal import REQUIRED_KINDS


def hard_gates(draft: Draft, settings: TribunalSettings) -> list[str]:
    """Gates no score can override: computed from the draft's evidence, never asked of a model."""
    failed = []
    if not draft.answered:
        failed.append("no verified finding addresses the goal")
    for verdict in draft.coverage:
        if verdict.aspect.kind is AspectKind.ENTITY and not verdict.addressed:
            failed.append(f"the central entity '{verdict.aspect.text}' is not addressed by verified evidence")
    addressed = sum(v.addressed for v in draft.coverage)
    if draft.coverage and addressed < settings.min_addressed_share * len(draft.coverage):
        failed.append(
            f"verified evidence addresses only {addressed} of the goal's {len(draft.coverage)} aspects: the retrieved "
            "literature is off the question"
        )
    return failed


def unmet_aspects(draft: Draft, settings: TribunalSettings) -> list[str]:
    """Why the answer is incomplete: aspects not addressed, and required ones resting on too few papers."""
    unmet = []
    for verdict in draft.coverage:
        if not verdict.addressed and verdict.unpaired_paper_ids and verdict.aspect.kind is AspectKind.COMPARISON:
            unmet.append(f"no retrieved paper compares '{verdict.aspect.text}' with the entity asked about")
        elif not verdict.addressed and verdict.unpaired_paper_ids:
            unmet.append(f"only papers not on the entity asked about address '{verdict.aspect.text}'")
        elif not verdict.addressed:
            unmet.append(f"not addressed by the retrieved literature: '{verdict.aspect.text}'")
        elif not verdict.independent_papers:
            unmet.append(f"no finding addresses '{verdict.aspect.text}', only what papers propose or study")
        elif verdict.aspect.kind in REQUIRED_KINDS and verdict.independent_papers < settings.min_independent_papers:
            unmet.append(
                f"'{verdict.aspect.text}' rests on {verdict.independent_papers} independent paper(s), "
                f"fewer than {settings.min_independent_papers}"
            )
    return unmet


def revision_setback(
    before: Draft, before_score: float, after: Draft, after_score: float, settings: TribunalSettings
) -> str:
    """How a revised draft answers less than the one it revises ("" when it does not): more failed gates, then fewer
    aspects addressed, then more aspect problems, then a score lower by more than the margin. A follow-up search's
    papers are ranked with the rest and can push out the one paper that measured an aspect."""
    measures = [
        ("hard gate(s) failed", lambda d: -len(hard_gates(d, settings))),
        ("aspect(s) addressed", lambda d: sum(v.addressed for v in d.coverage)),
        ("aspect problem(s) left", lambda d: -len(unmet_aspects(d, settings))),
    ]
    for name, standing in measures:
        if standing(after) != standing(before):
            if standing(after) > standing(before):
                return ""
            return f"{abs(standing(after))} {name}, against {abs(standing(before))} before it"
    lower = after_score < before_score - settings.setback_margin
    return f"scored {after_score:.2f}, against {before_score:.2f} before it" if lower else ""


@task(name="decide_policy", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def decide_policy(draft: Draft, tribunal: TribunalResult, settings: TribunalSettings) -> Decision:
    """AUTO_APPROVE, SOFT_APPROVE, HUMAN_REVIEW or REJECT, with the reasons."""
    score = tribunal.score
    if not draft.papers:
        reason = f"none of the {draft.candidates_considered} candidate papers is on-topic"
        return Decision(policy=Policy.REJECT, score=score, failed_gates=[reason], reasons=[reason])
    failed = hard_gates(draft, settings)
    unmet = unmet_aspects(draft, settings)
    if failed:
        policy, reason = Policy.HUMAN_REVIEW, "a hard gate failed; the owner must review"
    elif score >= settings.approve_threshold and not unmet:
        policy, reason = Policy.AUTO_APPROVE, f"score {score:.2f} ≥ {settings.approve_threshold}"
    elif score >= settings.reject_floor:
        policy = Policy.SOFT_APPROVE
        reason = (
            f"score {score:.2f} ≥ {settings.approve_threshold}, but {len(unmet)} aspect problem(s) keep it a draft"
            if score >= settings.approve_threshold
            else f"score {score:.2f} < {settings.approve_threshold} after {tribunal.round} revision round(s)"
        )
    else:
        policy, reason = Policy.REJECT, f"score {score:.2f} below the floor {settings.reject_floor}"
    return Decision(policy=policy, score=score, failed_gates=failed, reasons=[reason, *failed, *unmet])
