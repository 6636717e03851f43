"""Speed from the user's side: `sovereign run` and `--help` wall times, first run, index build, query latency.

Run: .venv/bin/python -m benchmarks.speed [--parts index,cli,first] [--api-url URL] [--repeats 3] [--goals N]
    [--no-warm-worker]

`cli`: the wall and CPU (user + system) time of each `sovereign run` process (`python -m flows.cli`, the code on
PYTHONPATH) over the long, specific goals of `benchmarks/speed_goals.py` and the `make run` goal, on the 96k corpus
with a warm index and a local Prefect server and its warm worker already up (its own home under a temporary
directory; --no-warm-worker: runs in the CLI process; or --api-url),
beside each run's per-stage seconds from report.json; the `make run` goal also on Prefect's ephemeral server; and
`--help`.
`first`: the first run after a fresh install: a fresh cache (index build, model export) and server home.
`index`: index build, load and query latency at 10k and 96k papers.
Parts not measured are carried over from the previous results file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median, quantiles

from benchmarks.common import RESULTS, combined_corpus, write_results
from benchmarks.speed_goals import LONG_GOALS
from tasks.settings import Settings

GOAL = "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?"
BUILD = (
    "import sys; from pathlib import Path; from tasks.index.corpus import ingest_corpus; "
    "ingest_corpus(Path(sys.argv[1]), Path(sys.argv[2]))"
)
CLI = [sys.executable, "-m", "flows.cli"]
PARTS = ("index", "cli", "first")


def subset(corpus: Path, rows: int, cache_dir: Path) -> Path:
    """The first `rows` papers of the corpus as their own file."""
    target = cache_dir / "bench" / f"arxiv_first_{rows}.jsonl.gz"
    if not target.is_file():
        with gzip.open(corpus, "rt") as src, gzip.open(target, "wt", compresslevel=1) as out:
            for _, line in zip(range(rows), src):
                out.write(line)
    return target


def measure_build(corpus: Path) -> dict:
    """Cold index build in a fresh process: wall seconds and peak resident memory."""
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", BUILD, str(corpus), cache], check=True)
        seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"build_seconds": round(seconds, 1), "peak_rss_mib_so_far": round(peak_mib)}


def measure_queries(corpus: Path, settings: Settings, questions: list[str]) -> dict:
    """Warm-index latency of one source search and of the whole plan → search → merge_rank."""
    from tasks.index.corpus import ingest_corpus
    from tasks.retrieve import rank_for_goal
    from tasks.sources.paper_source import CorpusSource

    ingest_corpus(corpus, settings.search.cache_dir)  # build first so the load below is a warm one
    started = time.perf_counter()
    source = CorpusSource.open(corpus, settings.search.cache_dir, settings.search.hybrid)
    load = time.perf_counter() - started
    search, ranking = [], []
    for question in questions:
        t = time.perf_counter()
        source.search(question, settings.search.per_query_limit)
        search.append(time.perf_counter() - t)
        t = time.perf_counter()
        rank_for_goal(question, source, settings, 100)
        ranking.append(time.perf_counter() - t)

    def pct(values: list[float]) -> dict:
        cuts = quantiles(values, n=20)
        return {"p50_ms": round(cuts[9] * 1000, 1), "p95_ms": round(cuts[18] * 1000, 1)}

    return {
        "papers": len(source.index),
        "index_load_seconds": round(load, 2),
        "source_search": pct(search),
        "plan_search_rank": pct(ranking),
    }


def cli_env(server_home: Path, api_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a measured command: its own server home, stages run afresh (warm index, cold stages)."""
    env = dict(
        os.environ,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_TASKS_REFRESH_CACHE="true",
        SOVEREIGN_SERVER__HOME=str(server_home),
        **extra,
    )
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def cpu_seconds_of_children() -> float:
    """User + system CPU seconds of this process's finished children: less sensitive to other load than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_run(goal: str, corpus: Path, env: dict[str, str]) -> dict:
    """One `sovereign run` process: its wall and CPU time, its report's per-stage seconds, and its notes (a run
    that fell back from the warm worker says so in one)."""
    with tempfile.TemporaryDirectory() as out:
        started, cpu = time.perf_counter(), cpu_seconds_of_children()
        done = subprocess.run(
            [*CLI, "run", goal, "--corpus", str(corpus), "--out", out], env=env, capture_output=True, text=True
        )
        wall, cpu = time.perf_counter() - started, cpu_seconds_of_children() - cpu
        reports = list(Path(out).glob("**/report.json"))
        if done.returncode or not reports:
            sys.exit(f"research run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        stages = json.loads(reports[0].read_text())["stage_seconds"]
    return {
        "goal": goal,
        "process_wall_seconds": round(wall, 2),
        "process_cpu_seconds": round(cpu, 2),
        "flow_stage_seconds_total": round(sum(stages.values()), 2),
        "stage_seconds": stages,
        "notes": [line for line in done.stderr.splitlines() if line.startswith("note:")],
    }


def spread(values: list[float]) -> dict:
    """Median, p90 and range of a list of seconds."""
    p90 = quantiles(values, n=10, method="inclusive")[8] if len(values) > 1 else values[0]
    return {"median": round(median(values), 2), "p90": round(p90, 2), "min": min(values), "max": max(values)}


def summarize(runs: list[dict]) -> dict:
    """CLI wall and in-flow seconds over runs, and each stage's median and p90."""
    # a stage a run skipped (no revision round) counts 0 s in it
    names = list(dict.fromkeys(stage for r in runs for stage in r["stage_seconds"]))
    stages = {stage: spread([r["stage_seconds"].get(stage, 0.0) for r in runs]) for stage in names}
    return {
        "runs": len(runs),
        "process_wall_seconds": spread([r["process_wall_seconds"] for r in runs]),
        "process_cpu_seconds": spread([r["process_cpu_seconds"] for r in runs]),
        "flow_stage_seconds_total": spread([r["flow_stage_seconds_total"] for r in runs]),
        "stage_seconds": stages,
    }


