"""`sovereign run` on the warm worker against the same run in-process: CLI wall time as a person gets it.

Run: .venv/bin/python -m benchmarks.speed_warm_worker [--goals 6] [--repeats 1]

On the 96k corpus (index and dense vectors built), with a local Prefect server and its warm worker started first
(their own home under a temporary directory), each goal is run once on the worker and once in-process
(SOVEREIGN_SERVER__WARM_WORKER=false, same server), alternately, under `/usr/bin/time`: the first `--goals` long goals
of benchmarks/speed_goals.py and the `make run` goal (`--repeats` times). Stages run afresh every time
(PREFECT_TASKS_REFRESH_CACHE). Results: benchmarks/results/speed_warm_worker.md and .json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path
from statistics import median

from benchmarks.common import write_results
from benchmarks.speed import CLI, GOAL, cli_env, measure_run, spread, stamp
from benchmarks.speed_goals import LONG_GOALS
from tasks.settings import Settings

MODES = {"warm worker": "true", "in-process": "false"}


def timed_run(goal: str, corpus: Path, env: dict[str, str]) -> dict:
    """One `sovereign run` (benchmarks/speed.py's measure): wall and CPU seconds of the CLI process and its children."""
    run = measure_run(goal, corpus, env)
    return {
        "goal": goal,
        "wall": run["process_wall_seconds"],
        "cpu": run["process_cpu_seconds"],
        "stages": run["flow_stage_seconds_total"],
        "notes": run["notes"],
        "load_1min": round(os.getloadavg()[0], 2),
    }


def measure(corpus: Path, goals: list[str]) -> dict[str, list[dict]]:
    """Every goal in both modes, alternating which goes first, on one server and worker started beforehand."""
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as home:
        env = cli_env(Path(home), None)
        subprocess.run([*CLI, "server", "start"], env=env, check=True, capture_output=True)
        try:
            for flag in MODES.values():  # the model export, OS file cache and the worker's first load, unmeasured
                timed_run(GOAL, corpus, {**env, "SOVEREIGN_SERVER__WARM_WORKER": flag})
            for i, goal in enumerate(goals):
                order = list(MODES.items()) if i % 2 == 0 else list(MODES.items())[::-1]
                for mode, flag in order:
                    runs[mode].append(timed_run(goal, corpus, {**env, "SOVEREIGN_SERVER__WARM_WORKER": flag}))
        finally:
            subprocess.run([*CLI, "server", "stop"], env=env, capture_output=True)
    return runs


def report(payload: dict) -> str:
    """The Markdown results."""
    lines = [
        f"`sovereign run` on the warm worker vs in-process (measured {payload['measured']}, load {payload['load']} at "
        f"the end; two shared cores), 96k corpus, warm index, local server up, stages run afresh; seconds, median / "
        "p90 (min–max) over the goals.",
        "",
        "| mode | runs | CLI wall | CLI CPU (user + system) | inside the flow's stages | load (1 min) |",
        "|---|---|---|---|---|---|",
    ]
    for mode, runs in payload["runs"].items():
        wall, cpu, flow = (spread([r[key] for r in runs]) for key in ("wall", "cpu", "stages"))
        load = median(r["load_1min"] for r in runs)
        lines.append(
            f"| {mode} | {len(runs)} | {wall['median']} / {wall['p90']} ({wall['min']}–{wall['max']}) | "
            f"{cpu['median']} / {cpu['p90']} ({cpu['min']}–{cpu['max']}) | "
            f"{flow['median']} / {flow['p90']} ({flow['min']}–{flow['max']}) | {load} |"
        )
    lines += ["", "| goal | " + " | ".join(f"{mode} wall" for mode in payload["runs"]) + " |", "|---|---|---|"]
    for i, goal in enumerate(payload["goals"]):
        walls = [str(runs[i]["wall"]) for runs in payload["runs"].values()]
        lines.append(f"| {goal[:70]}{'…' if len(goal) > 70 else ''} | " + " | ".join(walls) + " |")
    lines += [
        "",
        "The CPU column is the CLI process's own: on the warm worker the stages' CPU is spent in the worker.",
        "",
        "Reproduce: `PYTHONPATH=. .venv/bin/python -m benchmarks.speed_warm_worker --goals 6` (one run by hand: "
        "`sovereign server start`, then `/usr/bin/time -f %e python -m flows.cli run GOAL --corpus "
        "~/.cache/sovereign/bench/arxiv_all.jsonl.gz`, and again with `SOVEREIGN_SERVER__WARM_WORKER=false`).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--goals", type=int, default=6, help="long goals measured (the first N)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of the `make run` goal per mode")
    args = parser.parse_args()
    corpus = Settings().search.cache_dir / "bench" / "arxiv_all.jsonl.gz"
    goals = LONG_GOALS[: args.goals] + [GOAL] * args.repeats
    payload = {"goals": goals, "runs": measure(corpus, goals)}
    payload |= stamp()
    write_results("speed_warm_worker", payload, report(payload))


if __name__ == "__main__":
    main()
