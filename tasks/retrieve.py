"""The one retrieval path of runs, sweeps, lookups and benchmarks: plan_queries → search → offline models → merge_rank.

Inside a flow its stages run as the Prefect tasks (`FLOW_STAGES`), so each shows in the UI and is cached; outside
one (lookups, benchmarks, stage tests) their plain functions run in-process (`IN_PROCESS`), same code, no API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from prefect import unmapped
from prefect.tasks import exponential_backoff

from tasks.abbreviations import spell_out
from tasks.backends.factory import offline_models, source_term_weights
from tasks.backends.llm import ChatModel
from tasks.ml.embedders import Embedder, TermWeights
from tasks.models import Plan, RankedPaper, SearchResult
from tasks.plan import PLAN_QUERIES, plan_queries
from tasks.rank import merge_rank
from tasks.search import search
from tasks.settings import Settings
from tasks.sources.paper_source import PaperSource

Searches = Callable[[list[str], PaperSource, Settings], tuple[list[SearchResult], list[str]]]


@dataclass(frozen=True)
class RetrievalStages:
    """How each retrieval stage runs: the Prefect task, or its plain function."""

    plan: Callable[..., Plan]
    search: Searches
    rank: Callable[..., list[RankedPaper]]


@dataclass(frozen=True)
class Retrieval:
    """What retrieval found for a goal: its plan, each query's results, the models fitted to them, the ranking."""

    plan: Plan
    results: list[SearchResult]
    search_errors: list[str]
    embedder: Embedder
    weights: TermWeights
    ranked: list[RankedPaper]


def run_searches(queries: list[str], source: PaperSource, settings: Settings) -> tuple[list[SearchResult], list[str]]:
    """Search every query in parallel as tasks; a failed query is reported, not fatal, unless all fail."""
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


def search_in_process(
    queries: list[str], source: PaperSource, settings: Settings
) -> tuple[list[SearchResult], list[str]]:
    """Search every query in turn, in this process; a failure raises."""
    return [search.fn(query, source, settings.search.per_query_limit) for query in queries], []


FLOW_STAGES = RetrievalStages(plan=plan_queries, search=run_searches, rank=merge_rank)
IN_PROCESS = RetrievalStages(plan=plan_queries.fn, search=search_in_process, rank=merge_rank.fn)


def retrieve(
    goal: str,
    source: PaperSource,
    settings: Settings,
    stages: RetrievalStages,
    chat: ChatModel | None = None,
    embedder: Embedder | None = None,
) -> Retrieval:
    """Plan the goal's queries, search them, fit the offline models and rank; `embedder` replaces the offline one."""
    plan = stages.plan(goal, chat, source_term_weights(source), settings.plan)
    results, errors = stages.search(plan.queries, source, search_depth(settings, len(plan.queries)))
    spelled = spell_out_plan(plan, results, settings.search.acronym_min_definitions)
    if new_queries := [q for q in spelled.queries if q not in plan.queries]:
        more, more_errors = stages.search(new_queries, source, settings)
        results, errors = results + more, errors + more_errors
    plan = spelled
    offline_embedder, weights = offline_models(source, results)
    found = Retrieval(plan, results, errors, embedder or offline_embedder, weights, [])
    return rank_again(found, [], [], settings, stages)


def search_depth(settings: Settings, queries: int) -> Settings:
    """The settings with each query's limit raised so that a plan of fewer queries searches as many papers."""
    depth = settings.search.per_query_limit * PLAN_QUERIES // max(1, min(queries, PLAN_QUERIES))
    return settings.model_copy(update={"search": settings.search.model_copy(update={"per_query_limit": depth})})


def spell_out_plan(plan: Plan, results: list[SearchResult], min_count: int) -> Plan:
    """The plan with the goal's acronyms spelled out as the retrieved abstracts define them, and a query for the
    central entity written out in full ("CoT prompting" → "chain-of-thought prompting")."""
    spelled = spell_out(plan.goal, [p.abstract for r in results for p in r.papers], min_count)
    if not spelled:
        return plan
    words = " ".join(spelled.get(w, w) for w in plan.central.split()).split()
    # a long form ending in the word after its acronym says it once: "DFS search" → "depth first search"
    central = " ".join(w for i, w in enumerate(words) if not i or w.lower() != words[i - 1].lower())
    queries = plan.queries + ([central] if central != plan.central and central not in plan.queries else [])
    return plan.model_copy(update={"spelled_out": spelled, "queries": queries})


def rank_again(
    found: Retrieval,
    more: list[SearchResult],
    excluded_papers: list[str],
    settings: Settings,
    stages: RetrievalStages,
) -> Retrieval:
    """The retrieval with `more` results, ranked again without the excluded papers (the models stay as fitted); the
    excluded ones stay on the list after the others, marked dropped."""
    results = found.results + more
    ranked = stages.rank(found.plan, results, found.embedder, found.weights, settings.rank, excluded_papers)
    excluded = set(excluded_papers)
    set_aside = [r.model_copy(update={"kept": False, "dropped": True}) for r in found.ranked if r.paper.id in excluded]
    return replace(found, results=results, ranked=ranked + set_aside)


def rank_for_goal(goal: str, source: PaperSource, settings: Settings, limit: int) -> list[RankedPaper]:
    """The ranked papers a run would consider, in-process and sequential, best first, at most `limit`."""
    per_query = max(limit, settings.search.per_query_limit)
    wider = settings.model_copy(update={"search": settings.search.model_copy(update={"per_query_limit": per_query})})
    return retrieve(goal, source, wider, IN_PROCESS).ranked[:limit]
