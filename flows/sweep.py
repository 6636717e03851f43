"""sweep_flow: the nightly sweep. Each standing goal's candidate papers are checked against what the goal has seen;
only a goal with new relevant papers since its last successful sweep is researched again (as a subflow), and what
changed is published next to its brief."""

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

from tasks.backends.factory import open_chat, open_embedder, open_source
from tasks.io.ledger import (
    LEDGER_FILE,
    GoalCheck,
    LedgerEntry,
    append_ledger,
    failed_entry,
    goal_changes,
    last_entry,
    new_relevant_papers,
    publish_changes,
    read_changes,
    read_ledger,
    researched_entry,
    standing_baseline,
    sweep_time,
    unchanged_changes,
    unchanged_entry,
)
from tasks.models import Report
from tasks.plan import clean_goal
from tasks.publish import PublishedBrief
from tasks.retrieve import FLOW_STAGES, retrieve
from tasks.settings import RunParameters, result_storage


class SweepRow(BaseModel):
    """One goal's line in the sweep's table."""

    goal: str
    status: Literal["researched", "unchanged", "failed"]
    policy: str = ""
    score: float | None = None
    new_papers: int = 0
    new_claims: int = 0
    dropped_claims: int = 0
    decision_changed: bool = False
    since: str = ""
    brief: str = ""
    changes: str = ""
    flow_run: str = ""
    error: str = ""


class GoalRun(BaseModel):
    """A research subflow's published brief and the flow run that published it."""

    published: PublishedBrief
    flow_run_id: str


def read_goals(goals: list[str] | None, questions_file: str | None) -> list[str]:
    """The goals given and those in the questions file (one a line, # comments), each once, in order."""
    lines = Path(questions_file).read_text(encoding="utf-8").splitlines() if questions_file else []
    found = [" ".join(g.split()) for g in [*(goals or []), *lines]]
    return list(dict.fromkeys(g for g in found if g and not g.startswith("#")))


# A subflow of its own, on threads, so its searches stay in this process whatever runner the sweep's goals use.
@flow(name="check-goal", task_runner=ThreadPoolTaskRunner(), result_storage=result_storage())
def check_goal(goal: str, options: RunParameters) -> GoalCheck:
    """The goal's candidate papers now, through the research flow's own plan, search and rank tasks.

    Those tasks are cached by their inputs, so a research subflow of the goal that follows reuses them.
    """
    settings = options.settings()
    goal = clean_goal(goal, settings.max_goal_chars)
    chat, nim_embedder = open_chat(settings), open_embedder(settings)
    ranked = retrieve(goal, open_source(settings), settings, FLOW_STAGES, chat, nim_embedder).ranked
    return GoalCheck(
        goal=goal,
        settings_hash=settings.fingerprint(),
        candidates=[r.paper.id for r in ranked],
        kept=[r.paper.id for r in ranked if r.kept],
    )


# A task around the subflow lets the sweep's task runner (threads, or Dask) run goals side by side.
@task(name="research_goal", cache_policy=NO_CACHE)
def research_goal(goal: str, options: RunParameters) -> GoalRun:
    """Research one goal as a subflow of the sweep."""
    # Imported here so a Dask worker loads the flow from its module; pickled by value, it loses the names
    # its string annotations refer to and cannot validate its parameters.
    from flows.research import research_flow

    state = research_flow(goal=goal, **options.model_dump(), return_state=True)
    return GoalRun(published=state.result(), flow_run_id=str(state.state_details.flow_run_id))


def brief_file(directory: Path) -> Path:
    """The brief a reader opens: its Markdown, or report.json for a rejected run."""
    return directory / "report.md" if (directory / "report.md").exists() else directory / "report.json"


def paper_titles(directory: Path) -> dict[str, str]:
    """Paper id → title of every candidate of a published brief."""
    report = Report.model_validate_json((directory / "report.json").read_text(encoding="utf-8"))
    return {rp.paper.id: rp.paper.title for rp in report.candidates}


