"""Throughput of the corpus-embed flow per Dask worker: 1 and 2 worker processes on loopback, one core each.

A deterministic sample of the shared 96k corpus (every k-th paper) is embedded from scratch by the flow on a real
Dask cluster (a `dask scheduler` and N single-threaded `dask worker` processes, ONNX Runtime on one thread each), once
per cluster size, into a fresh vector store. From the rate per worker it projects the workers needed to embed 2.7M
papers, and a day of new ones, in a nightly window. Results: benchmarks/results/embedding.{json,md}.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from distributed import Client
from prefect.settings import PREFECT_API_URL, PREFECT_HOME, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings

from benchmarks.answerability import prefect_server
from benchmarks.common import combined_corpus, write_results
from flows.embed import embed_flow_on
from tasks.index.corpus import load_index
from tasks.settings import Settings
from tests.embed_helpers import executed_per_worker, loopback_cluster

FULL_CORPUS = 95_955
ARXIV_SNAPSHOT = 2_700_000
# arXiv lists about 20-30k new papers a month; a day is planned at 2,000, above any weekday so far
DAILY_PAPERS = 2_000


def sample_corpus(papers: int, target: Path) -> Path:
    """Every k-th row of the shared 96k corpus, `papers` rows, as JSON Lines at `target`."""
    step = max(1, FULL_CORPUS // papers)
    with gzip.open(combined_corpus(Settings().search.cache_dir), "rt") as rows, open(target, "w") as out:
        kept = 0
        for number, line in enumerate(rows):
            if number % step == 0 and kept < papers:
                out.write(line)
                kept += 1
    return target


def warm_up() -> None:
    """On a worker: import the flow's modules and load the model, so that the timing is of embedding alone."""
    import flows.embed  # noqa: F401  (what the first task would import)
    from tasks.ml.dense import encode

    encode(["warm up"])


