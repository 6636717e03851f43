"""Stage wall times come from the task state hooks: every run of a stage, cached or not, of its own flow run only."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from tasks.plan import plan_queries
from tasks.progress import StageClock, stage_clock

GOAL = "How do mixture-of-experts LoRA adapters compare with dense LoRA fine-tuning?"


def test_parallel_runs_of_a_stage_count_once_and_rounds_add_up():
    clock = StageClock()
    clock.add("merge_rank", 20.0, 21.0)
    clock.add("search", 10.0, 14.0)
    clock.add("search", 11.0, 13.0)  # inside the first search: parallel
    clock.add("search", 13.5, 15.0)  # overlaps its end
    clock.add("search", 30.0, 31.0)  # a revision round's search
    clock.add("review", 22.0, 24.0)
    clock.add("review", 22.5, 23.0)
    assert clock.seconds() == {"search": 6.0, "merge_rank": 1.0, "tribunal": 2.0}


def test_the_hooks_time_each_stage_run_of_their_own_flow_run(prefect_harness, tmp_path):
    @flow(result_storage=tmp_path / "results")
    def plan_twice() -> tuple[dict[str, list], list[str]]:
        with stage_clock("another-flow-run") as other, stage_clock(flow_run.id) as clock:
            first = plan_queries(GOAL, return_state=True)
            second = plan_queries(GOAL, return_state=True)
        return {**clock.spans, "other": list(other.spans)}, [first.name, second.name]

    spans, states = plan_twice()
    assert states == ["Completed", "Cached"]
    assert list(spans) == ["plan_queries", "other"] and spans["other"] == []
    assert len(spans["plan_queries"]) == 2 and all(start <= end for start, end in spans["plan_queries"])
