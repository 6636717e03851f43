"""The nightly sweep: goals as subflows, incremental against its Parquet ledger, one failed goal fails no other."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from flows.cli import app
from flows.sweep import read_goals, sweep_flow
from tasks.ledger import LEDGER_FILE

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
GOALS = [
    "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?",
    "Do sparse LoRA experts reduce memory during fine-tuning?",
    "??? !!!",  # no searchable words: this goal fails
]
HELD_BACK = {"2406.90003", "2407.90004"}

pytestmark = pytest.mark.usefixtures("prefect_harness")


def write_corpus(path: Path, without: set[str]) -> None:
    lines = [line for line in FIXTURE.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith("{") or json.loads(line).get("id") not in without]
    path.write_text("\n".join(kept) + "\n")


def changes_of(row) -> dict:
    return json.loads(Path(row.changes).with_name("changes.json").read_text())


def test_second_sweep_reports_only_new_papers_and_a_failed_goal_stops_no_other(tmp_path):
    corpus, out = tmp_path / "corpus.jsonl", tmp_path / "runs"
    args = dict(goals=GOALS, corpus=str(corpus), out_dir=str(out), max_concurrent_goals=2, sweep_name="test")

    write_corpus(corpus, without=HELD_BACK)
    first = sweep_flow(**args)
    assert [row.status for row in first] == ["completed", "completed", "failed"]
    assert "GoalError" in first[2].error
    for row in first:
        if row.status == "completed":
            changes = changes_of(row)
            assert changes["first_run"] and not set(changes["new_papers"]) & HELD_BACK
            assert (Path(row.changes).parent / "report.json").exists()

    write_corpus(corpus, without=set())  # the corpus grows overnight
    second = sweep_flow(**args)
    assert [row.status for row in second] == ["completed", "completed", "failed"]
    new = [set(changes_of(row)["new_papers"]) for row in second[:2]]
    assert all(papers <= HELD_BACK for papers in new) and set().union(*new), new
    assert [row.new_papers for row in second[:2]] == [len(papers) for papers in new]
    assert not any(changes_of(row)["first_run"] for row in second[:2])
    assert "## New papers" in Path(second[0].changes).read_text()

    ledger = pq.read_table(out / LEDGER_FILE).to_pandas()
    assert len(ledger) == 4 and set(ledger["goal"]) == set(GOALS[:2])
    body = {"artifacts": {"key": {"any_": ["sweep-test"]}}, "sort": "CREATED_DESC", "limit": 5}
    artifacts = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", json=body).raise_for_status().json()
    assert len(artifacts) == 2 and artifacts[0]["type"] == "table"
    table = json.loads(artifacts[0]["data"])
    assert [r["status"] for r in table] == ["completed", "completed", "failed"] and table[0]["brief"]


def test_goals_come_from_the_list_and_the_questions_file_once_each(tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text("# standing questions\nDoes LoRA help?\n\n  Is MoE stable?  \nDoes LoRA help?\n")
    assert read_goals(["Is MoE stable?", " "], str(questions)) == ["Is MoE stable?", "Does LoRA help?"]


def test_sweep_on_a_dask_cluster_from_the_cli(tmp_path):
    out = tmp_path / "runs"
    args = ["sweep", "--goal", GOALS[1], "--goal", GOALS[2], "--corpus", str(FIXTURE), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--task-runner", "dask"])
    assert result.exit_code == 0, result.output
    assert "completed" in result.output and "failed" in result.output
    (brief,) = [d for d in out.iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert (brief / "changes.md").exists() and (out / "seen-papers.parquet").exists()