def _failed(goal: str, error: object, now: str) -> tuple[SweepRow, LedgerEntry]:
    """The row and ledger entry of a goal that failed: it counts as never seen at its next sweep."""
    message = f"{type(error).__name__}: {error}"
    return SweepRow(goal=goal, status="failed", error=message), failed_entry(goal, message, now)


def _wait_for_slot(futures: list[PrefectFuture], limit: int) -> None:
    """Block until fewer than `limit` researched goals are running."""
    running = [f for f in futures if not f.state.is_final()]
    if len(running) >= max(limit, 1):
        next(as_completed(running))  # a slot frees when any running goal finishes


@flow(name="sweep", log_prints=True, task_runner=ThreadPoolTaskRunner(), result_storage=result_storage())
def sweep_flow(
    goals: list[str] | None = None,
    questions_file: str | None = None,
    source: Literal["corpus", "arxiv"] = "corpus",
    corpus: str | None = None,
    max_papers: int | None = None,
    max_revision_rounds: int | None = None,
    out_dir: str = "runs",
    max_concurrent_goals: int = 2,
    sweep_name: str = "nightly",
    llm_backend: str | None = None,
    embedder_backend: str | None = None,
) -> list[SweepRow]:
    """Re-research the standing goals that have new relevant papers, publish what changed, and table the sweep.

    Args:
        goals: Standing research questions, one per entry.
        questions_file: A text file of further questions, one a line (lines starting with # are ignored).
        source: Where papers come from: `corpus` (a local file) or `arxiv` (live, one request per 3 s).
        corpus: Path of the corpus file for source=corpus, relative to the project.
        max_papers: Most papers kept per goal after the relevance gate; empty uses SOVEREIGN_RANK__MAX_PAPERS (8).
        max_revision_rounds: Revision rounds per goal when its score is under the approve threshold; empty uses
            SOVEREIGN_TRIBUNAL__MAX_REVISION_ROUNDS (1).
        out_dir: Directory of the briefs; the sweep ledger (sweep-ledger.parquet) lives there too.
        max_concurrent_goals: Most goals researched at the same time.
        sweep_name: Names the sweep's table artifact (`sweep-<name>`), so each sweep keeps its own history.
        llm_backend: Chat model for every goal: `nim`, `offline` or `auto`; empty uses SOVEREIGN_LLM__BACKEND.
        embedder_backend: Embedder for every goal: `nim`, `offline` or `auto`; empty uses SOVEREIGN_LLM__EMBEDDER.
    """
    logger = get_run_logger()
    standing = read_goals(goals, questions_file)
    now = sweep_time()
    ledger_path = Path(out_dir) / LEDGER_FILE
    ledger = read_ledger(ledger_path)
    # research_flow builds the same settings from these, so the check computes the research's own cache keys
    options = RunParameters(
        source=source,
        corpus=corpus,
        max_papers=max_papers,
        max_revision_rounds=max_revision_rounds,
        out_dir=out_dir,
        llm_backend=llm_backend,
        embedder_backend=embedder_backend,
    )

    rows: dict[str, SweepRow] = {}
    entries: dict[str, LedgerEntry] = {}
    researching: dict[str, tuple[PrefectFuture, GoalCheck, LedgerEntry | None, str]] = {}
    for goal in standing:
        try:
            check = check_goal(goal, options)
            baseline, why = standing_baseline(last_entry(ledger, check.goal), check.settings_hash)
            new = new_relevant_papers(check, baseline)
            if baseline is not None and not new:
                rows[goal], entries[goal] = _unchanged(goal, check, baseline, now)
                continue
            logger.info("researching %r: %s", goal, why or f"{len(new)} new relevant papers")
            _wait_for_slot([f for f, *_ in researching.values()], max_concurrent_goals)
            researching[goal] = (research_goal.submit(check.goal, options), check, baseline, why)
        except Exception as exc:  # this goal fails, no other
            rows[goal], entries[goal] = _failed(goal, exc, now)

    for goal, (future, check, baseline, why) in researching.items():
        try:
            rows[goal], entries[goal] = _researched(goal, future.result(), check, baseline, why, now)
        except Exception as exc:  # its subflow failed, or its changes could not be written: this goal only
            rows[goal], entries[goal] = _failed(goal, exc, now)

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    if entries:
        append_ledger(ledger_path, [entries[g] for g in standing if g in entries])
    table = [rows[goal].model_dump() for goal in standing]
    failed = [row for row in table if row["status"] == "failed"]
    unchanged = sum(row["status"] == "unchanged" for row in table)
    create_table_artifact(
        table=table,
        key=f"sweep-{slugify(sweep_name) or 'nightly'}",
        description=f"{len(standing) - len(failed) - unchanged} of {len(standing)} goals researched, "
        f"{unchanged} unchanged, {len(failed)} failed; ledger {ledger_path}",
    )
    for row in failed:
        logger.warning("goal failed, the others went on: %s — %s", row["goal"], row["error"])
    return [rows[goal] for goal in standing]


