"""The sweep's ledgers next to the outputs: when each paper was first seen, and what each goal's successful runs
found; from them, what changed since a goal's last successful run."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from tasks.artifacts import goal_key
from tasks.models import Report
from tasks.publish import PublishedBrief, md_escape

LEDGER_FILE = "sweep-ledger.parquet"
SEEN_FILE = "seen-papers.parquet"
SEEN_SCHEMA = pa.schema([("id", pa.string()), ("first_seen", pa.string())])
LEDGER_SCHEMA = pa.schema(
    [
        ("goal_key", pa.string()),
        ("goal", pa.string()),
        ("run_id", pa.string()),
        ("swept_at", pa.string()),
        ("policy", pa.string()),
        ("score", pa.float64()),
        ("papers", pa.list_(pa.string())),
        ("claims", pa.list_(pa.string())),
        ("brief", pa.string()),
    ]
)


class GoalChanges(BaseModel):
    """What one goal's run found that its earlier successful runs had not."""

    goal: str
    first_run: bool = Field(description="No earlier successful run of this goal is in the ledger.")
    new_papers: list[str] = Field(default_factory=list, description="Candidates first seen since the last run.")
    new_claims: list[str] = Field(default_factory=list, description="Claims absent from the last successful run.")
    dropped_claims: list[str] = Field(default_factory=list, description="Claims of the last run no longer made.")
    previous_policy: str | None = None
    policy: str
    previous_score: float | None = None
    score: float

    @property
    def decision_changed(self) -> bool:
        return self.previous_policy is not None and self.previous_policy != self.policy


def read_ledger(path: Path) -> pd.DataFrame:
    """Every successful goal run recorded so far (empty on the first sweep)."""
    if not path.exists():
        return LEDGER_SCHEMA.empty_table().to_pandas()
    return pq.read_table(path, schema=LEDGER_SCHEMA).to_pandas()


def sweep_time() -> str:
    """The sweep's timestamp; ISO strings of one format compare in time order."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def read_seen(path: Path) -> dict[str, str]:
    """Paper id → when a sweep first saw it."""
    if not path.exists():
        return {}
    table = pq.read_table(path, schema=SEEN_SCHEMA)
    return dict(zip(table["id"].to_pylist(), table["first_seen"].to_pylist()))


def note_papers(seen: dict[str, str], ids: list[str], at: str) -> None:
    """Record the papers not seen before as first seen at `at`."""
    for paper_id in ids:
        seen.setdefault(paper_id, at)


def write_seen(path: Path, seen: dict[str, str]) -> None:
    """Replace the seen-papers ledger in one step."""
    table = pa.table({"id": list(seen), "first_seen": list(seen.values())}, schema=SEEN_SCHEMA)
    staging = path.with_name(f".{path.name}.partial-{os.getpid()}")
    pq.write_table(table, staging)
    os.replace(staging, path)


def ledger_row(report: Report, published: PublishedBrief, swept_at: str) -> dict[str, object]:
    """The ledger's record of one successful run."""
    return {
        "goal_key": goal_key(report.goal),
        "goal": report.goal,
        "run_id": report.run_id,
        "swept_at": swept_at,
        "policy": report.decision.policy.value,
        "score": report.decision.score,
        "papers": [rp.paper.id for rp in report.candidates],
        "claims": [c.text for c in report.draft.claims],
        "brief": str(published.directory),
    }


def append_ledger(path: Path, rows: list[dict[str, object]]) -> None:
    """Add rows to the ledger in one atomic replace, so a crash never leaves half a ledger."""
    frame = pd.concat([read_ledger(path), pd.DataFrame(rows, columns=LEDGER_SCHEMA.names)], ignore_index=True)
    staging = path.with_name(f".{path.name}.partial-{os.getpid()}")
    pq.write_table(pa.Table.from_pandas(frame, schema=LEDGER_SCHEMA, preserve_index=False), staging)
    os.replace(staging, path)


def goal_changes(report: Report, ledger: pd.DataFrame, seen: dict[str, str], now: str) -> GoalChanges:
    """Compare a run with the goal's history: papers first seen since, claims gained and lost, the decision."""
    history = ledger[ledger["goal_key"] == goal_key(report.goal)]
    claims = [c.text for c in report.draft.claims]
    policy, score = report.decision.policy.value, report.decision.score
    if history.empty:
        papers = [rp.paper.id for rp in report.candidates]
        return GoalChanges(
            goal=report.goal, first_run=True, new_papers=papers, new_claims=claims, policy=policy, score=score
        )
    last = history.iloc[-1]
    return GoalChanges(
        goal=report.goal,
        first_run=False,
        new_papers=[rp.paper.id for rp in report.candidates if seen.get(rp.paper.id, now) > last["swept_at"]],
        new_claims=[c for c in claims if c not in set(last["claims"])],
        dropped_claims=[c for c in last["claims"] if c not in set(claims)],
        previous_policy=last["policy"],
        policy=policy,
        previous_score=float(last["score"]),
        score=score,
    )


def changes_markdown(changes: GoalChanges, report: Report) -> str:
    """What changed, as Markdown for a reader of the brief."""
    titles = {rp.paper.id: rp.paper.title for rp in report.candidates}
    kept = {rp.paper.id for rp in report.draft.papers}
    if changes.first_run:
        head = "First sweep of this goal: everything below is new."
    elif changes.decision_changed:
        head = f"Decision changed: {changes.previous_policy} → {changes.policy}."
    else:
        head = f"Decision unchanged: {changes.policy}."
    score = f"Score {changes.score:.1f}" + (
        f" (was {changes.previous_score:.1f})." if changes.previous_score is not None else "."
    )
    lines = [
        f"# Changes: {md_escape(changes.goal)}",
        "",
        head,
        score,
        "",
        f"## New papers ({len(changes.new_papers)})",
        "",
    ]
    lines += [
        f"- {md_escape(pid)} {md_escape(titles.get(pid, ''))}{' (kept)' if pid in kept else ''}"
        for pid in changes.new_papers
    ] or ["_None._"]
    for heading, claims in (("New claims", changes.new_claims), ("Dropped claims", changes.dropped_claims)):
        lines += ["", f"## {heading} ({len(claims)})", ""]
        lines += [f"- {md_escape(claim)}" for claim in claims] or ["_None._"]
    return "\n".join(lines) + "\n"


@task(name="publish_changes", cache_policy=NO_CACHE)
def publish_changes(
    report: Report, published: PublishedBrief, ledger: pd.DataFrame, seen: dict[str, str], now: str
) -> GoalChanges:
    """Write changes.md and changes.json next to the brief."""
    changes = goal_changes(report, ledger, seen, now)
    (published.directory / "changes.md").write_text(changes_markdown(changes, report), encoding="utf-8")
    payload = {**changes.model_dump(), "decision_changed": changes.decision_changed}
    (published.directory / "changes.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return changes
