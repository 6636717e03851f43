"""sweep_flow: the nightly sweep; each standing goal is researched as a subflow and what changed is published."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel
from slugify import slugify

from tasks.corpus import load_index
from tasks.ledger import (
    LEDGER_FILE,
    SEEN_FILE,
    GoalChanges,
    append_ledger,
    ledger_row,
    note_papers,
    publish_changes,
    read_ledger,
    read_seen,
    sweep_time,
    write_seen,
)
from tasks.models import Report
from tasks.publish import PublishedBrief
from tasks.settings import Settings, result_storage


class SweepRow(BaseModel):
    """One goal's line in the sweep's table."""

    goal: str
    status: Literal["completed", "failed"]
    policy: str = ""
    score: float | None = None
    new_papers: int = 0
    new_claims: int = 0
    dropped_claims: int = 0
    decision_changed: bool = False
    brief: str = ""
    changes: str = ""
    error: str = ""


def read_goals(goals: list[str] | None, questions_file: str | None) -> list[str]:
    """The goals given and those in the questions file (one a line, # comments), each once, in order."""
    lines = Path(questions_file).read_text(encoding="utf-8").splitlines() if questions_file else []
    found = [g.strip() for g in [*(goals or []), *lines] if g.strip() and not g.strip().startswith("#")]
    return list(dict.fromkeys(found))


# A task around the subflow lets the sweep's task runner (threads, or Dask) run goals side by side.
@task(name="research_goal", cache_policy=NO_CACHE)
def research_goal(
    goal: str,
    source: str,
    corpus: str | None,
    max_papers: int,
    max_revision_rounds: int,
    out_dir: str,
    llm_backend: str | None = None,
    embedder_backend: str | None = None,
) -> PublishedBrief:
    """Research one goal as a subflow of the sweep."""
    # Imported here so a Dask worker loads the flow from its module; pickled by value, it loses the names
    # its string annotations refer to and cannot validate its parameters.
    from flows.research import research_flow

    return research_flow(
        goal=goal,
        source=source,
        corpus=corpus,
        max_papers=max_papers,
        max_revision_rounds=max_revision_rounds,
        out_dir=out_dir,
        llm_backend=llm_backend,
        embedder_backend=embedder_backend,
    )


def _completed(goal: str, published: PublishedBrief, changes: GoalChanges) -> SweepRow:
    return SweepRow(
        goal=goal,
        status="completed",
        policy=changes.policy,
        score=round(changes.score, 2),
        new_papers=len(changes.new_papers),
        new_claims=len(changes.new_claims),
        dropped_claims=len(changes.dropped_claims),
        decision_changed=changes.decision_changed,
        brief=str(published.markdown or published.json),
        changes=str(published.directory / "changes.md"),
    )


@flow(name="sweep", log_prints=True, task_runner=ThreadPoolTaskRunner(), result_storage=result_storage())
def sweep_flow(
    goals: list[str] | None = None,
    questions_file: str | None = None,
    source: Literal["corpus", "arxiv"] = "corpus",
    corpus: str | None = None,
    max_papers: int = 8,
    max_revision_rounds: int = 1,
    out_dir: str = "runs",
    max_concurrent_goals: int = 2,
    sweep_name: str = "nightly",
    llm_backend: str | None = None,
    embedder_backend: str | None = None,
) -> list[SweepRow]:
    """Research every standing goal, publish what changed since its last successful run, and table the sweep.

    Args:
        goals: Standing research questions, one per entry.
        questions_file: A text file of further questions, one a line (lines starting with # are ignored).
        source: Where papers come from: `corpus` (a local file) or `arxiv` (live, one request per 3 s).
        corpus: Path of the corpus file for source=corpus, relative to the project.
        max_papers: Most papers kept per goal after the relevance gate.
        max_revision_rounds: Revision rounds per goal when its score is under the approve threshold.
        out_dir: Directory of the briefs; the sweep ledger (sweep-ledger.parquet) lives there too.
        max_concurrent_goals: Most goals researched at the same time.
        sweep_name: Names the sweep's table artifact (`sweep-<name>`), so each sweep keeps its own history.
        llm_backend: Chat model for every goal: `nim`, `offline` or `auto`; empty uses SOVEREIGN_LLM__BACKEND.
        embedder_backend: Embedder for every goal: `nim`, `offline` or `auto`; empty uses SOVEREIGN_LLM__EMBEDDER.
    """
    logger = get_run_logger()
    standing = read_goals(goals, questions_file)
    now = sweep_time()
    ledger_path, seen_path = Path(out_dir) / LEDGER_FILE, Path(out_dir) / SEEN_FILE
    ledger, seen = read_ledger(ledger_path), read_seen(seen_path)
    if source == "corpus" and corpus:
        # A corpus can be listed whole, so a paper is new when the corpus first holds it, not when a query first
        # finds it; live sources only tell what they returned (recorded per goal below).
        note_papers(seen, load_index(Path(corpus), Settings().search.cache_dir).ids, now)
    options = dict(
        source=source,
        corpus=corpus,
        max_papers=max_papers,
        max_revision_rounds=max_revision_rounds,
        out_dir=out_dir,
        llm_backend=llm_backend,
        embedder_backend=embedder_backend,
    )

    futures: list[PrefectFuture] = []
    for goal in standing:
        running = [f for f in futures if not f.state.is_final()]
        if len(running) >= max(max_concurrent_goals, 1):
            next(as_completed(running))  # a slot frees when any running goal finishes
        futures.append(research_goal.submit(goal, **options))
    recorded: list[dict[str, object]] = []
    rows = [_collect(goal, future, ledger, seen, now, recorded) for goal, future in zip(standing, futures)]

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_seen(seen_path, seen)
    if recorded:
        append_ledger(ledger_path, recorded)
    table = [row.model_dump() for row in rows]
    failed = [row for row in table if row["status"] == "failed"]
    create_table_artifact(
        table=table,
        key=f"sweep-{slugify(sweep_name) or 'nightly'}",
        description=f"{len(standing) - len(failed)} of {len(standing)} goals researched; ledger {ledger_path}",
    )
    for row in failed:
        logger.warning("goal failed, the others went on: %s — %s", row["goal"], row["error"])
    return rows


def _collect(
    goal: str, future: PrefectFuture, ledger, seen: dict[str, str], now: str, recorded: list[dict[str, object]]
) -> SweepRow:
    """The row of a finished goal; a failed goal becomes a failed row, never the sweep's failure."""
    future.wait()
    if not future.state.is_completed():
        error = future.result(raise_on_failure=False)
        return SweepRow(goal=goal, status="failed", error=f"{type(error).__name__}: {error}")
    published = future.result()
    report = Report.model_validate_json(published.json.read_text(encoding="utf-8"))
    note_papers(seen, [rp.paper.id for rp in report.candidates], now)
    changes = publish_changes(report, published, ledger, seen, now)
    recorded.append(ledger_row(report, published, now))
    return _completed(goal, published, changes)


def sweep_on(task_runner: Literal["threads", "dask"], max_concurrent_goals: int):
    """The sweep flow on threads in this process, or on a local Dask cluster of one worker process per goal slot."""
    if task_runner == "threads":
        return sweep_flow
    from prefect_dask import DaskTaskRunner

    # Each Dask worker is a process of its own: it reaches the API named by PREFECT_API_URL (ephemeral mode
    # would start one server per worker), so run a server (`make server`) for Dask sweeps.
    cluster = {"n_workers": max_concurrent_goals, "threads_per_worker": 1, "dashboard_address": None}
    return sweep_flow.with_options(task_runner=DaskTaskRunner(cluster_kwargs=cluster))
