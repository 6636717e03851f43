"""The sweep's ledger next to the outputs: each goal at every sweep, and every paper it has seen; from it, whether a
goal has papers new since its last successful sweep, and what changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from tasks.artifacts import goal_key
from tasks.brief import md_escape
from tasks.io.atomic import staged_file, write_atomic
from tasks.models import Report
from tasks.publish import PublishedBrief

LEDGER_FILE = "sweep-ledger.parquet"
CHANGES_MD, CHANGES_JSON = "changes.md", "changes.json"
LEDGER_SCHEMA = pa.schema(
    [
        ("goal_key", pa.string()),
        ("goal", pa.string()),
        ("swept_at", pa.string()),
        ("status", pa.string()),
        ("researched_at", pa.string()),
        ("run_id", pa.string()),
        ("flow_run_id", pa.string()),
        ("settings_hash", pa.string()),
        ("policy", pa.string()),
        ("score", pa.float64()),
        ("seen", pa.list_(pa.string())),
        ("claims", pa.list_(pa.string())),
        ("brief", pa.string()),
        ("error", pa.string()),
    ]
)


class LedgerEntry(BaseModel):
    """One goal at one sweep: researched, unchanged (its brief still stands) or failed."""

    goal_key: str
    goal: str
    swept_at: str = Field(description="When the sweep ran (UTC, ISO).")
    status: Literal["researched", "unchanged", "failed"]
    researched_at: str = Field("", description="When the brief that stands for this goal was researched.")
    run_id: str = Field("", description="The brief's run id (its directory name).")
    flow_run_id: str = Field("", description="The research flow run that published the brief.")
    settings_hash: str = Field("", description="Fingerprint of the settings the brief was researched with.")
    policy: str = ""
    score: float | None = None
    seen: list[str] = Field(default_factory=list, description="Every paper id the goal's searches have returned.")
    claims: list[str] = Field(default_factory=list, description="The standing brief's claims.")
    brief: str = Field("", description="Directory of the standing brief.")
    error: str = ""


class GoalCheck(BaseModel):
    """A goal's candidate papers now, before any analysis."""

    goal: str = Field(description="The goal as the research flow reads it (whitespace normalised).")
    settings_hash: str
    candidates: list[str] = Field(description="Every paper the goal's searches returned, ranked.")
    kept: list[str] = Field(description="Candidates that pass the relevance gate: the papers a brief would analyse.")


class GoalChanges(BaseModel):
    """What one goal's sweep found that its last successful sweep had not."""

    goal: str
    first_run: bool = Field(description="No successful sweep of this goal to compare with (see `note`).")
    unchanged: bool = Field(False, description="No new relevant papers: the earlier brief still stands.")
    note: str = Field("", description="Why the goal was compared with nothing, or since when it is unchanged.")
    since: str | None = Field(None, description="The last successful sweep of the goal that this one compares with.")
    researched_at: str = Field("", description="When the standing brief was researched.")
    new_papers: list[str] = Field(default_factory=list, description="New papers that pass the relevance gate.")
    new_below_gate: list[str] = Field(
        default_factory=list, description="New papers the searches returned that are not relevant enough to analyse."
    )
    new_claims: list[str] = Field(default_factory=list, description="Claims absent from the last successful run.")
    claims_from_new_papers: list[str] = Field(default_factory=list, description="New claims taken from new papers.")
    dropped_claims: list[str] = Field(default_factory=list, description="Claims of the last run no longer made.")
    previous_policy: str | None = None
    policy: str
    previous_score: float | None = None
    score: float | None = None
    published_with: GoalChanges | None = Field(
        None, description="For an unchanged goal: what changed when its standing brief was researched."
    )

    @property
    def decision_changed(self) -> bool:
        return self.previous_policy is not None and self.previous_policy != self.policy


def sweep_time() -> str:
    """The sweep's timestamp; ISO strings of one format compare in time order."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def human_time(iso: str) -> str:
    """An ISO timestamp as a reader wants it: 2026-05-01 02:00 UTC."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def read_ledger(path: Path) -> pd.DataFrame:
    """Every goal of every sweep so far (empty on the first sweep); a ledger of the earlier layout is upgraded."""
    if not path.exists():
        return LEDGER_SCHEMA.empty_table().to_pandas()
    frame = pq.read_table(path).to_pandas()
    if "seen" not in frame:  # earlier layout: one row per successful run, its candidates in `papers`
        frame = frame.assign(seen=frame.get("papers"), status="researched", researched_at=frame["swept_at"])
    for name in LEDGER_SCHEMA.names:
        if name not in frame:
            frame[name] = None
    return frame[LEDGER_SCHEMA.names]


