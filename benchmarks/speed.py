"""Speed and memory: index build, query latency at 10k and 96k papers, research runs per stage.

Run: .venv/bin/python -m benchmarks.speed [--api-url http://127.0.0.1:4200/api] [--runs 5]
Without --api-url the research runs use Prefect's ephemeral server; with it, that running server too.
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
from statistics import median_low, quantiles

from benchmarks.common import combined_corpus, write_results
from benchmarks.retrieval import covered_queries
from tasks.corpus import ingest_corpus
from tasks.retrieve import rank_for_goal
from tasks.settings import Settings
from tasks.sources import CorpusSource

GOAL = "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?"
BUILD = (
    "import sys; from pathlib import Path; from tasks.corpus import ingest_corpus; "
    "ingest_corpus(Path(sys.argv[1]), Path(sys.argv[2]))"
)


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
    ingest_corpus(corpus, settings.search.cache_dir)  # build first so the load below is a warm one
    started = time.perf_counter()
    source = CorpusSource.open(corpus, settings.search.cache_dir)
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


def measure_run(corpus: Path, api_url: str | None) -> dict:
    """One `sovereign run` on a warm index: wall time and the report's per-stage seconds."""
    # Warm index, cold stages: refresh Prefect's task cache so every stage really runs.
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_TASKS_REFRESH_CACHE="true")
    if api_url:
        env["PREFECT_API_URL"] = api_url
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        command = [str(Path(sys.executable).with_name("sovereign")), "run", GOAL, "--corpus", str(corpus), "--out", out]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        reports = list(Path(out).glob("**/report.json"))
        if done.returncode or not reports:
            sys.exit(f"research run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        report = json.loads(reports[0].read_text())
    stages = report["stage_seconds"]
    return {
        "server": api_url or "ephemeral",
        "process_wall_seconds": round(wall, 1),
        "flow_stage_seconds_total": round(sum(stages.values()), 2),
        "stage_seconds": stages,
    }


def median_run(corpus: Path, api_url: str | None, runs: int) -> dict:
    """The run of median stage time among `runs` (one run on two shared cores varies by ±10%), with their range."""
    measured = [measure_run(corpus, api_url) for _ in range(runs)]
    totals = [run["flow_stage_seconds_total"] for run in measured]
    middle = next(run for run in measured if run["flow_stage_seconds_total"] == median_low(totals))
    return {**middle, "runs": runs, "flow_stage_seconds_range": [min(totals), max(totals)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-url", default=None, help="a running Prefect server's API URL")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5, help="research runs per server; the median one is reported")
    args = parser.parse_args()
    settings = Settings()
    full = combined_corpus(settings.search.cache_dir)
    questions = [row["query"] for row in covered_queries(args.queries // 2, None)]
    sizes = {"10k": subset(full, 10_000, settings.search.cache_dir), "96k": full}
    payload: dict = {"builds": {}, "queries": {}}
    for name, corpus in sizes.items():
        payload["builds"][name] = measure_build(corpus)
        payload["queries"][name] = measure_queries(corpus, settings, questions)
    servers = [None, args.api_url] if args.api_url else [None]  # the ephemeral server, then the running one
    payload["research_runs"] = [median_run(full, url, args.runs) for url in servers]
    lines = [
        "| corpus | papers | index build s | index load s | search p50/p95 ms | plan+search+rank p50/p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name in sizes:
        b, q = payload["builds"][name], payload["queries"][name]
        lines.append(
            f"| {name} | {q['papers']} | {b['build_seconds']} | {q['index_load_seconds']} | "
            f"{q['source_search']['p50_ms']}/{q['source_search']['p95_ms']} | "
            f"{q['plan_search_rank']['p50_ms']}/{q['plan_search_rank']['p95_ms']} |"
        )
    lines += ["", f"Peak memory of the builds: {payload['builds']['96k']['peak_rss_mib_so_far']} MiB."]
    for run in payload["research_runs"]:
        lines += [
            "",
            f"Research runs on 96k ({run['server']} server, warm index), the median of {run['runs']}: "
            f"{run['flow_stage_seconds_total']} s inside the flow's stages (all runs: "
            f"{run['flow_stage_seconds_range'][0]}–{run['flow_stage_seconds_range'][1]} s), "
            f"{run['process_wall_seconds']} s for the whole process:",
            "",
            "| stage | seconds |",
            "|---|---|",
        ]
        lines += [f"| {stage} | {seconds} |" for stage, seconds in run["stage_seconds"].items()]
    write_results("speed", payload, "\n".join(lines))


if __name__ == "__main__":
    main()
