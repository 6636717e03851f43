"""research_flow: a goal in, a reviewed and cited brief out; the only place with control flow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger, unmapped
from prefect.runtime import flow_run
from slugify import slugify

from tasks.approval import request_owner_review, review_prompt
from tasks.artifacts import record_artifacts
from tasks.aspect_support import check_aspects
from tasks.backends.factory import open_chat, open_embedder, open_source
from tasks.backends.llm import ChatModel, publish_usage_artifact, take_usage
from tasks.corroborate import corroborate
from tasks.draft import compose_draft
from tasks.embed import embed
from tasks.extract import extract_claims
from tasks.models import (
    Draft,
    EmbeddingSet,
    Policy,
    Report,
    RevisionPlan,
    SearchResult,
    TribunalResult,
)
from tasks.plan import clean_goal
from tasks.policy import decide_policy, hard_gates, revision_setback, unmet_aspects
from tasks.progress import StageClock, stage_clock
from tasks.publish import PublishedBrief, publish
from tasks.retrieve import FLOW_STAGES, Retrieval, rank_again, retrieve, run_searches
from tasks.revise import revise
from tasks.settings import RunParameters, Settings, result_storage
from tasks.sources.paper_source import CorpusSource
from tasks.tribunal import ROLES, aggregate, review
from tasks.verify import verify_claims


@dataclass(frozen=True)
class Round:
    """One round of analysis: its number, the ranked retrieval, and the claims dropped and notes made so far."""

    number: int
    found: Retrieval
    dropped_claims: list[str]
    notes: list[str]


def _analyse(
    round_: Round, settings: Settings, clock: StageClock, chat: ChatModel | None = None
) -> tuple[Draft, EmbeddingSet]:
    """extract_claims → verify_claims → check_aspects → embed → corroborate → compose_draft on the kept papers."""
    plan, ranked, weights = round_.found.plan, round_.found.ranked, round_.found.weights
    kept = [r for r in ranked if r.kept]
    claims = [c for c in extract_claims(plan, kept, settings.extract, chat) if c.id not in round_.dropped_claims]
    claims = verify_claims(claims, [r.paper for r in kept], settings.verify, chat, weights)
    with clock.timed("check_aspects"):
        # a claim counts for an aspect only when its evidence reports a finding on it (tasks/aspect_support.py)
        claims = check_aspects(claims, plan, [r.paper for r in kept])
    embeddings, claims = embed(
        [r.paper for r in kept], claims, round_.found.embedder, settings.verify.duplicate_similarity
    )
    with clock.timed("corroborate"):
        claims = corroborate(claims, settings.verify)
    draft = compose_draft(plan, ranked, claims, round_.number, round_.notes, chat, settings.verify)
    return draft, embeddings


def _convene(draft: Draft, settings: Settings, round_: int, chat: ChatModel | None = None) -> TribunalResult:
    """The three roles review the draft in parallel."""
    reviews = review.map(unmapped(draft), list(ROLES), unmapped(settings.tribunal), chat=unmapped(chat)).result()
    return aggregate(reviews, round_)


def _why_no_revision(revision: RevisionPlan) -> str:
    if revision.queries:
        return f"the follow-up searches ({'; '.join(revision.queries)}) found no paper not already considered"
    return "every follow-up search was already run and nothing was to drop"


def _run_id(goal: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{slugify(goal, max_length=40, word_boundary=True)}-{(flow_run.id or 'local')[:8]}"


@flow(name="research", log_prints=True, result_storage=result_storage())
def research_flow(
    goal: str,
    source: Literal["corpus", "arxiv"] = "corpus",
    corpus: str | None = None,
    max_papers: int | None = None,
    max_revision_rounds: int | None = None,
    out_dir: str = "runs",
    approval_timeout_seconds: int | None = None,
    llm_backend: str | None = None,
    embedder_backend: str | None = None,
) -> PublishedBrief:
    """Research one goal and publish a cited, reviewed brief under `out_dir`.

    Args:
        goal: The research question, in plain words.
        source: Where papers come from: `corpus` (a local file) or `arxiv` (live, one request per 3 s).
        corpus: Path of the corpus file (.jsonl, .jsonl.gz, .parquet) for source=corpus, relative to the project.
        max_papers: Most papers kept for analysis after the relevance gate; empty uses SOVEREIGN_RANK__MAX_PAPERS (8).
        max_revision_rounds: Revision rounds when the tribunal's score is under the approve threshold; empty uses
            SOVEREIGN_TRIBUNAL__MAX_REVISION_ROUNDS (1).
        out_dir: Directory under which the brief is published.
        approval_timeout_seconds: How long a run held for owner review waits for the owner's decision
            before it publishes as a draft; 0 does not wait; empty uses SOVEREIGN_APPROVAL__TIMEOUT_SECONDS.
        llm_backend: Chat model of the LLM stages: `nim`, `offline`, or `auto` (nim when NVIDIA_API_KEY is set);
            empty uses SOVEREIGN_LLM__BACKEND.
        embedder_backend: Embedder: `nim`, `offline` or `auto`; empty uses SOVEREIGN_LLM__EMBEDDER.
    """
    settings = RunParameters(
        source=source,
        corpus=corpus,
        max_papers=max_papers,
        max_revision_rounds=max_revision_rounds,
        out_dir=out_dir,
        approval_timeout_seconds=approval_timeout_seconds,
        llm_backend=llm_backend,
        embedder_backend=embedder_backend,
    ).settings()
    goal = clean_goal(goal, settings.max_goal_chars)
    with stage_clock(flow_run.id or "local") as clock:
        return _research(goal, settings, clock)


def _research(goal: str, settings: Settings, clock: StageClock) -> PublishedBrief:
    """The run's stages, their wall times on `clock`: the tasks' from their state hooks, the other steps' by hand."""
    logger = get_run_logger()
    with clock.timed("open_models"):
        chat, nim_embedder = open_chat(settings), open_embedder(settings)
    with clock.timed("open_source"):
        paper_source = open_source(settings)
    found = retrieve(goal, paper_source, settings, FLOW_STAGES, chat, nim_embedder)
    plan, search_errors = found.plan, list(found.search_errors)

    excluded, dropped, notes = [], [], []
    draft, embeddings = _analyse(Round(0, found, dropped, notes), settings, clock, chat)
    tribunal = _convene(draft, settings, 0, chat)
    history = [tribunal]
    logger.info("tribunal round 0: score %.2f", tribunal.score)

    tried = list(plan.queries)
    for round_ in range(1, settings.tribunal.max_revision_rounds + 1):
        complete = not hard_gates(draft, settings.tribunal) and not unmet_aspects(draft, settings.tribunal)
        if tribunal.score >= settings.tribunal.approve_threshold and complete:
            break
        revision = revise(draft, tribunal, tried, chat)
        tried += revision.queries
        more: list[SearchResult] = []
        if revision.queries:
            more, more_errors = run_searches(revision.queries, paper_source, settings)
            search_errors += more_errors
        seen = {p.id for r in found.results for p in r.papers}
        new_papers = {p.id for r in more for p in r.papers} - seen
        if not new_papers and not revision.drop_claim_ids and not revision.drop_paper_ids:
            notes = notes + [f"no revision was possible: {_why_no_revision(revision)}"]
            draft = draft.model_copy(update={"revision_notes": notes})
            break
        notes = notes + revision.notes
        excluded, dropped = excluded + revision.drop_paper_ids, dropped + revision.drop_claim_ids
        revised_found = rank_again(found, more, excluded, settings, FLOW_STAGES)
        revised, revised_embeddings = _analyse(Round(round_, revised_found, dropped, notes), settings, clock, chat)
        revised_tribunal = _convene(revised, settings, round_, chat)
        history.append(revised_tribunal)
        logger.info("tribunal round %d: score %.2f", round_, revised_tribunal.score)
        if setback := revision_setback(draft, tribunal.score, revised, revised_tribunal.score, settings.tribunal):
            notes = notes + [f"revision round {round_} not kept: {setback}"]
            draft = draft.model_copy(update={"revision_notes": notes})
            break
        found, draft, embeddings, tribunal = revised_found, revised, revised_embeddings, revised_tribunal

    decision = decide_policy(draft, tribunal, settings.tribunal)
    owner_review = None
    if decision.policy is Policy.HUMAN_REVIEW and settings.approval.timeout_seconds:
        owner_review = request_owner_review(
            review_prompt(goal, decision), settings.approval.timeout_seconds, settings.approval.poll_seconds
        )
        logger.info("owner review: %s", owner_review.status)
    report = Report(
        run_id=_run_id(goal),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        goal=goal,
        source=(
            f"corpus {settings.search.corpus} ({paper_source.searched})"
            if isinstance(paper_source, CorpusSource)
            else paper_source.name
        ),
        plan=plan,
        draft=draft,
        tribunal=tribunal,
        tribunal_history=history,
        decision=decision,
        candidates=found.ranked,
        search_errors=search_errors,
        settings=settings.model_dump(mode="json"),
        settings_hash=settings.fingerprint(),
        stage_seconds=clock.seconds(),
        embedding_model=embeddings.model,
        owner_review=owner_review,
        chat_model=chat.name if chat else "",
        llm_usage=take_usage(),
    )
    published = publish(report, embeddings, Path(settings.out_dir))
    record_artifacts(report, published)
    publish_usage_artifact(report.llm_usage)
    logger.info("%s: %s → %s", decision.policy.value, goal, published.directory)
    return published
