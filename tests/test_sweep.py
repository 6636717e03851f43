"""The nightly sweep: goals checked against their Parquet ledger, only goals with new relevant papers researched again
(as subflows), what changed published next to the brief, and one failed goal fails no other."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from flows.cli import app
from flows.sweep import SweepRow, read_goals, sweep_flow
from tasks.io.ledger import (
    LEDGER_FILE,
    GoalCheck,
    LedgerEntry,
    append_ledger,
    goal_changes,
    human_time,
    last_entry,
    new_relevant_papers,
    read_ledger,
    researched_entry,
    standing_baseline,
)
from tasks.models import Policy
from tasks.publish import PublishedBrief
from tests.factories import make_report

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
LORA = "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?"
HALO = "How spherical are dark matter halos around dwarf galaxies?"
CORAL = "At what heat exposure do coral reefs start bleaching?"
INVALID = "??? !!!"  # no searchable words: this goal fails at every sweep
GOALS = [LORA, HALO, CORAL, INVALID]
# The corpus grows overnight: two papers squarely on the LoRA goal, and one the coral goal's searches return but
# that is not about coral reefs (it must not count as new for that goal).
NEW_LORA = [
    {
        "id": "2409.90006",
        "title": "Trade-offs of Mixture-of-Experts LoRA Adapters at Scale",
        "abstract": "We study the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning "
        "on 30 tasks. Mixture-of-experts LoRA adapters improve multi-task accuracy by 3.1 points over dense LoRA, but "
        "they double adapter memory and add 12% inference latency. Dense LoRA fine-tuning remains preferable for "
        "single-task deployments.",
        "authors": ["Nora Lind"],
        "categories": ["cs.CL"],
        "published": "2024-09-12",
    },
    {
        "id": "2410.90007",
        "title": "How Many Experts Does a Mixture of LoRA Adapters Need?",
        "abstract": "We vary the number of LoRA experts from 2 to 16 in mixture-of-experts LoRA adapters. Accuracy "
        "saturates at 8 experts, where the mixture beats dense LoRA fine-tuning by 2.4%. Beyond 8 experts, routing "
        "instability erases the gains and training time grows by 20%.",
        "authors": ["Ravi Iyer", "Sofia Lopes"],
        "categories": ["cs.LG"],
        "published": "2024-10-03",
    },
]
OFF_TOPIC = {
    "id": "2411.80008",
    "title": "Heat Exposure Thresholds for Heat Damage in Vineyards",
    "abstract": "We relate heat exposure to grape yield in 120 vineyards. Yield losses start after 5 days above 35 "
    "degrees, and irrigation halves the damage.",
    "authors": ["Marc Dubois"],
    "categories": ["q-bio.PE"],
    "published": "2024-11-20",
}
CHECKED = ("plan_queries", "search", "merge_rank")  # the stages of the sweep's cheap candidate check
ANALYSED = ("extract_claims", "verify_claims", "embed", "compose_draft", "review", "decide_policy", "publish")

pytestmark = pytest.mark.usefixtures("prefect_harness")


def api(path: str, body: dict) -> list[dict]:
    return httpx.post(f"{PREFECT_API_URL.value()}{path}", json=body, timeout=30).raise_for_status().json()


@contextmanager
def counted_stages() -> Iterator[Counter]:
    """Count (flow, goal, stage, state) of every stage transition in this process, through the stage hooks."""
    from tasks.progress import subscribe

    events: Counter = Counter()

    def record(stage: str, state: str) -> None:
        run = FlowRunContext.get()
        events[(run.flow.name, run.parameters.get("goal"), stage, state)] += 1

    unsubscribe = subscribe(record)
    try:
        yield events
    finally:
        unsubscribe()


def stages(events: Counter, flow: str, goal: str, state: str) -> set[str]:
    return {stage for (f, g, stage, s), n in events.items() if (f, g, s) == (flow, goal, state) and n}


def sweep(args: dict) -> tuple[list[SweepRow], Counter, dict[str, list[str]]]:
    """Run a sweep; its rows, its stage events, and the goals of its subflows by flow name (read from the API)."""
    with counted_stages() as events:
        state = sweep_flow(**args, return_state=True)
    sweep_id = str(state.state_details.flow_run_id)
    children = api("/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [sweep_id]}}})
    names = {f["id"]: f["name"] for f in api("/flows/filter", {})}
    subflows: dict[str, list[str]] = {}
    for run in children:
        subflows.setdefault(names[run["flow_id"]], []).append(run["parameters"]["goal"])
    return state.result(), events, {name: sorted(goals) for name, goals in subflows.items()}


def changes_of(row: SweepRow) -> dict:
    return json.loads(Path(row.changes).with_name("changes.json").read_text())


def test_sweeps_research_only_goals_with_new_relevant_papers_and_a_failed_goal_stops_no_other(tmp_path):
    corpus, out = tmp_path / "corpus.jsonl", tmp_path / "runs"
    # a row of its own gives this corpus a content hash no other test's cached stages share
    marker = {"id": "2501.00042", "title": f"Marker {uuid.uuid4().hex}", "abstract": "A filler row for this test."}
    corpus.write_text(FIXTURE.read_text() + json.dumps(marker) + "\n")
    args = dict(goals=GOALS, corpus=str(corpus), out_dir=str(out), max_concurrent_goals=2, sweep_name="test")

    first, events, subflows = sweep(args)
    assert [row.status for row in first] == ["researched", "researched", "researched", "failed"]
    assert "GoalError" in first[3].error and not first[3].brief
    assert subflows == {"check-goal": sorted(GOALS), "research": sorted(GOALS[:3])}
    for row in first[:3]:
        changes = changes_of(row)
        assert changes["first_run"] and changes["new_papers"] and "First sweep" in Path(row.changes).read_text()
        assert Path(row.brief).name == "report.md" and Path(row.changes).parent == Path(row.brief).parent
        assert stages(events, "research", row.goal, "Completed") >= set(ANALYSED)
    swept = {row["goal"]: row["swept_at"] for row in read_ledger(out / LEDGER_FILE).to_dict("records")}

    with corpus.open("a") as grown:  # the corpus grows overnight
        grown.writelines(json.dumps(row) + "\n" for row in [*NEW_LORA, OFF_TOPIC])
    second, events, subflows = sweep(args)
    assert [row.status for row in second] == ["researched", "unchanged", "unchanged", "failed"]
    assert subflows == {"check-goal": sorted(GOALS), "research": [LORA]}
    # the goal with new relevant papers: only those are reported, and claims taken from them
    lora = changes_of(second[0])
    assert sorted(lora["new_papers"]) == [p["id"] for p in NEW_LORA] and second[0].new_papers == 2
    assert not lora["first_run"] and lora["since"] == swept[LORA] and second[0].brief != first[0].brief
    assert lora["claims_from_new_papers"] and set(lora["claims_from_new_papers"]) <= set(lora["new_claims"])
    assert "## New papers (2)" in Path(second[0].changes).read_text()
    # its plan, searches and ranking came from the check; only the analysis ran
    assert stages(events, "research", LORA, "Completed") >= set(ANALYSED)
    assert not stages(events, "research", LORA, "Completed") & set(CHECKED)
    assert stages(events, "research", LORA, "Cached") == set(CHECKED)
    # the other goals: nothing analysed again, the earlier brief linked, and "no new papers since" next to it
    for before, row in zip(first[1:3], second[1:3]):
        assert not stages(events, "research", row.goal, "Completed") | stages(events, "research", row.goal, "Cached")
        # the plan's rarest-words query reads the corpus's IDF, so the grown corpus is planned for anew
        assert "plan_queries" in stages(events, "check-goal", row.goal, "Completed")
        assert row.brief == before.brief and row.flow_run == before.flow_run and row.policy == before.policy
        assert f"No new papers since {human_time(swept[row.goal])}" in Path(row.changes).read_text()
        assert changes_of(row)["unchanged"] and not changes_of(row)["new_papers"] and row.new_papers == 0
    assert changes_of(second[2])["new_below_gate"] == [OFF_TOPIC["id"]], "searched, seen, but not relevant"
    assert "GoalError" in second[3].error

    third, events, subflows = sweep(args)
    assert [row.status for row in third] == ["unchanged", "unchanged", "unchanged", "failed"]
    assert subflows == {"check-goal": sorted(GOALS)}
    assert {state for *_, state in events} - {"Running"} == {"Cached"}, "nothing computed again"
    assert {flow for flow, *_ in events} == {"check-goal"}
    for goal in GOALS[:3]:
        assert stages(events, "check-goal", goal, "Cached") == set(CHECKED)
    assert third[0].brief == second[0].brief
    lora = changes_of(third[0])
    assert lora["unchanged"] and sorted(lora["published_with"]["new_papers"]) == [p["id"] for p in NEW_LORA]
    assert "When this brief was researched" in Path(third[0].changes).read_text()

    ledger = read_ledger(out / LEDGER_FILE)
    assert list(ledger["status"]) == ["researched"] * 3 + ["failed"] + ["researched"] + ["unchanged"] * 2 + [
        "failed"
    ] + ["unchanged"] * 3 + ["failed"]
    assert set(ledger[ledger["goal"] == LORA]["seen"].iloc[-1]) >= {p["id"] for p in NEW_LORA}
    body = {"artifacts": {"key": {"any_": ["sweep-test"]}}, "sort": "CREATED_DESC", "limit": 5}
    artifacts = api("/artifacts/filter", body)
    assert len(artifacts) == 3 and artifacts[0]["type"] == "table"
    table = json.loads(artifacts[0]["data"])
    assert [(r["goal"], r["status"]) for r in table] == [(row.goal, row.status) for row in third]
    assert all(r["brief"] and r["changes"] and r["score"] is not None and r["policy"] for r in table[:3])


def entry(status: str = "researched", **fields) -> LedgerEntry:
    base = dict(goal_key="k", goal="g", swept_at="2026-01-02T02:00:00+00:00", status=status, settings_hash="s")
    return LedgerEntry(**{**base, "researched_at": base["swept_at"], **fields})


def test_a_goal_counts_as_never_seen_after_a_failed_sweep_new_settings_or_a_lost_brief(tmp_path):
    brief = tmp_path / "brief"
    brief.mkdir()
    (brief / "report.json").write_text("{}")
    check = GoalCheck(goal="g", settings_hash="s", candidates=["a", "b", "c"], kept=["a", "b"])
    good = entry(brief=str(brief), seen=["a", "c"])
    assert standing_baseline(good, "s") == (good, "")
    assert new_relevant_papers(check, good) == ["b"]  # c was seen, a is not relevant enough: only b is new
    assert new_relevant_papers(check.model_copy(update={"kept": ["a"]}), good) == []

    for last, settings, why in [
        (None, "s", "First sweep"),
        (entry("failed", error="GoalError: …"), "s", "failed"),
        (good, "other", "settings changed"),
        (good.model_copy(update={"brief": str(tmp_path / "gone")}), "s", "is gone"),
    ]:
        baseline, reason = standing_baseline(last, settings)
        assert baseline is None and why in reason, reason
        assert new_relevant_papers(check, baseline) == ["a", "b"]


def test_changes_list_only_unseen_relevant_papers_their_claims_and_the_dropped_ones():
    report = make_report(Policy.AUTO_APPROVE, claims=4)
    kept = [rp.paper.id for rp in report.candidates if rp.kept]
    not_kept = [rp.paper.id for rp in report.candidates if not rp.kept]
    assert len(kept) >= 2 and not_kept
    old_claims = [c.text for c in report.draft.claims if c.paper_id != kept[0]]
    baseline = entry(seen=kept[1:], claims=[*old_claims, "A claim no longer made."], policy="SOFT_APPROVE", score=5.0)

    changes = goal_changes(report, baseline)
    assert changes.new_papers == [kept[0]] and changes.new_below_gate == not_kept
    assert changes.new_claims == changes.claims_from_new_papers
    assert changes.new_claims == [c.text for c in report.draft.claims if c.paper_id == kept[0]]
    assert changes.dropped_claims == ["A claim no longer made."]
    assert changes.decision_changed and changes.previous_score == 5.0 and changes.since == baseline.swept_at

    first = goal_changes(report, None, "First sweep of this goal.")
    assert first.first_run and first.new_papers == kept and not first.decision_changed


def test_the_ledger_appends_whole_entries_and_reads_its_earlier_layout(tmp_path):
    report = make_report()
    published = PublishedBrief(
        directory=tmp_path / report.run_id,
        policy=report.decision.policy,
        score=report.decision.score,
        pdf=None,
        markdown=None,
        json=tmp_path / report.run_id / "report.json",
        claims_parquet=tmp_path / "c.parquet",
        papers_parquet=tmp_path / "p.parquet",
    )
    path = tmp_path / LEDGER_FILE
    first = researched_entry(report, published, "flow-run-1", ["x"], "2026-01-01T02:00:00+00:00")
    append_ledger(path, [first])
    append_ledger(path, [first.model_copy(update={"swept_at": "2026-01-02T02:00:00+00:00", "status": "unchanged"})])
    another = report.model_copy(update={"goal": "Another goal?"})
    other = researched_entry(another, published, "flow-run-2", ["y"], first.swept_at)
    append_ledger(path, [other])
    ledger = read_ledger(path)
    latest = last_entry(ledger, report.goal)
    assert latest.status == "unchanged" and latest.seen[0] == "x" and set(latest.seen) > {"x"}
    assert last_entry(ledger, "Another goal?").seen[0] == "y"
    # the goal's first entry stays in the history, without the papers its latest entry now holds
    assert len(ledger) == 3 and list(ledger["seen"][0]) == [] and ledger["status"][0] == "researched"
    assert latest.settings_hash == report.settings_hash and latest.flow_run_id == "flow-run-1"
    assert not list(tmp_path.glob(".*partial*"))

    earlier = tmp_path / "earlier.parquet"  # one row per successful run, candidates under `papers`
    legacy = {k: v for k, v in first.model_dump().items() if k not in {"seen", "status", "researched_at"}}
    pq.write_table(pa.Table.from_pylist([{**legacy, "papers": ["p1", "p2"]}]), earlier)
    upgraded = last_entry(read_ledger(earlier), report.goal)
    assert upgraded.status == "researched" and upgraded.seen == ["p1", "p2"] and upgraded.researched_at


def test_goals_come_from_the_list_and_the_questions_file_once_each(tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text("# standing questions\nDoes LoRA help?\n\n  Is MoE   stable?  \nDoes LoRA help?\n")
    assert read_goals(["Is MoE stable?", " "], str(questions)) == ["Is MoE stable?", "Does LoRA help?"]


def test_sweep_on_a_dask_cluster_from_the_cli(tmp_path):
    out = tmp_path / "runs"
    args = ["sweep", "--goal", HALO, "--goal", INVALID, "--corpus", str(FIXTURE), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--task-runner", "dask"])
    assert result.exit_code == 0, result.output
    assert "researched" in result.output and "failed" in result.output
    (brief,) = [d for d in out.iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert (brief / "changes.md").exists() and (out / LEDGER_FILE).exists()