def _unchanged(goal: str, check: GoalCheck, baseline: LedgerEntry, now: str) -> tuple[SweepRow, LedgerEntry]:
    """A goal without new relevant papers: its brief stands, and changes.md next to it says since when."""
    directory = Path(baseline.brief)
    prior = read_changes(directory)
    changes = unchanged_changes(check, baseline, prior.published_with if prior and prior.unchanged else prior)
    path = publish_changes(changes, directory, paper_titles(directory))
    row = SweepRow(
        goal=goal,
        status="unchanged",
        policy=baseline.policy,
        score=None if baseline.score is None else round(baseline.score, 2),
        since=baseline.swept_at,
        brief=str(brief_file(directory)),
        changes=str(path),
        flow_run=baseline.flow_run_id,
    )
    return row, unchanged_entry(baseline, check, now)


def _researched(
    goal: str, run: GoalRun, check: GoalCheck, baseline: LedgerEntry | None, why: str, now: str
) -> tuple[SweepRow, LedgerEntry]:
    """A researched goal: what changed since its baseline, published next to its new brief."""
    report = Report.model_validate_json(run.published.json.read_text(encoding="utf-8"))
    changes = goal_changes(report, baseline, why)
    path = publish_changes(changes, run.published.directory, {rp.paper.id: rp.paper.title for rp in report.candidates})
    row = SweepRow(
        goal=goal,
        status="researched",
        policy=changes.policy,
        score=round(report.decision.score, 2),
        new_papers=len(changes.new_papers),
        new_claims=len(changes.new_claims),
        dropped_claims=len(changes.dropped_claims),
        decision_changed=changes.decision_changed,
        since=changes.since or "",
        brief=str(brief_file(run.published.directory)),
        changes=str(path),
        flow_run=run.flow_run_id,
    )
    seen = [*(baseline.seen if baseline else []), *check.candidates]
    return row, researched_entry(report, run.published, run.flow_run_id, seen, now)


def sweep_on(task_runner: Literal["threads", "dask"], max_concurrent_goals: int):
    """The sweep flow on threads in this process, or on a local Dask cluster of one worker process per goal slot."""
    if task_runner == "threads":
        return sweep_flow
    from prefect_dask import DaskTaskRunner

    # Each Dask worker is a process of its own: it reaches the API named by PREFECT_API_URL (ephemeral mode
    # would start one server per worker), so run a server (`make server`) for Dask sweeps.
    cluster = {"n_workers": max_concurrent_goals, "threads_per_worker": 1, "dashboard_address": None}
    return sweep_flow.with_options(task_runner=DaskTaskRunner(cluster_kwargs=cluster))
