"""review: one reviewer role scores the draft from its evidence; the flow maps it over three roles."""

from __future__ import annotations

from statistics import mean

from prefect import task
from pydantic import BaseModel

from tasks import prompts
from tasks.common import STAGE_CACHE
from tasks.llm import ChatModel, ask
from tasks.models import Draft, Finding, FindingKind, IssueKind, Label, Review, TribunalResult
from tasks.progress import STAGE_HOOKS
from tasks.settings import TribunalSettings


class Evidence(BaseModel):
    """What the reviewers measure, each 0..1."""

    coverage: float
    verified_share: float
    diversity: float
    relevance: float
    support: float
    answered: float


class Role(BaseModel):
    """A reviewer: what it weighs and which problems it reports."""

    name: str
    focus: str
    weights: dict[str, float]
    reports: frozenset[FindingKind]


ROLES: dict[str, Role] = {
    r.name: r
    for r in [
        Role(
            name="skeptic",
            focus="Are the claims supported by their sources, and by more than one source?",
            weights={"verified_share": 0.45, "support": 0.3, "diversity": 0.25},
            reports=frozenset(
                {
                    FindingKind.UNSUPPORTED_CLAIM,
                    FindingKind.WEAK_CLAIM,
                    FindingKind.UNSUPPORTED_NUMBER,
                    FindingKind.SINGLE_SOURCE,
                }
            ),
        ),
        Role(
            name="validator",
            focus="Do the sources address the goal, and is the evidence strong?",
            weights={"relevance": 0.5, "verified_share": 0.3, "support": 0.2},
            reports=frozenset({FindingKind.OFF_TOPIC_SOURCE, FindingKind.NO_EVIDENCE}),
        ),
        Role(
            name="synthesizer",
            focus="Does the answer cover every aspect of the goal?",
            weights={"coverage": 0.6, "diversity": 0.2, "answered": 0.2},
            reports=frozenset({FindingKind.MISSING_ASPECT, FindingKind.NO_EVIDENCE}),
        ),
    ]
}


def measure(draft: Draft) -> Evidence:
    """Coverage, verification strength, relevance and diversity of the draft's evidence."""
    verified = [c for c in draft.claims if c.label is Label.VERIFIED]
    covered = {a for c in verified for a in c.aspects}
    backing = {c.paper_id for c in verified}
    relevances = [p.relevance for p in draft.papers if p.paper.id in backing] or [0.0]
    return Evidence(
        coverage=len(covered & set(draft.plan.aspects)) / max(1, len(draft.plan.aspects)),
        verified_share=len(verified) / len(draft.claims) if draft.claims else 0.0,
        diversity=min(1.0, len(backing) / 3),
        relevance=min(1.0, mean(relevances) / 0.8),
        support=mean(c.confidence for c in verified) if verified else 0.0,
        answered=1.0 if draft.answered else 0.0,
    )


def find_problems(draft: Draft, settings: TribunalSettings) -> list[Finding]:
    """Every typed, actionable problem in the draft."""
    verified = [c for c in draft.claims if c.label is Label.VERIFIED]
    backing = {c.paper_id for c in verified}
    findings: list[Finding] = []
    if not verified:
        findings.append(Finding(kind=FindingKind.NO_EVIDENCE, detail="no verified claim addresses the goal"))
    covered = {a for c in verified for a in c.aspects}
    for aspect in draft.plan.aspects:
        if aspect not in covered:
            findings.append(
                Finding(kind=FindingKind.MISSING_ASPECT, aspect=aspect, detail=f"no verified claim on '{aspect}'")
            )
    for claim in draft.claims:
        if any(i.kind is IssueKind.NUMBER for i in claim.issues):
            kind = FindingKind.UNSUPPORTED_NUMBER
        elif claim.label is Label.UNSUPPORTED:
            kind = FindingKind.UNSUPPORTED_CLAIM
        elif claim.label is Label.WEAK:
            kind = FindingKind.WEAK_CLAIM
        else:
            continue
        detail = "; ".join(map(str, claim.issues)) or f"support {claim.support:.2f} from its source"
        findings.append(Finding(kind=kind, claim_id=claim.id, paper_id=claim.paper_id, detail=detail))
    if len(backing) == 1:
        findings.append(
            Finding(
                kind=FindingKind.SINGLE_SOURCE,
                paper_id=next(iter(backing)),
                detail="every verified claim comes from one paper",
            )
        )
    for ranked in draft.papers:
        if ranked.relevance < settings.off_topic_below and ranked.paper.id not in backing:
            findings.append(
                Finding(
                    kind=FindingKind.OFF_TOPIC_SOURCE,
                    paper_id=ranked.paper.id,
                    detail=f"relevance {ranked.relevance:.2f} and no verified claim",
                )
            )
    return findings