def measure(corpus: Path, workers: int, work: Path, timeout: float) -> dict:
    """One from-scratch embedding of the corpus on a loopback cluster of `workers` workers."""
    cache = work / f"workers-{workers}"
    load_index(corpus, cache)  # the lexical index is not what is measured
    env = {"SOVEREIGN_EMBED__ONNX_THREADS": "1"}
    with loopback_cluster(workers, timeout=timeout, env=env, logs=work) as address:
        with Client(address) as client:
            client.run(warm_up)
        load = os.getloadavg()[0]
        started = time.perf_counter()
        summary = embed_flow_on("dask", address=address)(corpus=str(corpus), cache_dir=str(cache))
        seconds = time.perf_counter() - started
        executed = executed_per_worker(address)
    rate = summary.embedded_papers / seconds
    return {
        "workers": workers,
        "papers": summary.embedded_papers,
        "chunks": summary.chunks,
        "chunks_per_worker": executed,
        "seconds": round(seconds, 1),
        "papers_per_second": round(rate, 2),
        "per_worker": round(rate / workers, 2),
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def project(per_worker: float, window_hours: float) -> dict:
    """Workers (one core each) for the whole snapshot and for a day's new papers within the window."""
    window = window_hours * 3600
    return {
        "window_hours": window_hours,
        "snapshot_papers": ARXIV_SNAPSHOT,
        "snapshot_workers": math.ceil(ARXIV_SNAPSHOT / window / per_worker),
        "snapshot_hours_on_one_worker": round(ARXIV_SNAPSHOT / per_worker / 3600, 1),
        "daily_papers": DAILY_PAPERS,
        "daily_minutes_on_one_worker": round(DAILY_PAPERS / per_worker / 60, 1),
    }


def table(rows: list[dict], projection: dict, sampled: int, chunk_papers: int) -> str:
    """The results as Markdown."""
    lines = [
        "# Corpus embedding on a Dask cluster: throughput per worker",
        "",
        f"`python -m benchmarks.embedding --papers {sampled} --chunk-papers {chunk_papers}`: every k-th paper of the "
        "shared 96k corpus, embedded from scratch by `sovereign corpus embed`'s flow on a loopback Dask cluster (a "
        "`dask scheduler`, N `dask worker --nthreads 1` processes, ONNX Runtime on one thread each), "
        "all-MiniLM-L6-v2 at 128 tokens. Wall time of the flow (index load, store lookup, chunks, "
        "assembly), the workers warmed up first (modules imported, model loaded). The machine has 2 cores "
        "shared with other jobs: the load average (1 min) is beside each run.",
        "",
        "| workers | papers | chunks run per worker | seconds | papers/s | per worker | load before → after |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['workers']} | {row['papers']:,} | {row['chunks_per_worker']} | {row['seconds']} | "
            f"{row['papers_per_second']} | {row['per_worker']} | {row['load_before']} → {row['load_after']} |"
        )
    if len(rows) > 1:
        lines += [
            "",
            f"Speed-up of {rows[-1]['workers']} workers over 1: "
            f"{rows[-1]['papers_per_second'] / rows[0]['papers_per_second']:.2f}×.",
        ]
    p, llm = projection, Settings().llm
    loads = [row[key] for row in rows for key in ("load_before", "load_after")]
    nim_rate = llm.requests_per_minute * llm.embed_batch_size / 60
    lines += [
        "",
        f"## Projection (at {p['per_worker']} papers/s per worker, one core each)",
        "",
        f"- The 2.7M-paper snapshot: {p['snapshot_hours_on_one_worker']:,} worker-hours; in a nightly window of "
        f"{p['window_hours']:g} hours, **{p['snapshot_workers']} workers** (cores).",
        f"- A day of new papers ({p['daily_papers']:,}): {p['daily_minutes_on_one_worker']} minutes on one worker; "
        "only new or changed papers are embedded (the store is keyed by paper id and text).",
        f"- With `--embedder nim` the workers wait on the endpoint, not their cores: the `sovereign-nim` rate limit "
        f"({llm.requests_per_minute:g} requests a minute of {llm.embed_batch_size} texts) caps the whole cluster at "
        f"{nim_rate:.1f} papers/s: {ARXIV_SNAPSHOT / nim_rate / 3600:,.0f} hours for the snapshot, "
        f"{DAILY_PAPERS / nim_rate / 60:.1f} minutes for a day; the snapshot needs a self-hosted NIM or a higher "
        "limit.",
        "",
        f"Every run shared the 2 cores with other jobs' processes (load average {min(loads):.0f}-{max(loads):.0f}), "
        "so a worker had a fraction of a core: the rates per worker are lower bounds for a dedicated core, the "
        "projection from them is conservative, and the second worker's gain is its share of the contended cores.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=2000, help="papers sampled from the 96k corpus")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="cluster sizes to measure")
    parser.add_argument("--chunk-papers", type=int, default=100, help="papers per chunk (SOVEREIGN_EMBED__…)")
    parser.add_argument("--window-hours", type=float, default=8.0, help="the nightly window")
    parser.add_argument("--timeout", type=float, default=120.0, help="cluster start and connect timeout, seconds")
    parser.add_argument("--api-url", default=None, help="a running Prefect server's API URL")
    args = parser.parse_args()
    os.environ["SOVEREIGN_EMBED__CHUNK_PAPERS"] = str(args.chunk_papers)
    with tempfile.TemporaryDirectory(prefix="embedding-bench-") as tmp:
        work = Path(tmp)
        corpus = sample_corpus(args.papers, work / "sample.jsonl")
        home = work / "prefect-home"
        home.mkdir()
        with nullcontext(args.api_url) if args.api_url else prefect_server(home) as api:
            overrides = {PREFECT_API_URL: api, PREFECT_HOME: home, PREFECT_SERVER_ANALYTICS_ENABLED: False}
            with temporary_settings(overrides):
                rows = [measure(corpus, workers, work, args.timeout) for workers in args.workers]
    per_worker = rows[0]["per_worker"]
    projection = {"per_worker": per_worker, **project(per_worker, args.window_hours)}
    payload = {"chunk_papers": args.chunk_papers, "runs": rows, "projection": projection}
    write_results("embedding", payload, table(rows, projection, args.papers, args.chunk_papers))
    print(json.dumps(payload))


if __name__ == "__main__":
    main()