def last_entry(ledger: pd.DataFrame, goal: str) -> LedgerEntry | None:
    """The goal's entry of its latest sweep, if it was ever swept."""
    rows = ledger[ledger["goal_key"] == goal_key(goal)]
    if rows.empty:
        return None
    row = rows.iloc[-1].to_dict()
    for name in ("seen", "claims"):
        row[name] = [] if row[name] is None else list(row[name])
    row = {k: v for k, v in row.items() if not (v is None or (isinstance(v, float) and pd.isna(v)))}
    return LedgerEntry.model_validate(row)


def standing_baseline(last: LedgerEntry | None, settings_hash: str) -> tuple[LedgerEntry | None, str]:
    """The successful sweep a goal is compared with, or None and why it counts as never seen."""
    if last is None:
        return None, "First sweep of this goal."
    if last.status == "failed":
        return None, f"The last sweep of this goal failed ({human_time(last.swept_at)}): it counts as never seen."
    if last.settings_hash != settings_hash:
        return None, f"The settings changed since the last sweep ({human_time(last.swept_at)}): researched afresh."
    if not last.brief or not (Path(last.brief) / "report.json").exists():
        return None, f"The brief of {human_time(last.researched_at or last.swept_at)} is gone: researched afresh."
    return last, ""


def new_relevant_papers(check: GoalCheck, baseline: LedgerEntry | None) -> list[str]:
    """Papers passing the relevance gate that the goal has not seen (all of them without a baseline)."""
    seen = set(baseline.seen) if baseline else set()
    return [pid for pid in check.kept if pid not in seen]


def goal_changes(report: Report, baseline: LedgerEntry | None, note: str = "") -> GoalChanges:
    """Compare a researched goal with its baseline: new papers, claims gained and lost, the decision."""
    claims = [c.text for c in report.draft.claims]
    common = dict(
        goal=report.goal,
        researched_at=report.created_at,
        policy=report.decision.policy.value,
        score=report.decision.score,
    )
    if baseline is None:
        kept = [rp.paper.id for rp in report.candidates if rp.kept]
        return GoalChanges(first_run=True, note=note, new_papers=kept, new_claims=claims, **common)
    seen = set(baseline.seen)
    new_papers = [rp.paper.id for rp in report.candidates if rp.kept and rp.paper.id not in seen]
    before = set(baseline.claims)
    new_claims = [c for c in report.draft.claims if c.text not in before]
    return GoalChanges(
        first_run=False,
        since=baseline.swept_at,
        new_papers=new_papers,
        new_below_gate=[rp.paper.id for rp in report.candidates if not rp.kept and rp.paper.id not in seen],
        new_claims=[c.text for c in new_claims],
        claims_from_new_papers=[c.text for c in new_claims if c.paper_id in set(new_papers)],
        dropped_claims=[c for c in baseline.claims if c not in set(claims)],
        previous_policy=baseline.policy,
        previous_score=baseline.score,
        **common,
    )


def unchanged_changes(check: GoalCheck, baseline: LedgerEntry, published_with: GoalChanges | None) -> GoalChanges:
    """An unchanged goal: no new relevant paper since its last successful sweep; its brief stands."""
    return GoalChanges(
        goal=baseline.goal,
        first_run=False,
        unchanged=True,
        note=f"No new papers since {human_time(baseline.swept_at)}.",
        since=baseline.swept_at,
        researched_at=baseline.researched_at,
        new_below_gate=[pid for pid in check.candidates if pid not in set(baseline.seen)],
        previous_policy=baseline.policy,
        policy=baseline.policy,
        previous_score=baseline.score,
        score=baseline.score,
        published_with=published_with,
    )


def researched_entry(
    report: Report, published: PublishedBrief, flow_run_id: str, seen: list[str], swept_at: str
) -> LedgerEntry:
    """The ledger's record of a goal researched by this sweep."""
    return LedgerEntry(
        goal_key=goal_key(report.goal),
        goal=report.goal,
        swept_at=swept_at,
        status="researched",
        researched_at=report.created_at,
        run_id=report.run_id,
        flow_run_id=flow_run_id,
        settings_hash=report.settings_hash,
        policy=report.decision.policy.value,
        score=report.decision.score,
        seen=list(dict.fromkeys([*seen, *(rp.paper.id for rp in report.candidates)])),
        claims=[c.text for c in report.draft.claims],
        brief=str(published.directory),
    )


