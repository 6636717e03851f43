"""Scale of the dense channel: the approximate index (usearch HNSW, int8) against the exact product, by corpus size.

For time and memory only at 2.7M: SYNTHETIC vectors, the real 96k MiniLM vectors of the shared corpus repeated with
Gaussian noise (sd 0.05 a dimension) and normalised, so they cluster as real ones do. Recall is measured where the
vectors are real: the 96k corpus, each query a corpus vector plus noise, against the exact top `k`.
Needs the 96k vectors (`sovereign corpus embed` on both arXiv files). Results go to stdout as JSON.
Run: .venv/bin/python -m benchmarks.scale_ann [--papers 2700000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from benchmarks.common import combined_corpus
from benchmarks.scale_corpus import SCALE_DIR
from tasks.index.corpus import load_index
from tasks.ml.dense import build_ann, load_ann

K = 300  # the dense channel's candidates (HybridSearchSettings.channel_candidates)


def synthetic_vectors(real: np.ndarray, papers: int, path: Path) -> Path:
    """`papers` vectors written to `path` (.npy, float32) slice by slice: real ones repeated, with noise."""
    rng = np.random.default_rng(0)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(papers, real.shape[1]))
    for start in range(0, papers, len(real)):
        count = min(len(real), papers - start)
        piece = np.asarray(real[:count]) + rng.normal(0, 0.05, (count, real.shape[1])).astype(np.float32)
        out[start : start + count] = piece / np.linalg.norm(piece, axis=1, keepdims=True)
    out.flush()
    return path


def latencies(search, queries: np.ndarray) -> dict:
    """p50 and p95 milliseconds of `search` over the queries."""
    times = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        times.append(time.perf_counter() - started)
    times.sort()
    return {
        "p50_ms": round(1000 * times[len(times) // 2], 2),
        "p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=2_700_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    index = load_index(combined_corpus(Path.home() / ".cache" / "sovereign"), Path.home() / ".cache" / "sovereign")
    real = index.dense
    if real is None:
        raise SystemExit("the 96k corpus has no vectors: run `sovereign corpus embed` on it first")
    rng = np.random.default_rng(1)
    queries = np.asarray(real[rng.choice(len(real), args.queries, replace=False)])
    queries = queries + rng.normal(0, 0.05, queries.shape).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    results = {}
    for name, papers in (("96k (real)", len(real)), (f"{args.papers:,} (synthetic)", args.papers)):
        directory = SCALE_DIR / "ann" / str(papers)  # laid out as an index directory: dense/vectors.npy
        vectors_file = directory / "dense" / "vectors.npy"
        vectors_file.parent.mkdir(parents=True, exist_ok=True)
        if papers == len(real):
            np.save(vectors_file, np.asarray(real))
        elif not vectors_file.is_file():
            synthetic_vectors(real, papers, vectors_file)
        vectors = np.load(vectors_file, mmap_mode="r")
        started, cpu = time.perf_counter(), time.process_time()
        ann_file = build_ann(vectors_file, threads=2)
        build = {"seconds": round(time.perf_counter() - started, 1), "cpu_seconds": round(time.process_time() - cpu, 1)}
        started = time.perf_counter()
        ann = load_ann(directory, papers)
        opened = time.perf_counter() - started
        row = {
            "papers": papers,
            "build": build,
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "ann_gib": round(ann_file.stat().st_size / 2**30, 3),
            "vectors_gib": round(vectors_file.stat().st_size / 2**30, 3),
            "open_seconds": round(opened, 3),
            "ann_search": latencies(lambda q, ann=ann: ann.search(q, K), queries),
            "exact_search": latencies(lambda q, v=vectors: np.argpartition(-(v @ q), K)[:K], queries),
        }
        if papers == len(real):
            found = [
                len(set(ann.search(q, K).keys.tolist()) & set(np.argpartition(-(vectors @ q), K)[:K].tolist())) / K
                for q in queries
            ]
            row["recall_at_300"] = round(float(np.mean(found)), 4)
        results[name] = row
        print(json.dumps({name: row}), flush=True)


if __name__ == "__main__":
    main()
