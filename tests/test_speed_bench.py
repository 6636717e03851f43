"""The user-side speed benchmark's summaries: stages some runs skip, the Markdown report."""

from __future__ import annotations

from benchmarks.speed import report, summarize
from benchmarks.speed_goals import LONG_GOALS


def run(wall: float, **stages: float) -> dict:
    return {
        "goal": "g",
        "process_wall_seconds": wall,
        "process_cpu_seconds": wall / 2,
        "flow_stage_seconds_total": sum(stages.values()),
        "stage_seconds": stages,
    }


def test_a_stage_some_runs_skip_counts_zero_in_them_and_the_report_renders():
    runs = [run(10.0, search=1.0, merge_rank=2.0), run(12.0, search=1.0, merge_rank=3.0, revise=4.0)]
    summary = summarize(runs)
    assert list(summary["stage_seconds"]) == ["search", "merge_rank", "revise"]
    assert summary["stage_seconds"]["revise"]["min"] == 0.0 and summary["process_wall_seconds"]["median"] == 11.0
    once = summarize(runs[:1])
    help_seconds = {"median": 0.4, "p90": 0.5, "min": 0.4, "max": 0.5}
    cli = {
        "measured": "now",
        "load": "1",
        "server": "local",
        "long_goals": summary,
        "make_run_goal": once,
        "make_run_goal_ephemeral": once,
        "help_seconds": help_seconds,
    }
    text = report({"cli": cli})
    assert "| revise | 2.0 / 3.6 | – |" in text and "| long goals | 2 | 11.0 /" in text
    assert "| 5.5 / 5.9 (5.0–6.0) |" in text  # CPU seconds beside the wall time


def test_the_long_goals_are_at_least_twenty_distinct_questions():
    assert len(set(LONG_GOALS)) == len(LONG_GOALS) >= 20
