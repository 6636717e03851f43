"""compose_draft: the Answer section from verified claims only, with numbered citations."""

from __future__ import annotations

import re

from prefect import task

from tasks.backends import prompts
from tasks.backends.llm import ChatModel, ask
from tasks.common import STAGE_CACHE
from tasks.compare import evidence_table
from tasks.coverage import aspect_verdicts
from tasks.index.text import normalize_space, sentence_texts
from tasks.io.latex import plain_text
from tasks.models import AspectKind, AspectTable, AspectVerdict, Citation, Claim, Draft, Label, Paper, Plan, RankedPaper
from tasks.progress import STAGE_HOOKS
from tasks.settings import VerifySettings
from tasks.verify import verify_one

# The answer stays readable: the strongest few claims per aspect; every claim is still listed in the brief.
CLAIMS_PER_ASPECT = 4
# An aspect's evidence table lists at most this many of its claims, strongest first.
TABLE_ROWS = 8
# How the verdict names each kind of aspect.
KIND_LABELS = {
    AspectKind.ENTITY: "the method or entity asked about",
    AspectKind.QUANTITY: "what is measured",
    AspectKind.COMPARISON: "what it is compared with",
    AspectKind.SETTING: "setting",
    AspectKind.TOPIC: "",
}
# Specific aspects first, so a claim is quoted under the entity it is about rather than under "trade-offs".
KIND_ORDER = [AspectKind.ENTITY, AspectKind.TOPIC, AspectKind.COMPARISON, AspectKind.SETTING, AspectKind.QUANTITY]


def _first_author(ranked: RankedPaper) -> str:
    paper = ranked.paper
    if not paper.first_surname:
        return paper.id
    several = len(paper.author_names) > 1 or paper.unnamed_authors
    return f"{paper.first_surname} et al." if several else paper.first_surname


def _no_answer(plan: Plan, kept: list[RankedPaper], considered: int, claims: list[Claim]) -> str:
    aspects = "; ".join(plan.aspect_texts)
    if not kept:
        return (
            f"The retrieved literature does not answer this question. {considered} candidate papers were "
            f"retrieved, but none passed the relevance gate: none addresses {aspects}. "
            "Search a corpus that covers the topic, or rephrase the goal."
        )
    return (
        f"The retrieved literature does not answer this question with verifiable findings: {len(kept)} "
        f"relevant papers were kept and {len(claims)} claims extracted, but no verified finding addresses "
        f"{aspects}. Treat the papers in References as leads, not as an answer."
    )


def verdict_line(verdict: AspectVerdict, numbers: dict[str, int]) -> str:
    label = KIND_LABELS[verdict.aspect.kind]
    name = f"{verdict.aspect.text} ({label})" if label else verdict.aspect.text
    if not verdict.addressed and verdict.unpaired_paper_ids and verdict.aspect.kind is AspectKind.COMPARISON:
        return f"- {name}: no retrieved paper compares it with the entity asked about (papers on it alone do not count)"
    if not verdict.addressed and verdict.unpaired_paper_ids:
        return f"- {name}: addressed only by papers not on the entity asked about"
    if not verdict.addressed:
        return f"- {name}: not addressed by the retrieved literature"
    cited = "".join(f"[{n}]" for n in sorted({numbers[pid] for pid in verdict.paper_ids}))
    if not verdict.independent_papers:
        return f"- {name}: only what {cited} propose or study addresses it, no finding"
    return f"- {name}: addressed by {cited}"


