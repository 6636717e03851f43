"""review: one reviewer role scores the draft from its evidence; the flow maps it over three roles."""

from __future__ import annotations

from statistics import mean

from prefect import task
from pydantic import BaseModel

from tasks.backends import prompts
from tasks.backends.llm import ChatModel, ask
from tasks.common import STAGE_CACHE
from tasks.models import AspectKind, Draft, Finding, FindingKind, IssueKind, Label, Review, TribunalResult
from tasks.progress import STAGE_HOOKS
from tasks.settings import TribunalSettings


class Evidence(BaseModel):
    """What the reviewers measure, each 0..1."""

    coverage: float
    corroboration: float
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
            weights={"verified_share": 0.3, "support": 0.2, "corroboration": 0.3, "diversity": 0.2},
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
            weights={"relevance": 0.4, "corroboration": 0.3, "support": 0.3},
            reports=frozenset({FindingKind.OFF_TOPIC_SOURCE, FindingKind.NO_EVIDENCE}),
        ),
        Role(
            name="synthesizer",
            focus="Does the answer cover every aspect of the goal?",
            weights={"coverage": 0.7, "diversity": 0.2, "answered": 0.1},
            reports=frozenset({FindingKind.MISSING_ASPECT, FindingKind.NO_EVIDENCE}),
        ),
    ]
}
# The aspects an approved answer must have from at least two independent papers.
REQUIRED_KINDS = (AspectKind.ENTITY, AspectKind.QUANTITY)


def measure(draft: Draft, settings: TribunalSettings) -> Evidence:
    """Aspect coverage and corroboration, verification strength, relevance and diversity of the draft's evidence."""
    verified = [c for c in draft.claims if c.label is Label.VERIFIED]
    backing = {pid for v in draft.coverage for pid in v.paper_ids}
    relevances = [p.relevance for p in draft.papers if p.paper.id in backing] or [0.0]
    weights = [settings.aspect_weights[v.aspect.kind] for v in draft.coverage]
    addressed = [w * v.addressed for w, v in zip(weights, draft.coverage)]
    required = [v for v in draft.coverage if v.aspect.kind in REQUIRED_KINDS] or draft.coverage
    corroborated = [min(1.0, v.independent_papers / settings.min_independent_papers) for v in required]
    return Evidence(
        coverage=sum(addressed) / sum(weights) if sum(weights) else 0.0,
        corroboration=mean(corroborated) if corroborated else 0.0,
        verified_share=len(verified) / len(draft.claims) if draft.claims else 0.0,
        diversity=min(1.0, len(backing) / 3),
        relevance=min(1.0, mean(relevances) / 0.8),
        support=mean(c.confidence for c in verified) if verified else 0.0,
        answered=1.0 if draft.answered else 0.0,
    )


def find_problems(draft: Draft, settings: TribunalSettings) -> list[Finding]:
    """Every typed, actionable problem in the draft."""
    backing = {pid for v in draft.coverage for pid in v.paper_ids}
    findings: list[Finding] = []
    if not draft.answered:
        findings.append(Finding(kind=FindingKind.NO_EVIDENCE, detail="no verified finding addresses the goal"))
    for verdict in draft.coverage:
        aspect = verdict.aspect.text
        if not verdict.addressed:
            findings.append(
                Finding(kind=FindingKind.MISSING_ASPECT, aspect=aspect, detail=f"no verified claim on '{aspect}'")
            )
        elif not verdict.independent_papers:  # what papers propose on it, but no finding: search for one
            findings.append(
                Finding(
                    kind=FindingKind.MISSING_ASPECT, aspect=aspect, detail=f"no finding on '{aspect}', only proposals"
                )
            )
        elif verdict.aspect.kind in REQUIRED_KINDS and verdict.independent_papers < settings.min_independent_papers:
            findings.append(
                Finding(
                    kind=FindingKind.SINGLE_SOURCE,
                    aspect=aspect,
                    paper_id=verdict.paper_ids[0],
                    detail=f"'{aspect}' rests on {verdict.independent_papers} independent paper(s)",
                )
            )
    for claim in draft.claims:
        if any(i.kind is IssueKind.NUMBER for i in claim.issues):
            kind = FindingKind.UNSUPPORTED_NUMBER
        elif claim.label in (Label.UNSUPPORTED, Label.CONTRADICTED):
            kind = FindingKind.UNSUPPORTED_CLAIM
        elif claim.label is Label.WEAK:
            kind = FindingKind.WEAK_CLAIM
        else:
            continue
        detail = "; ".join(map(str, claim.issues)) or f"support {claim.support:.2f} from its source"
        findings.append(Finding(kind=kind, claim_id=claim.id, paper_id=claim.paper_id, detail=detail))
    for ranked in draft.papers:
        if ranked.relevance < settings.off_topic_below and ranked.paper.id not in backing:
            findings.append(
                Finding(
                    kind=FindingKind.OFF_TOPIC_SOURCE,
                    paper_id=ranked.paper.id,
                    detail=f"relevance {ranked.relevance:.2f} and no verified claim on an aspect of the goal",
                )
            )
    return findings


@task(name="review", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def review(draft: Draft, role: str, settings: TribunalSettings, chat: ChatModel | None = None) -> Review:
    """One role's score (0-10) and findings, computed from the draft's evidence; a chat model may add to them."""
    spec = ROLES[role]
    evidence = measure(draft, settings).model_dump()
    findings = [f for f in find_problems(draft, settings) if f.kind in spec.reports]
    penalty = sum(settings.finding_penalties.get(f.kind, 0.0) for f in findings)
    score = 10 * sum(weight * evidence[name] for name, weight in spec.weights.items()) - penalty
    rationale = (
        f"{spec.focus} {', '.join(f'{name} {evidence[name]:.2f}' for name in spec.weights)}; "
        f"{len(findings)} finding(s) −{penalty:.2f}"
    )
    computed = Review(role=role, score=round(min(10.0, max(0.0, score)), 2), findings=findings, rationale=rationale)
    return computed if chat is None else model_review(computed, draft, spec, evidence, chat)


def draft_digest(draft: Draft) -> str:
    """The draft as the reviewers read it: answer, claims with their labels and evidence, papers, aspects."""
    claims = [
        f"claim {c.id} ({c.label.value}, support {c.support:.2f}, paper {c.paper_id}): {c.text} | "
        f"evidence: {c.evidence}"
        for c in draft.claims
    ]
    papers = [f"paper {p.paper.id} (relevance {p.relevance:.2f}): {p.paper.title}" for p in draft.papers]
    aspects = f"Goal aspects: {'; '.join(draft.plan.aspect_texts)}"
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
        grounded = finding.claim_id in claims or finding.paper_id in papers or finding.aspect in draft.plan.aspect_texts
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
