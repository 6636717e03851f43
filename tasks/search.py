"""search: one query against one paper source; the flow maps it over the plan's queries."""

from __future__ import annotations

from datetime import timedelta

from prefect import task

from tasks.common import STAGE_CACHE, retry_transient
from tasks.models import SearchResult
from tasks.progress import STAGE_HOOKS
from tasks.sources.paper_source import PaperSource


# Live sources change; a cached search older than this is asked again (nightly sweeps see new papers).
@task(
    name="search",
    **STAGE_HOOKS,
    retries=3,
    retry_delay_seconds=[2, 8, 30],
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_transient,
    cache_policy=STAGE_CACHE,
    cache_expiration=timedelta(hours=12),
    persist_result=True,
)
def search(query: str, source: PaperSource, limit: int) -> SearchResult:
    """The papers the source ranks for the query."""
    return SearchResult(query=query, papers=source.search(query, limit))