@task(name="compose_draft", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def compose_draft(
    plan: Plan,
    ranked: list[RankedPaper],
    claims: list[Claim],
    revision_round: int = 0,
    revision_notes: list[str] | None = None,
    chat: ChatModel | None = None,
    verify_settings: VerifySettings | None = None,
) -> Draft:
    """A draft that opens with a per-aspect verdict and quotes the VERIFIED claims that address each aspect."""
    kept = [r for r in ranked if r.kept]
    by_id = {r.paper.id: r for r in kept}
    strength = {c.id: c.confidence * by_id[c.paper_id].relevance for c in claims if c.paper_id in by_id}
    coverage = aspect_verdicts(plan, claims, kept)
    verified = {c.id: c for c in claims if c.id in strength and c.label is Label.VERIFIED}
    ordered = sorted(coverage, key=lambda v: KIND_ORDER.index(v.aspect.kind))
    strongest = {v.aspect.text: sorted(v.claim_ids, key=lambda i: -strength[i]) for v in ordered}
    numbers: dict[str, int] = {}
    citations: list[Citation] = []
    for claim_id in dict.fromkeys(i for v in ordered for i in strongest[v.aspect.text]):
        paper_id = verified[claim_id].paper_id
        number = numbers.setdefault(paper_id, len(numbers) + 1)
        citations.append(Citation(claim_id=claim_id, paper_id=paper_id, number=number))

    paragraphs: list[str] = []
    quoted: set[str] = set()
    papers = {pid: r.paper for pid, r in by_id.items()}
    tables: list[AspectTable] = []
    table_of: dict[tuple[str, ...], AspectTable] = {}  # the rows' claim ids → the table that already holds them

    def quote_lines(quotes: list[Claim]) -> str:
        quoted.update(c.id for c in quotes)
        return "\n".join(
            f"- {_first_author(by_id[c.paper_id])} [{numbers[c.paper_id]}]: “{plain_text(c.text)}”" for c in quotes
        )

    for verdict in ordered:
        aspect = verdict.aspect.text
        # what a paper proposes is quoted as such: it is neither a row of the evidence table nor a finding
        found = [verified[i] for i in strongest[aspect] if not verified[i].contribution]
        proposed = [verified[i] for i in strongest[aspect] if verified[i].contribution and i not in quoted]
        backing = found[:TABLE_ROWS]
        if backing:
            rows = tuple(c.id for c in backing)
            earlier = table_of.get(rows)
            if earlier:  # the same findings again: say so once instead of repeating the table and its sentences
                earlier.also.append(aspect)
                cites = "".join(f"[{n}]" for n in sorted({r.number for r in earlier.rows}))
                composed = f"The {len(rows)} findings counted on {earlier.aspect} address this aspect too {cites}."
            else:
                table_of[rows] = evidence_table(aspect, backing, numbers, plan, papers)
                tables.append(table_of[rows])
                composed = " ".join(tables[-1].sentences)
            quotes = [c for c in found if c.id not in quoted][:CLAIMS_PER_ASPECT]
            if quotes:
                paragraphs.append(f"On {aspect}: {composed} The findings:\n{quote_lines(quotes)}")
        if proposed:
            lines = quote_lines(proposed[:CLAIMS_PER_ASPECT])
            paragraphs.append(f"On {aspect}, what the papers propose or study (not findings):\n{lines}")

    # a goal is answered by what was found: a statement of what a paper proposes addresses an aspect, answers nothing
    findings = {claim_id for claim_id, claim in verified.items() if not claim.contribution}
    answered = any(findings & set(v.claim_ids) for v in coverage)
    removed: list[str] = []
    if answered:
        addressed = sum(v.addressed for v in coverage)
        verdicts = "\n".join(verdict_line(v, numbers) for v in coverage)
        lead = (
            f"Verified evidence from {len(numbers)} of the {len(kept)} relevant papers addresses {addressed} of the "
            f"{len(coverage)} aspects of the question. Per aspect, the sentences below are composed from its evidence "
            "table (paper, method, setting, reported value, direction), and the strongest findings are quoted, each "
            "from its source."
        )
        if chat is not None:
            findings = [(x.number, x.paper_id, verified[x.claim_id].text) for x in citations]
            summary, removed = checked_summary(
                model_summary(plan.goal, findings, chat), findings, verify_settings or VerifySettings()
            )
            lead = f"{summary}\n\n{lead}" if summary else lead
        answer = "\n\n".join([f"Aspects of the question:\n{verdicts}", lead, *paragraphs])
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
        answered=answered,
        coverage=coverage,
        tables=tables if answered else [],
        summary_removed=removed,
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


def summary_sentence_supported(sentence: str, cited: list[str], settings: VerifySettings) -> bool:
    """Whether the findings a summary sentence cites support it, by the same check as a claim against its source."""
    bare = normalize_space(re.sub(r"\s*\[\d+\]", "", sentence))
    claim = Claim(id="summary", text=bare, paper_id="cited", source_sentence="", start=0, end=0)
    return verify_one(claim, Paper(id="cited", title="", abstract=" ".join(cited)), settings).label is Label.VERIFIED


def checked_summary(
    summary: str, findings: list[tuple[int, str, str]], settings: VerifySettings
) -> tuple[str, list[str]]:
    """The summary without the sentences that the findings they cite do not support, and those removed."""
    by_number: dict[int, list[str]] = {}
    for number, _, text in findings:
        by_number.setdefault(number, []).append(text)
    kept, removed = [], []
    for sentence in sentence_texts(summary):
        cited = [
            t for n in dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", sentence)) for t in by_number.get(n, [])
        ]
        supported = bool(cited) and summary_sentence_supported(sentence, cited, settings)
        (kept if supported else removed).append(sentence)
    return " ".join(kept), removed
