"""Scale: build time, peak RSS, size on disk, open time, search latency, append and research-run wall, by corpus size.

The corpora beyond the real 96k are synthetic (benchmarks/scale_corpus.py): for time and memory only. Every step runs
in a fresh process with the code under test on its PYTHONPATH (`--code`: this checkout by default; a `git worktree` of
an earlier commit measures that engine), on its own index cache under ~/.cache/sovereign/scale/. Results accumulate in
benchmarks/results/scale.json (one row per label and size) and are rendered to scale.md with the machine's load.

Run: .venv/bin/python -m benchmarks.scale --papers 500000 [--label tantivy] [--code DIR] [--queries 100] [--goals 3]
     (--papers 96k is the real shared corpus; heavy: run one size at a time, under `nice`)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from benchmarks.common import RESULTS, combined_corpus
from benchmarks.retrieval import covered_queries
from benchmarks.scale_corpus import SCALE_DIR, write_corpus

ROOT = Path(__file__).resolve().parents[1]
APPEND_PAPERS = 5_000
GOALS = (
    "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?",
    "How does retrieval-augmented generation reduce hallucination in question answering?",
    "Which data augmentation methods improve low-resource named entity recognition?",
)
# A step's own measurement, printed as one JSON line: run in a fresh interpreter with the code under test.
_PEAK = "import resource; peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20"
_CHILD_PEAK = "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20"
# CPU seconds of the step and the worker processes it waited for: what the wall time would be on idle cores, at most
_CPU = (
    "sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF), "
    "resource.getrusage(resource.RUSAGE_CHILDREN)))"
)
BUILD = f"""
import json, sys, time
from pathlib import Path
from tasks.index.corpus import ingest_corpus
started = time.perf_counter()
ingest_corpus(Path(sys.argv[1]), Path(sys.argv[2]))
seconds = time.perf_counter() - started
{_PEAK}
workers = {_CHILD_PEAK}
print(json.dumps({{"seconds": seconds, "cpu_seconds": {_CPU}, "peak_rss_gib": peak, "worker_peak_rss_gib": workers}}))
"""
SEARCH = f"""
import json, sys, time
from pathlib import Path
from tasks.index.corpus import load_index
started = time.perf_counter()
index = load_index(Path(sys.argv[1]), Path(sys.argv[2]))
opened = time.perf_counter() - started
{_PEAK.replace("peak =", "open_peak =")}
latencies = []
for query in json.loads(sys.argv[3]):
    started = time.perf_counter()
    index.search(query, 50)
    latencies.append(time.perf_counter() - started)
{_PEAK}
print(json.dumps({{"open_seconds": opened, "open_rss_gib": open_peak, "latencies": latencies, "peak_rss_gib": peak,
                  "papers": len(index)}}))
"""
APPEND = f"""
import json, sys, time
from pathlib import Path
from tasks.index.corpus import append_papers
started = time.perf_counter()
_, stats = append_papers(Path(sys.argv[1]), Path(sys.argv[3]), Path(sys.argv[2]))
seconds = time.perf_counter() - started
{_PEAK}
print(json.dumps({{"seconds": seconds, "cpu_seconds": {_CPU}, "peak_rss_gib": peak, "added": stats.papers}}))
"""
RECALL = """
import json, sys, time
from pathlib import Path
from statistics import mean
from benchmarks.retrieval import KS, covered_queries, recall
from tasks.retrieve import rank_for_goal
from tasks.settings import Settings
from tasks.sources.paper_source import CorpusSource
settings = Settings()
settings = settings.model_copy(update={"rank": settings.rank.model_copy(update={"maxsim_candidates": 0})})
source = CorpusSource.open(Path(sys.argv[1]), Path(sys.argv[2])).lexical_only()
scores, seconds = {}, []
for row in covered_queries(int(sys.argv[3]), None):
    gold = {p["arxiv_id"] for p in row["cited_paper"]}
    started = time.perf_counter()
    ranked = [r.paper.id for r in rank_for_goal(row["query"], source, settings, max(KS))]
    seconds.append(time.perf_counter() - started)
    for k in KS:
        scores.setdefault(row["source"], {}).setdefault(f"R@{k}", []).append(recall(ranked, gold, k))
