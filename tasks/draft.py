"""compose_draft: the Answer section from verified claims only, with numbered citations."""

from __future__ import annotations

import re

from prefect import task

from tasks import prompts
from tasks.common import STAGE_CACHE
from tasks.llm import ChatModel, ask
from tasks.models import Citation, Claim, Draft, Label, Plan, RankedPaper
from tasks.plan import is_quantity
from tasks.progress import STAGE_HOOKS

# The answer stays readable: the strongest few claims per aspect; every claim is still listed in the brief.
CLAIMS_PER_ASPECT = 4


def _first_author(ranked: RankedPaper) -> str:
    authors = ranked.paper.authors
    if not authors:
        return ranked.paper.id
    surname = authors[0].split()[-1] if authors[0].split() else authors[0]
    return f"{surname} et al." if len(authors) > 1 else surname


def _no_answer(plan: Plan, kept: list[RankedPaper], considered: int, claims: list[Claim]) -> str:
    aspects = "; ".join(plan.aspects)
    if not kept:
        return (
            f"The retrieved literature does not answer this question. {considered} candidate papers were "
            f"retrieved, but none passed the relevance gate: none addresses {aspects}. "
            "Search a corpus that covers the topic, or rephrase the goal."
        )
    return (
        f"The retrieved literature does not answer this question with verifiable findings: {len(kept)} "
        f"relevant papers were kept and {len(claims)} claims extracted, but none could be verified against "
        "its source. Treat the papers in References as leads, not as an answer."
    )


@task(name="compose_draft", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def compose_draft(
    plan: Plan,
    ranked: list[RankedPaper],
    claims: list[Claim],
    revision_round: int = 0,
    revision_notes: list[str] | None = None,
    chat: ChatModel | None = None,
) -> Draft:
    """A draft whose answer cites only VERIFIED claims, grouped by the goal aspect they address."""
    kept = [r for r in ranked if r.kept]
    by_id = {r.paper.id: r for r in kept}
    verified = sorted(
        (c for c in claims if c.label is Label.VERIFIED and c.paper_id in by_id),
        key=lambda c: -c.confidence * by_id[c.paper_id].relevance,
    )
    numbers: dict[str, int] = {}
    citations: list[Citation] = []

    def cite(claim: Claim) -> str:
        number = numbers.setdefault(claim.paper_id, len(numbers) + 1)
        citations.append(Citation(claim_id=claim.id, paper_id=claim.paper_id, number=number))
        return f"{_first_author(by_id[claim.paper_id])} [{number}]: “{claim.text}”"

    paragraphs: list[str] = []
    used: set[str] = set()
    uncovered = []
    # Specific aspects first, so a claim lands under the entity it is about rather than under "trade-offs".
    for aspect in sorted(plan.aspects, key=is_quantity):
        if not any(aspect in c.aspects for c in verified):
            uncovered.append(aspect)
            continue
        backing = [c for c in verified if aspect in c.aspects and c.id not in used][:CLAIMS_PER_ASPECT]
        if backing:
            used.update(c.id for c in backing)
            paragraphs.append(f"On {aspect}:\n" + "\n".join(f"- {cite(c)}" for c in backing))
    rest = [c for c in verified if c.id not in used][:CLAIMS_PER_ASPECT]
    if rest:
        paragraphs.append("Further findings:\n" + "\n".join(f"- {cite(c)}" for c in rest))

    if verified:
        lead = (
            f"{len(verified)} verified findings from {len({c.paper_id for c in verified})} of the {len(kept)} "
            "relevant papers bear on the question; the strongest are quoted below, each from its source."
        )
        if uncovered:
            paragraphs.append("The retrieved literature does not address: " + "; ".join(uncovered) + ".")
        if chat is not None:
            cited = {c.id: c for c in verified}
            findings = [(x.number, x.paper_id, cited[x.claim_id].text) for x in citations]
            lead = f"{model_summary(plan.goal, findings, chat)}\n\n{lead}"
        answer = "\n\n".join([lead, *paragraphs])
    else:
        answer = _no_answer(plan, kept, len(ranked), claims)
    return Draft(
        goal=plan.goal,
        plan=plan,
        papers=kept,
        candidates_considered=len(ranked),
        claims=claims,
        answer=answer,
        citations=citations,
        answered=bool(verified),
        revision_round=revision_round,
        revision_notes=revision_notes or [],
    )


def model_summary(goal: str, findings: list[tuple[int, str, str]], chat: ChatModel) -> str:
    """The model's synthesis of the cited findings; it may cite only their reference numbers."""
    allowed = {number for number, _, _ in findings}

    def check(reply: prompts.AnswerReply) -> str | None:
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", reply.summary)}
        if not cited:
            return "the summary cites no finding; cite the findings you use as [n]"
        unknown = sorted(cited - allowed)
        return f"the summary cites {unknown}, which are not among the findings {sorted(allowed)}" if unknown else None

    reply = ask(chat, prompts.answer_messages(goal, findings), prompts.AnswerReply, "compose_draft", check=check)
    return " ".join(reply.summary.split())