@task(name="review", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def review(draft: Draft, role: str, settings: TribunalSettings, chat: ChatModel | None = None) -> Review:
    """One role's score (0-10) and findings, computed from the draft's evidence; a chat model may add to them."""
    spec = ROLES[role]
    evidence = measure(draft).model_dump()
    score = 10 * sum(weight * evidence[name] for name, weight in spec.weights.items())
    findings = [f for f in find_problems(draft, settings) if f.kind in spec.reports]
    rationale = spec.focus + " " + ", ".join(f"{name} {evidence[name]:.2f}" for name in spec.weights)
    computed = Review(role=role, score=round(min(10.0, score), 2), findings=findings, rationale=rationale)
    return computed if chat is None else model_review(computed, draft, spec, evidence, chat)


def draft_digest(draft: Draft) -> str:
    """The draft as the reviewers read it: answer, claims with their labels and evidence, papers, aspects."""
    claims = [
        f"claim {c.id} ({c.label.value}, support {c.support:.2f}, paper {c.paper_id}): {c.text} | "
        f"evidence: {c.evidence}"
        for c in draft.claims
    ]
    papers = [f"paper {p.paper.id} (relevance {p.relevance:.2f}): {p.paper.title}" for p in draft.papers]
    aspects = f"Goal aspects: {'; '.join(draft.plan.aspects)}"
    return "\n".join([aspects, f"Answer:\n{draft.answer}", "Claims:", *claims, "Papers:", *papers])


def model_review(computed: Review, draft: Draft, spec: Role, evidence: dict[str, float], chat: ChatModel) -> Review:
    """The model's grounded findings added to the computed ones; its score may lower the computed one, never raise it.

    The model reads text retrieved from papers, which may try to talk it into a high score; so it can only make the
    verdict stricter, and the policy's hard gates are computed regardless.
    """
    messages = prompts.review_messages(spec.name, spec.focus, evidence, draft_digest(draft))
    reply = ask(chat, messages, prompts.ReviewReply, "review")
    claims, papers = {c.id for c in draft.claims}, {p.paper.id for p in draft.papers}
    seen = {(f.kind, f.claim_id, f.paper_id, f.aspect) for f in computed.findings}
    added = []
    for item in reply.findings:
        finding = Finding(**item.model_dump())
        grounded = finding.claim_id in claims or finding.paper_id in papers or finding.aspect in draft.plan.aspects
        key = (finding.kind, finding.claim_id, finding.paper_id, finding.aspect)
        if finding.kind in spec.reports and grounded and key not in seen:
            seen.add(key)
            added.append(finding)
    return computed.model_copy(
        update={
            "score": round(min(computed.score, reply.score), 2),
            "findings": [*computed.findings, *added],
            "rationale": f"{computed.rationale}. Model: {' '.join(reply.rationale.split())}".strip(),
        }
    )


def aggregate(reviews: list[Review], round_: int) -> TribunalResult:
    """The tribunal's score: the mean of the roles' scores, each kept."""
    return TribunalResult(score=round(mean(r.score for r in reviews), 2), reviews=reviews, round=round_)