def unchanged_entry(baseline: LedgerEntry, check: GoalCheck, swept_at: str) -> LedgerEntry:
    """The ledger's record of a goal whose brief still stands; what its searches returned now counts as seen."""
    seen = list(dict.fromkeys([*baseline.seen, *check.candidates]))
    return baseline.model_copy(update={"swept_at": swept_at, "status": "unchanged", "seen": seen, "error": ""})


def failed_entry(goal: str, error: str, swept_at: str) -> LedgerEntry:
    """The ledger's record of a failed goal: it saw nothing, so its next sweep researches it in full."""
    return LedgerEntry(goal_key=goal_key(goal), goal=goal, swept_at=swept_at, status="failed", error=error)


def append_ledger(path: Path, entries: list[LedgerEntry]) -> None:
    """Add entries to the ledger in one atomic replace; only each goal's latest entry keeps the papers it has seen."""
    rows = pd.DataFrame([e.model_dump() for e in entries], columns=LEDGER_SCHEMA.names)
    frame = pd.concat([read_ledger(path), rows], ignore_index=True) if path.exists() else rows
    # `seen` accumulates from sweep to sweep: copies of it in every earlier entry would grow a nightly ledger with the
    # square of its age, and nothing reads them (a goal's next sweep compares with its latest entry)
    earlier = frame.duplicated("goal_key", keep="last")
    frame["seen"] = [[] if old else seen for old, seen in zip(earlier, frame["seen"])]
    with staged_file(path) as staging:
        pq.write_table(pa.Table.from_pandas(frame, schema=LEDGER_SCHEMA, preserve_index=False), staging)


def read_changes(directory: Path) -> GoalChanges | None:
    """The changes published next to a brief, if any."""
    path = directory / CHANGES_JSON
    return GoalChanges.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else None


def _paper_lines(ids: list[str], titles: dict[str, str]) -> list[str]:
    return [f"- {md_escape(pid)} {md_escape(titles.get(pid, ''))}".rstrip() for pid in ids] or ["_None._"]


def changes_markdown(changes: GoalChanges, titles: dict[str, str], level: int = 1) -> str:
    """What changed, as Markdown for a reader of the brief."""
    h = "#" * level
    researched = human_time(changes.researched_at) if changes.researched_at else "earlier"
    if changes.unchanged:
        head = (
            f"{changes.note} The brief researched {researched} still stands: "
            f"{changes.policy}, score {changes.score:.1f}."
        )
    elif changes.first_run:
        head = f"{changes.note} Everything below is new.".strip()
    elif changes.decision_changed:
        head = f"Since {human_time(changes.since)}: decision changed, {changes.previous_policy} → {changes.policy}."
    else:
        head = f"Since {human_time(changes.since)}: decision unchanged, {changes.policy}."
    title = f"Changes: {md_escape(changes.goal)}" if level == 1 else f"When this brief was researched ({researched})"
    lines = [f"{h} {title}", "", head]
    if not changes.unchanged and changes.score is not None:
        was = f" (was {changes.previous_score:.1f})" if changes.previous_score is not None else ""
        lines.append(f"Score {changes.score:.1f}{was}.")
    if not changes.unchanged:
        lines += ["", f"{h}# New papers ({len(changes.new_papers)})", "", *_paper_lines(changes.new_papers, titles)]
        from_new = set(changes.claims_from_new_papers)
        for heading, claims in (("New claims", changes.new_claims), ("Dropped claims", changes.dropped_claims)):
            lines += ["", f"{h}# {heading} ({len(claims)})", ""]
            lines += [f"- {md_escape(c)}{' (from a new paper)' if c in from_new else ''}" for c in claims] or [
                "_None._"
            ]
    if changes.new_below_gate:
        ids = ", ".join(md_escape(pid) for pid in changes.new_below_gate)
        lines += ["", f"New papers the searches returned that are not relevant enough to analyse: {ids}."]
    if changes.published_with is not None:
        lines += ["", changes_markdown(changes.published_with, titles, level + 1).rstrip()]
    return "\n".join(lines) + "\n"


@task(name="publish_changes", cache_policy=NO_CACHE)
def publish_changes(changes: GoalChanges, directory: Path, titles: dict[str, str]) -> Path:
    """Write changes.md and changes.json next to the brief; the Markdown's path."""
    payload = {**changes.model_dump(mode="json"), "decision_changed": changes.decision_changed}
    # an unchanged goal rewrites these next to a published brief: each file is replaced whole or not at all
    for name, text in ((CHANGES_JSON, json.dumps(payload, indent=2)), (CHANGES_MD, changes_markdown(changes, titles))):
        write_atomic(directory / name, text)
    return directory / CHANGES_MD
