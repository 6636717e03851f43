"""Retrieval: recall@5/20/100 of gold papers, plain BM25 on the question vs the project's search stages.

Queries: ScholarGym rows whose gold papers are all in ../shared/data/arxiv (LitSearch, PaSa AutoScholar).
Run: .venv/bin/python -m benchmarks.retrieval [--limit N] [--source LitSearch|PASA_AutoScholar]
"""

from __future__ import annotations

import argparse
import json
import time
from statistics import mean

import bm25s

from benchmarks.common import DATA, combined_corpus, require_data, write_results
from tasks.retrieve import rank_for_goal
from tasks.settings import Settings
from tasks.sources.paper_source import CorpusSource

BENCH = DATA / "litsearch" / "scholargym"
KS = (5, 20, 100)
SOURCES = ("LitSearch", "PASA_AutoScholar")


def covered_queries(limit: int | None, source: str | None, max_gold: int | None = None) -> list[dict]:
    """Benchmark rows whose every gold paper is in the shared arXiv corpus (given `max_gold`, at most that many)."""
    require_data(BENCH / "scholargym_bench.jsonl", BENCH / "gold_coverage_in_shared_arxiv.jsonl")
    covered = {
        row["qid"]
        for row in map(json.loads, open(BENCH / "gold_coverage_in_shared_arxiv.jsonl"))
        if row["all_gold_covered"]
    }
    rows = [
        row
        for row in map(json.loads, open(BENCH / "scholargym_bench.jsonl"))
        if row["qid"] in covered
        and row["source"] in SOURCES
        and (source is None or row["source"] == source)
        and (max_gold is None or len(row["cited_paper"]) <= max_gold)
    ]
    per_source: dict[str, list[dict]] = {}
    for row in rows:
        per_source.setdefault(row["source"], []).append(row)
    return [r for rs in per_source.values() for r in (rs[:limit] if limit else rs)]


def recall(ranked: list[str], gold: set[str], k: int) -> float:
    return len(gold & set(ranked[:k])) / len(gold)


class PlainBM25:
    """The baseline: bm25s over title + abstract with English stop words, the question as the query."""

    def __init__(self, source: CorpusSource):
        papers = source.index.papers
        self.ids = source.index.ids
        titles, abstracts = papers.column("title").to_pylist(), papers.column("abstract").to_pylist()
        corpus = [f"{title}. {abstract}" for title, abstract in zip(titles, abstracts)]
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)

    def search(self, query: str, k: int) -> list[str]:
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        rows, _ = self.retriever.retrieve(tokens, k=k, show_progress=False)
        return [self.ids[int(r)] for r in rows[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="at most N queries per source")
    parser.add_argument("--source", choices=SOURCES, default=None)
    args = parser.parse_args()
    settings = Settings()
    corpus = combined_corpus(settings.search.cache_dir)
    started = time.perf_counter()
    source = CorpusSource.open(corpus, settings.search.cache_dir, settings.search.hybrid)
    load_seconds = time.perf_counter() - started
    baseline = PlainBM25(source)
    methods = {"sovereign": (source, settings)}
    if source.dense_model:  # the dense extra's vectors are built (`sovereign corpus embed`): measure both
        without_dense = settings.model_copy(update={"rank": settings.rank.model_copy(update={"maxsim_candidates": 0})})
        methods = {"sovereign lexical": (source.lexical_only(), without_dense), "sovereign +dense": (source, settings)}
    rows = covered_queries(args.limit, args.source)
    scores: dict[str, dict[str, list[float]]] = {}
    latencies = []
    for row in rows:
        gold = {p["arxiv_id"] for p in row["cited_paper"]}
        rankings = {"bm25": baseline.search(row["query"], max(KS))}
        for method, (method_source, method_settings) in methods.items():
            t = time.perf_counter()
            ranked = rank_for_goal(row["query"], method_source, method_settings, max(KS))
            rankings[method] = [r.paper.id for r in ranked]
            latencies.append(time.perf_counter() - t)
        for method, ranked in rankings.items():
            bucket = scores.setdefault(f"{row['source']}|{method}", {})
            for k in KS:
                bucket.setdefault(f"R@{k}", []).append(recall(ranked, gold, k))
    summary = {
        key: {metric: round(mean(values), 3) for metric, values in bucket.items()} | {"queries": len(bucket["R@5"])}
        for key, bucket in scores.items()
    }
    payload = {
        "corpus_papers": len(source.index),
        "dense_model": source.dense_model,
        "index_load_seconds": round(load_seconds, 2),
        "sovereign_query_seconds_mean": round(mean(latencies), 3),
        "settings_hash": settings.fingerprint(),
        "results": summary,
    }
    lines = ["| source | method | queries | R@5 | R@20 | R@100 |", "|---|---|---|---|---|---|"]
    for key, values in sorted(summary.items()):
        src, method = key.split("|")
        lines.append(
            f"| {src} | {method} | {values['queries']} | {values['R@5']} | {values['R@20']} | {values['R@100']} |"
        )
    write_results("retrieval", payload, "\n".join(lines))


if __name__ == "__main__":
    main()