print(json.dumps({"sources": {s: {m: round(mean(v), 3) for m, v in b.items()} | {"queries": len(b["R@5"])}
                              for s, b in scores.items()}, "seconds_per_query": mean(seconds)}))
"""
TABLE_START, TABLE_END = "<!-- table: benchmarks/scale.py -->", "<!-- /table -->"


def probe(code: Path, script: str, *args: str, env: dict | None = None) -> dict:
    """Run one measuring script in a fresh interpreter on `code`; its JSON line, with the load average beside it."""
    load = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=os.environ | {"PYTHONPATH": str(code)} | (env or {}),
        capture_output=True,
        text=True,
        cwd=code,
    )
    if done.returncode != 0:
        sys.exit(f"step failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"load": round((load + os.getloadavg()[0]) / 2, 1)}


def corpus_for(papers: int | None) -> Path:
    """The real 96k corpus (None), or the synthetic one of that many papers (generated once)."""
    if papers is None:
        return combined_corpus(Path.home() / ".cache" / "sovereign")
    path = SCALE_DIR / f"arxiv-scale-0-{papers}.jsonl"
    return path if path.is_file() else write_corpus(path, papers)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def research_walls(code: Path, corpus: Path, cache: Path, goals: int) -> list[float]:
    """Wall seconds of `sovereign run` per goal, on a local Prefect server of its own that is up before the first."""
    home = cache / "server"
    env = os.environ | {
        "PYTHONPATH": str(code),
        "SOVEREIGN_SERVER__HOME": str(home),
        "SOVEREIGN_SEARCH__CACHE_DIR": str(cache),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    cli = [sys.executable, "-m", "flows.cli"]
    subprocess.run([*cli, "server", "start"], env=env, cwd=code, check=True, capture_output=True)
    walls = []
    try:
        for goal in GOALS[:goals]:
            started = time.perf_counter()
            out = cache / "runs"
            subprocess.run(
                [*cli, "run", goal, "--corpus", str(corpus), "--out", str(out)],
                env=env,
                cwd=code,
                check=True,
                capture_output=True,
            )
            walls.append(time.perf_counter() - started)
    finally:
        subprocess.run([*cli, "server", "stop"], env=env, cwd=code, capture_output=True)
    return walls


def appends_in_place(code: Path) -> bool:
    """Whether the engine of `code` adds papers to its index without a rebuild."""
    module = code / "tasks" / "index" / "corpus.py"
    return module.is_file() and "def append_papers" in module.read_text()


def directory_gib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**30


def measure(code: Path, papers: int | None, label: str, queries: int, goals: int) -> dict:
    """Every figure of one corpus size on one engine, from a cold cache."""
    corpus = corpus_for(papers)
    cache = SCALE_DIR / f"cache-{re.sub(r'[^a-z0-9]+', '-', label.lower())}-{papers or '96k'}"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    row: dict = {"label": label, "papers_asked": papers or "96k", "corpus": str(corpus)}
    row["build"] = probe(code, BUILD, str(corpus), str(cache))
    row["disk_gib"] = round(directory_gib(cache / "corpus"), 3)
    texts = [q["query"] for q in covered_queries(None, None)][:queries]
    search = probe(code, SEARCH, str(corpus), str(cache), json.dumps(texts))
    latencies = search.pop("latencies")
    row["search"] = search | {
        "queries": len(latencies),
        "p50_ms": round(1000 * percentile(latencies, 0.5), 1),
        "p95_ms": round(1000 * percentile(latencies, 0.95), 1),
    }
    if appends_in_place(code):
        start = 3_000_000  # past any size measured here: new ids
        new = SCALE_DIR / f"arxiv-scale-{start}-{APPEND_PAPERS}.jsonl"
        if not new.is_file():
            write_corpus(new, APPEND_PAPERS, start=start)
        row["append"] = probe(code, APPEND, str(corpus), str(cache), str(new))
    if goals:
        walls = research_walls(code, corpus, cache, goals)
        row["research_run"] = {"goals": len(walls), "median_s": round(median(walls), 1), "walls_s": walls}
    return row


def render(saved: dict) -> str:
    """The Markdown tables of every measured size and recall."""
    lines = [
        "`load`: the 1-minute load average during the step (2 cores, shared: figures stretch with it).",
        "",
        "| engine | papers | build s (load) | build CPU s | build peak RSS GiB (workers) | disk GiB | open s "
        "| open RSS GiB | search p50 / p95 ms (load) | search RSS GiB | append 5k s (CPU s) / RSS GiB "
        "| run wall median s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in saved["sizes"]:
        build, search = row["build"], row["search"]
        append = row.get("append")
        appended = (
            f"{append['seconds']:.1f} ({append['cpu_seconds']:.1f} CPU) / {append['peak_rss_gib']:.2f}"
            if append
            else "full rebuild"
        )
        run = row.get("research_run")
        lines.append(
            f"| {row['label']} | {search['papers']:,} | {build['seconds']:.0f} ({build['load']}) "
            f"| {build.get('cpu_seconds', 0):.0f} "
            f"| {build['peak_rss_gib']:.2f} ({build.get('worker_peak_rss_gib', 0):.2f}) | {row['disk_gib']:.2f} "
            f"| {search['open_seconds']:.2f} | {search['open_rss_gib']:.2f} "
            f"| {search['p50_ms']:.0f} / {search['p95_ms']:.0f} ({search['load']}) | {search['peak_rss_gib']:.2f} "
            f"| {appended} "
            f"| {run['median_s'] if run else '—'} |"
        )
    lines += ["", "| engine (96k, lexical, no dense) | source | queries | R@5 | R@20 | R@100 | s per question (load) |"]
    lines.append("|---|---|---|---|---|---|---|")
    for label, result in sorted(saved["recall"].items()):
        for source, r in sorted(result["sources"].items()):
            lines.append(
                f"| {label} | {source} | {r['queries']} | {r['R@5']} | {r['R@20']} | {r['R@100']} "
                f"| {result['seconds_per_query']:.2f} ({result['load']}) |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", default="96k", help="96k (the real corpus) or a number of synthetic papers")
    parser.add_argument("--label", default="tantivy", help="the engine's name in the results")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose code is measured")
    parser.add_argument(
        "--queries", type=int, default=100, help="questions timed (LitSearch first); --recall: per source"
    )
    parser.add_argument("--goals", type=int, default=3, help="research runs timed (0: none)")
    parser.add_argument("--recall", action="store_true", help="instead: lexical R@5/20/100 at 96k on --code")
    parser.add_argument("--cache", type=Path, default=None, help="--recall: an index cache that has the 96k index")
    args = parser.parse_args()
    code = args.code.resolve()
    if args.recall:
        cache = args.cache or SCALE_DIR / "cache-recall"
        measured = probe(code, RECALL, str(corpus_for(None)), str(cache), str(args.queries))
    else:
        measured = measure(
            code, None if args.papers == "96k" else int(args.papers), args.label, args.queries, args.goals
        )
    print(json.dumps(measured))
    store = RESULTS / "scale.json"  # read after measuring: other sizes may have been saved meanwhile
    saved = json.loads(store.read_text()) if store.is_file() else {"sizes": [], "recall": {}}
    if args.recall:
        saved["recall"][args.label] = measured
    else:
        key = (measured["label"], measured["papers_asked"])
        rows = [r for r in saved["sizes"] if (r["label"], r["papers_asked"]) != key]
        saved["sizes"] = sorted([*rows, measured], key=lambda r: (r["search"]["papers"], r["label"]))
    store.write_text(json.dumps(saved, indent=2) + "\n")
    table = render(saved)
    page = RESULTS / "scale.md"
    text = page.read_text() if page.is_file() else f"{TABLE_START}\n{TABLE_END}\n"
    head, rest = text.split(TABLE_START, 1)
    page.write_text(f"{head}{TABLE_START}\n{table}\n{TABLE_END}{rest.split(TABLE_END, 1)[1]}")
    print(table)


if __name__ == "__main__":
    main()