def measure_help(repeats: int) -> dict:
    """`sovereign --help` wall seconds."""
    walls = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([*CLI, "--help"], capture_output=True, check=True)
        walls.append(round(time.perf_counter() - started, 2))
    return spread(walls)


def measure_cli(corpus: Path, api_url: str | None, repeats: int, goals: int, warm_worker: bool) -> dict:
    """Warm index, local server already up: the first `goals` long goals, the `make run` goal, ephemeral; `--help`.

    With `warm_worker`, the local server's warm worker runs them (flows/warm.py), else each CLI process does.
    """
    from tasks.index.corpus import ingest_corpus

    ingest_corpus(corpus, Settings().search.cache_dir)
    with tempfile.TemporaryDirectory() as home:
        env = cli_env(Path(home), api_url, SOVEREIGN_SERVER__WARM_WORKER=str(warm_worker).lower())
        try:
            if not api_url:
                subprocess.run([*CLI, "server", "start"], env=env, check=True, capture_output=True)
            measure_run(GOAL, corpus, env)  # the model export and OS file cache, out of the figures
            long_runs = [measure_run(goal, corpus, env) for goal in LONG_GOALS[:goals]]
            make_runs = [measure_run(GOAL, corpus, env) for _ in range(repeats)]
        finally:
            if not api_url:
                subprocess.run([*CLI, "server", "stop"], env=env, capture_output=True)
        ephemeral = cli_env(Path(home), None, SOVEREIGN_SERVER__AUTO_START="false")
        ephemeral_runs = [measure_run(GOAL, corpus, ephemeral) for _ in range(repeats)]
    return {
        "server": api_url or f"local (started before{', warm worker' if warm_worker else ''})",
        "long_goals": {**summarize(long_runs), "each": long_runs},
        "make_run_goal": {**summarize(make_runs), "each": make_runs},
        "make_run_goal_ephemeral": {**summarize(ephemeral_runs), "each": ephemeral_runs},
        "help_seconds": measure_help(5),
    }


def measure_first(corpus: Path) -> dict:
    """The first `make run` goal after a fresh install: no index, no exported model, no server yet."""
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as home:
        env = cli_env(Path(home), None, SOVEREIGN_SEARCH__CACHE_DIR=cache)
        try:
            run = measure_run(GOAL, corpus, env)
        finally:
            subprocess.run([*CLI, "server", "stop"], env=env, capture_output=True)
    return run


def stamp() -> dict[str, str]:
    """When a part was measured, and the 1, 5 and 15 minute load averages then (two shared cores: noisy figures)."""
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": load}


def stage_table(label: str, summaries: list[tuple[str, dict]]) -> list[str]:
    """One row per stage: median / p90 seconds under each summary."""
    lines = ["", label, "", "| stage | " + " | ".join(name for name, _ in summaries) + " |"]
    lines.append("|---|" + "---|" * len(summaries))
    for stage in dict.fromkeys(stage for _, s in summaries for stage in s["stage_seconds"]):
        cells = [
            f"{s['stage_seconds'][stage]['median']} / {s['stage_seconds'][stage]['p90']}"
            if stage in s["stage_seconds"]
            else "–"
            for _, s in summaries
        ]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return lines


