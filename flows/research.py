"""research_flow: a goal in, a reviewed and cited brief out; the only place with control flow."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger, unmapped
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff
from slugify import slugify

from tasks.approval import request_owner_review, review_prompt
from tasks.artifacts import record_artifacts
from tasks.backends import offline_models, open_chat, open_embedder, open_source, source_term_weights
from tasks.draft import compose_draft
from tasks.embed import embed
from tasks.embedders import Embedder, TermWeights
from tasks.extract import extract_claims
from tasks.llm import ChatModel, publish_usage_artifact, take_usage
from tasks.models import (
    Draft,
    EmbeddingSet,
    Plan,
    Policy,
    RankedPaper,
    Report,
    RevisionPlan,
    SearchResult,
    TribunalResult,
)
from tasks.plan import clean_goal, plan_queries
from tasks.policy import decide_policy, hard_gates, unmet_aspects
from tasks.publish import PublishedBrief, publish
from tasks.rank import merge_rank
from tasks.revise import revise
from tasks.search import search
from tasks.settings import Settings, result_storage
from tasks.sources import PaperSource
from tasks.tribunal import ROLES, aggregate, review
from tasks.verify import verify_claims


@contextmanager
def _timed(timings: dict[str, float], stage: str):
    started = time.perf_counter()
    yield
    timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - started, 3)


def run_searches(queries: list[str], source: PaperSource, settings: Settings) -> tuple[list[SearchResult], list[str]]:
    """Search every query in parallel; a failed query is reported, not fatal, unless all fail."""
    searcher = search.with_options(
        retry_delay_seconds=exponential_backoff(backoff_factor=settings.search.retry_delay_seconds)
    )
    futures = searcher.map(queries, source=unmapped(source), limit=unmapped(settings.search.per_query_limit))
    results, errors, failures = [], [], []
    for query, future in zip(queries, futures):
        future.wait()
        if future.state.is_completed():
            results.append(future.result())
        else:
            exc = future.result(raise_on_failure=False)
            failures.append(exc)
            errors.append(f"query '{query}' failed: {exc}")
    if failures and not results:
        raise failures[0] if isinstance(failures[0], BaseException) else RuntimeError(errors[0])
    return results, errors


def _analyse(
    plan: Plan,
    results: list[SearchResult],
    embedder: Embedder,
    weights: TermWeights,
    settings: Settings,
    timings: dict[str, float],
    excluded_papers: list[str],
    dropped_claims: list[str],
    revision_round: int,
    notes: list[str],
    chat: ChatModel | None = None,
) -> tuple[list[RankedPaper], Draft, EmbeddingSet]:
    """merge_rank → extract_claims → verify_claims → embed → compose_draft."""
    with _timed(timings, "merge_rank"):
        ranked = merge_rank(plan, results, embedder, weights, settings.rank, excluded_papers)
    kept = [r for r in ranked if r.kept]
    with _timed(timings, "extract_claims"):
        claims = [c for c in extract_claims(plan, kept, settings.extract, chat) if c.id not in dropped_claims]
    with _timed(timings, "verify_claims"):
        claims = verify_claims(claims, [r.paper for r in kept], settings.verify, chat, weights)
    with _timed(timings, "embed"):
        embeddings, claims = embed([r.paper for r in kept], claims, embedder, settings.verify.duplicate_similarity)
    with _timed(timings, "compose_draft"):
        draft = compose_draft(plan, ranked, claims, revision_round, notes, chat)
    return ranked, draft, embeddings


def _convene(
    draft: Draft, settings: Settings, round_: int, timings: dict[str, float], chat: ChatModel | None = None
) -> TribunalResult:
    """The three roles review the draft in parallel."""
    with _timed(timings, "tribunal"):
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
    max_papers: int = 8,
    max_revision_rounds: int = 1,
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
        max_papers: Most papers kept for analysis after the relevance gate.
        max_revision_rounds: Revision rounds when the tribunal's score is under the approve threshold.
        out_dir: Directory under which the brief is published.
        approval_timeout_seconds: How long a run held for owner review waits for the owner's decision
            before it publishes as a draft; 0 does not wait; empty uses SOVEREIGN_APPROVAL__TIMEOUT_SECONDS.
        llm_backend: Chat model of the LLM stages: `nim`, `offline`, or `auto` (nim when NVIDIA_API_KEY is set);
            empty uses SOVEREIGN_LLM__BACKEND.
        embedder_backend: Embedder: `nim`, `offline` or `auto`; empty uses SOVEREIGN_LLM__EMBEDDER.
    """
    logger = get_run_logger()
    settings = Settings().with_overrides(
        source=source,
        corpus=corpus,
        max_papers=max_papers,
        max_revision_rounds=max_revision_rounds,
        out_dir=out_dir,
        approval_timeout_seconds=approval_timeout_seconds,
        llm=llm_backend,
        embedder=embedder_backend,
    )
    goal = clean_goal(goal, settings.max_goal_chars)
    timings: dict[str, float] = {}
    with _timed(timings, "open_models"):
        chat, nim_embedder = open_chat(settings), open_embedder(settings)

    with _timed(timings, "open_source"):
        paper_source = open_source(settings)
    with _timed(timings, "plan_queries"):
        plan = plan_queries(goal, chat, source_term_weights(paper_source))
    with _timed(timings, "search"):
        results, search_errors = run_searches(plan.queries, paper_source, settings)
    embedder, weights = offline_models(paper_source, results)
    embedder = nim_embedder or embedder

    excluded, dropped, notes = [], [], []
    ranked, draft, embeddings = _analyse(
        plan, results, embedder, weights, settings, timings, excluded, dropped, 0, notes, chat
    )
    tribunal = _convene(draft, settings, 0, timings, chat)
    history = [tribunal]
    logger.info("tribunal round 0: score %.2f", tribunal.score)

    tried = list(plan.queries)
    for round_ in range(1, settings.tribunal.max_revision_rounds + 1):
        complete = not hard_gates(draft) and not unmet_aspects(draft, settings.tribunal)
        if tribunal.score >= settings.tribunal.approve_threshold and complete:
            break
        with _timed(timings, "revise"):
            revision = revise(draft, tribunal, tried, chat)
        tried += revision.queries
        more: list[SearchResult] = []
        if revision.queries:
            with _timed(timings, "search"):
                more, more_errors = run_searches(revision.queries, paper_source, settings)
            search_errors += more_errors
        seen = {p.id for r in results for p in r.papers}
        new_papers = {p.id for r in more for p in r.papers} - seen
        if not new_papers and not revision.drop_claim_ids and not revision.drop_paper_ids:
            notes = notes + [f"no revision was possible: {_why_no_revision(revision)}"]
            draft = draft.model_copy(update={"revision_notes": notes})
            break
        notes = notes + revision.notes
        excluded, dropped = excluded + revision.drop_paper_ids, dropped + revision.drop_claim_ids
        results = results + more
        ranked, draft, embeddings = _analyse(
            plan, results, embedder, weights, settings, timings, excluded, dropped, round_, notes, chat
        )
        tribunal = _convene(draft, settings, round_, timings, chat)
        history.append(tribunal)
        logger.info("tribunal round %d: score %.2f", round_, tribunal.score)

    with _timed(timings, "decide_policy"):
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
        source=paper_source.name if settings.search.source == "arxiv" else f"corpus {settings.search.corpus}",
        plan=plan,
        draft=draft,
        tribunal=tribunal,
        tribunal_history=history,
        decision=decision,
        candidates=ranked,
        search_errors=search_errors,
        settings=settings.model_dump(mode="json"),
        settings_hash=settings.fingerprint(),
        stage_seconds=timings,
        embedding_model=embeddings.model,
        owner_review=owner_review,
        chat_model=chat.name if chat else "",
        llm_usage=take_usage(),
    )
    with _timed(timings, "publish"):
        published = publish(report, embeddings, Path(settings.out_dir))
    record_artifacts(report, published)
    publish_usage_artifact(report.llm_usage)
    logger.info("%s: %s → %s", decision.policy.value, goal, published.directory)
    return published
