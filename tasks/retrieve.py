"""The ranked papers a run would consider for a goal: plan_queries → search → merge_rank, before the gate's cut."""

from __future__ import annotations

from tasks.backends import offline_models, source_term_weights
from tasks.models import RankedPaper
from tasks.plan import plan_queries
from tasks.rank import merge_rank
from tasks.search import search
from tasks.settings import Settings
from tasks.sources import PaperSource


def rank_for_goal(goal: str, source: PaperSource, settings: Settings, limit: int) -> list[RankedPaper]:
    """The same stages as a research run, in-process and sequential, best first."""
    plan = plan_queries.fn(goal, weights=source_term_weights(source))
    results = [search.fn(query, source, max(limit, settings.search.per_query_limit)) for query in plan.queries]
    embedder, weights = offline_models(source, results)
    return merge_rank.fn(plan, results, embedder, weights, settings.rank)[:limit]