def report(payload: dict) -> str:
    """The Markdown results."""
    lines: list[str] = []
    if "cli" in payload:
        cli = payload["cli"]
        rows = [("long goals", cli["long_goals"]), ("`make run` goal", cli["make_run_goal"])]
        rows.append(("`make run` goal, ephemeral server", cli["make_run_goal_ephemeral"]))
        lines += [
            f"`sovereign run` from the user's side (measured {cli['measured']}, load {cli['load']}): the wall time of "
            f"the CLI process on the 96k corpus, warm index, {cli['server']} Prefect server; seconds, median / p90 "
            "(min–max).",
            "",
            "| goals | runs | CLI wall | CLI CPU (user + system) | inside the flow's stages |",
            "|---|---|---|---|---|",
        ]
        for name, s in rows:
            wall, cpu, flow = s["process_wall_seconds"], s["process_cpu_seconds"], s["flow_stage_seconds_total"]
            lines.append(
                f"| {name} | {s['runs']} | {wall['median']} / {wall['p90']} ({wall['min']}–{wall['max']}) | "
                f"{cpu['median']} / {cpu['p90']} ({cpu['min']}–{cpu['max']}) | "
                f"{flow['median']} / {flow['p90']} ({flow['min']}–{flow['max']}) |"
            )
        h = cli["help_seconds"]
        lines += ["", f"`sovereign --help`: {h['median']} s median ({h['min']}–{h['max']} s, 5 runs)."]
        lines += stage_table("Stage seconds, median / p90:", rows[:2])
    if "first" in payload:
        first = payload["first"]
        lines += [
            "",
            f"First run after a fresh install (measured {first['measured']}, load {first['load']}; fresh cache: the "
            f"96k index built and the model exported; fresh server home: the server started): "
            f"{first['process_wall_seconds']} s CLI wall, {first['flow_stage_seconds_total']} s inside the stages.",
        ]
    if "index" in payload:
        index = payload["index"]
        lines += [
            "",
            f"Index and query latency (measured {index['measured']}, load {index['load']}):",
            "",
            "| corpus | papers | index build s | index load s | search p50/p95 ms | plan+search+rank p50/p95 ms |",
            "|---|---|---|---|---|---|",
        ]
        for name, b in index["builds"].items():
            q = index["queries"][name]
            lines.append(
                f"| {name} | {q['papers']} | {b['build_seconds']} | {q['index_load_seconds']} | "
                f"{q['source_search']['p50_ms']}/{q['source_search']['p95_ms']} | "
                f"{q['plan_search_rank']['p50_ms']}/{q['plan_search_rank']['p95_ms']} |"
            )
        lines += ["", f"Peak memory of the builds: {index['builds']['96k']['peak_rss_mib_so_far']} MiB."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--api-url", default=None, help="a running Prefect server's API URL instead of a local one")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3, help="runs of the `make run` goal per server")
    parser.add_argument("--goals", type=int, default=len(LONG_GOALS), help="long goals measured (the first N)")
    parser.add_argument(
        "--no-warm-worker", action="store_true", help="`cli`: runs in each CLI process, not on the local warm worker"
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    settings = Settings()
    full = combined_corpus(settings.search.cache_dir)
    previous = RESULTS / "speed.json"
    payload: dict = json.loads(previous.read_text()) if previous.is_file() else {}
    payload = {part: payload[part] for part in PARTS if part in payload}  # results of an older layout are dropped
    if "index" in parts:
        from benchmarks.retrieval import covered_queries

        questions = [row["query"] for row in covered_queries(args.queries // 2, None)]
        sizes = {"10k": subset(full, 10_000, settings.search.cache_dir), "96k": full}
        payload["index"] = {
            "builds": {name: measure_build(corpus) for name, corpus in sizes.items()},
            "queries": {name: measure_queries(corpus, settings, questions) for name, corpus in sizes.items()},
            **stamp(),
        }
    if "cli" in parts:
        warm_worker = not args.no_warm_worker
        payload["cli"] = {**stamp(), **measure_cli(full, args.api_url, args.repeats, args.goals, warm_worker)}
        (RESULTS / "speed.json").write_text(json.dumps(payload, indent=2) + "\n")  # kept should a later part fail
    if "first" in parts:
        payload["first"] = {**stamp(), **measure_first(full)}
    write_results("speed", payload, report(payload))


if __name__ == "__main__":
    main()
