"""Answerability: does the whole flow keep the paper that answers a real long question, and does its score know?

Each covered ScholarGym question (PaSa AutoScholar: tune here; LitSearch: held out, report only, never tune on it)
runs twice through research_flow, offline: on both arXiv files (95,955 papers, "present"), and on the same corpus
without the gold papers ("removed"). One reduced corpus drops the gold papers of every question in the run at once
(one index build instead of one per question), so a question's "removed" run also misses other questions' gold.
When the full corpus has its dense vectors, the reduced one's are assembled from the vector store first
(`sovereign corpus embed`, seconds), so that both conditions search alike.
Per set: gold paper kept, AUTO_APPROVE rate in each condition, approval precision (AUTO_APPROVE briefs with the gold
present that keep a gold paper), AUROC of the tribunal score between the conditions and of four signals a brief could
use instead (`brief_signals`), policy counts, median run time.

Run: .venv/bin/python -m benchmarks.answerability [--limit 30] [--source LitSearch|PASA_AutoScholar] [--max-gold N]
     [--api-url URL] [--reports DIR]
Without --api-url it starts the project's local Prefect server (flows/server.py) in a temporary home, one for all
runs (Prefect's ephemeral server would cost ~12 s of start-up per run). Briefs and stage results go to a temporary
directory, so no run reuses stages cached by another code version.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import inspect
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from statistics import median

from prefect.settings import PREFECT_API_URL, PREFECT_HOME, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings
from sklearn.metrics import roc_auc_score

from benchmarks.common import combined_corpus, write_results
from benchmarks.retrieval import SOURCES, covered_queries
from flows.server import ensure_server, stop_server
from tasks.io.atomic import staged_file
from tasks.settings import LocalServerSettings, Settings
from tasks.sources.paper_source import CorpusSource

CONDITIONS = ("present", "removed")
POLICIES = ("AUTO_APPROVE", "SOFT_APPROVE", "HUMAN_REVIEW", "REJECT")
# Best first: a question's outcome is that of its best-placed gold paper.
GOLD_OUTCOMES = ("kept", "dropped by a revision", "passed the gate, not kept", "below the gate", "not a candidate")


def arxiv_id(paper_id: str) -> str:
    """An arXiv id without its version suffix."""
    return re.sub(r"v\d+$", "", paper_id)


def gold_ids(row: dict) -> set[str]:
    return {p["arxiv_id"] for p in row["cited_paper"]}


def corpus_without(corpus: Path, drop: set[str], cache_dir: Path, tag: str) -> Path:
    """The corpus minus the papers in `drop` (every row of each), written once under the cache dir."""
    digest = hashlib.sha256(" ".join(sorted(drop)).encode()).hexdigest()[:12]
    target = cache_dir / "bench" / f"arxiv_{tag}_{digest}.jsonl.gz"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with (
            staged_file(target) as staging,
            gzip.open(corpus, "rt") as src,
            gzip.open(staging, "wt", compresslevel=1) as out,
        ):
            out.writelines(line for line in src if arxiv_id(json.loads(line)["id"]) not in drop)
    return target


def open_conditions(drop: set[str], cache_dir: Path) -> dict[str, CorpusSource]:
    """The full corpus and the one without `drop`, both with dense corpus vectors or both without."""
    full = combined_corpus(cache_dir)
    drops = {"present": set(), "removed": drop}
    paths = {"present": full, "removed": corpus_without(full, drop, cache_dir, "without-gold")}
    sources = {condition: CorpusSource.open(path, cache_dir) for condition, path in paths.items()}
    if sources["present"].dense_model and not sources["removed"].dense_model:
        # Every paper of the reduced corpus is in the vector store already: its vectors assemble in seconds.
        subprocess.run([sys.executable, "-m", "flows.cli", "corpus", "embed", str(paths["removed"])], check=True)
        sources["removed"] = CorpusSource.open(paths["removed"], cache_dir)
    if sources["present"].dense_model != sources["removed"].dense_model:
        # Vectors are stored per content hash, so a fresh copy of the condition that has them is searched without.
        for condition, source in sources.items():
            if source.dense_model:
                path = corpus_without(full, drops[condition], cache_dir, f"{condition}-lexical")
                sources[condition] = CorpusSource.open(path, cache_dir)
    return sources


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """The project's local Prefect server under `home`, one for all runs; yields its API URL, then stops it."""
    settings = LocalServerSettings(home=home)
    server, _ = ensure_server(settings)
    try:
        yield server.api_url
    finally:
        stop_server(settings)


def gold_outcome(candidate: dict | None, threshold: float) -> str:
    """Why a gold paper is or is not kept: retrieval never found it, the relevance gate, more relevant papers, or a
    revision that set it aside as off-topic."""
    if candidate is None:
        return "not a candidate"
    if candidate["kept"]:
        return "kept"
    if candidate.get("dropped"):  # reports written before revisions kept dropped papers listed have no such field
        return "dropped by a revision"
    return "passed the gate, not kept" if candidate["relevance"] >= threshold else "below the gate"


def brief_signals(report: dict) -> dict[str, float]:
    """What a brief could know of having found the answer, beside its score: the best kept paper's embedding
    similarity and relevance to the goal, the largest share of the goal's aspects one paper's evidence addresses, and
    the share addressed at all. Each signal's AUROC between the conditions tells whether it carries that knowledge."""
    kept = [c for c in report["candidates"] if c["kept"]]
    coverage = report.get("draft", {}).get("coverage", [])
    per_paper = Counter(pid for verdict in coverage for pid in verdict["paper_ids"])
    aspects = len(coverage) or 1
    return {
        "best kept similarity": max((c.get("similarity", 0.0) for c in kept), default=0.0),
        "best kept relevance": max((c["relevance"] for c in kept), default=0.0),
        "aspects one paper addresses": max(per_paper.values(), default=0) / aspects,
        "aspects addressed": sum(bool(verdict["claim_ids"]) for verdict in coverage) / aspects,
    }


def run_record(report: dict, gold: set[str], seconds: float) -> dict:
    """What one run says about answerability, from its report.json."""
    threshold = report["settings"]["rank"]["relevance_threshold"]  # SOVEREIGN_RANK__RELEVANCE_THRESHOLD
    found: dict[str, tuple[int, dict]] = {}
    for rank, candidate in enumerate(report["candidates"], 1):  # in fused order
        found.setdefault(arxiv_id(candidate["paper"]["id"]), (rank, candidate))
    gold_papers = [
        {
            "id": pid,
            "rank": found[pid][0] if pid in found else None,
            "relevance": found[pid][1].get("relevance") if pid in found else None,
            "outcome": gold_outcome(found[pid][1] if pid in found else None, threshold),
        }
        for pid in sorted(gold)
    ]
    best = min((g["outcome"] for g in gold_papers), key=GOLD_OUTCOMES.index)
    return {
        "policy": report["decision"]["policy"],
        "decision_score": report["decision"]["score"],
        "tribunal_score": report["tribunal"]["score"],
        "signals": brief_signals(report),
        "kept_ids": [pid for pid, (_, c) in found.items() if c["kept"]],
        "gold_kept": best == "kept",
        "gold_outcome": best,
        "gold_papers": gold_papers,
        "failed_gates": report["decision"].get("failed_gates", []),
        "reasons": report["decision"]["reasons"],
        "seconds": round(seconds, 2),
        "stage_seconds": report["stage_seconds"],
    }


def share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def auroc(rows: list[dict], value: Callable[[dict], float] = lambda run: run["tribunal_score"]) -> float | None:
    """AUROC of a run's value (the tribunal score unless told), gold present (positive) vs removed."""
    scores = [value(r[c]) for c in CONDITIONS for r in rows]
    labels = [c == "present" for c in CONDITIONS for _ in rows]
    return round(float(roc_auc_score(labels, scores)), 3) if rows else None


def signal_aurocs(rows: list[dict]) -> str:
    """Each brief signal's AUROC, present vs removed, in `brief_signals`' order (runs recorded before it: none)."""
    if not rows or not all("signals" in r[c] for r in rows for c in CONDITIONS):
        return "–"
    names = list(rows[0]["present"]["signals"])
    return " / ".join(str(auroc(rows, lambda run, name=name: run["signals"][name])) for name in names)


def policy_counts(rows: list[dict], condition: str) -> str:
    counts = Counter(r[condition]["policy"] for r in rows)
    return " / ".join(str(counts[p]) for p in POLICIES)


def misses(rows: list[dict]) -> str:
    """Questions whose gold paper is not kept with the gold present, by reason (GOLD_OUTCOMES, worst first)."""
    counts = Counter(r["present"]["gold_outcome"] for r in rows)
    return " / ".join(str(counts[reason]) for reason in reversed(GOLD_OUTCOMES[1:]))


# One line per measure: name → summary of a set's rows. Add a measure here and it reaches the JSON and the table.
MEASURES: dict[str, Callable[[list[dict]], object]] = {
    "questions": len,
    "gold paper kept": lambda rows: share([r["present"]["gold_kept"] for r in rows]),
    "AUTO_APPROVE, gold present": lambda rows: share([r["present"]["policy"] == "AUTO_APPROVE" for r in rows]),
    "AUTO_APPROVE, gold removed": lambda rows: share([r["removed"]["policy"] == "AUTO_APPROVE" for r in rows]),
    "approval precision": lambda rows: share(
        [r["present"]["gold_kept"] for r in rows if r["present"]["policy"] == "AUTO_APPROVE"]
    ),
    "tribunal score AUROC, present vs removed": auroc,
    "signal AUROC: best kept similarity / best kept relevance / aspects one paper addresses / aspects addressed": (
        signal_aurocs
    ),
    "policies AUTO/SOFT/HUMAN/REJECT, present": lambda rows: policy_counts(rows, "present"),
    "policies AUTO/SOFT/HUMAN/REJECT, removed": lambda rows: policy_counts(rows, "removed"),
    "gold not kept: not a candidate / below the gate / passed the gate, not kept / dropped by a revision": misses,
    "median run seconds": lambda rows: round(median(r[c]["seconds"] for r in rows for c in CONDITIONS), 1),
}


def summarise(rows: list[dict]) -> dict[str, dict[str, object]]:
    """Every measure for each source's rows."""
    sources = sorted({r["source"] for r in rows})
    return {s: {name: fn([r for r in rows if r["source"] == s]) for name, fn in MEASURES.items()} for s in sources}


def markdown(summary: dict[str, dict[str, object]], notes: list[str]) -> str:
    sources = list(summary)
    lines = [f"| measure | {' | '.join(sources)} |", "|---|" + "---|" * len(sources)]
    lines += [f"| {name} | {' | '.join(str(summary[s][name]) for s in sources)} |" for name in MEASURES]
    return "\n".join([*lines, "", *notes])


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True).stdout.strip()


def commits(repo: Path) -> dict[str, str]:
    """HEAD ('+dirty' when the code has uncommitted changes) and the last commit that changed the kernel."""
    dirty = git(repo, "status", "--porcelain", "--untracked-files=no", "--", "tasks", "flows", "benchmarks/*.py")
    return {
        "commit": git(repo, "rev-parse", "HEAD") + ("+dirty" if dirty else ""),
        "kernel_commit": git(repo, "log", "-1", "--format=%H", "--", "tasks", "flows"),
    }


@contextmanager
def offline_runs(work: Path, api_url: str | None = None) -> Iterator[Callable[[str, Path], str]]:
    """A function that runs research_flow offline on a goal and a corpus and returns its report's JSON, every run
    against one Prefect server: `api_url`, or a local one under `work`."""
    home = work / "prefect-home"
    home.mkdir(exist_ok=True)
    with nullcontext(api_url) if api_url else prefect_server(home) as api:
        overrides = {PREFECT_API_URL: api, PREFECT_HOME: home, PREFECT_SERVER_ANALYTICS_ENABLED: False}
        with temporary_settings(overrides):
            from flows.research import research_flow  # after the temporary settings: the flow reads them when it runs

            flow = research_flow.with_options(result_storage=work / "results")
            # one progress line per run instead of every stage's log lines and PDF font notices
            logging.getLogger("prefect").setLevel(logging.WARNING)
            logging.getLogger("weasyprint").setLevel(logging.ERROR)

            def run(goal: str, corpus: Path) -> str:
                brief = flow(
                    goal=goal,
                    corpus=str(corpus),
                    out_dir=str(work / "runs"),
                    approval_timeout_seconds=0,
                    llm_backend="offline",
                    embedder_backend="offline",
                )
                return Path(brief.json).read_text()

            yield run


def measure(
    questions: list[dict], sources: dict[str, CorpusSource], run: Callable[[str, Path], str], reports: Path | None
) -> list[dict]:
    """Both conditions for every question, each a research run by `run`."""
    rows = []
    for number, question in enumerate(questions, 1):
        gold = gold_ids(question)
        row = {"qid": question["qid"], "source": question["source"], "query": question["query"], "gold": sorted(gold)}
        for condition, source in sources.items():
            started = time.perf_counter()
            report = run(question["query"], source.path)
            seconds = time.perf_counter() - started
            row[condition] = run_record(json.loads(report), gold, seconds)
            if reports:
                (reports / f"{question['qid']}-{condition}.json").write_text(report)
        rows.append(row)
        present, removed = row["present"], row["removed"]
        print(
            f"{number}/{len(questions)} {question['qid']}: gold kept {present['gold_kept']}, "
            f"{present['policy']} {present['tribunal_score']:.2f} / removed {removed['policy']} "
            f"{removed['tribunal_score']:.2f}, {present['seconds']:.0f}+{removed['seconds']:.0f} s",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=30, help="the first N covered questions of each source")
    parser.add_argument("--source", choices=SOURCES, default=None)
    parser.add_argument(
        "--max-gold", type=int, default=None, help="only questions with at most N gold papers (a specific question)"
    )
    parser.add_argument("--api-url", default=None, help="a running Prefect server's API URL")
    parser.add_argument("--reports", type=Path, default=None, help="keep each run's report.json in this directory")
    args = parser.parse_args()
    project = Path(inspect.getfile(Settings)).resolve().parents[1]  # the code measured: PYTHONPATH's or the install's
    measured = commits(project)  # now: the checkout may move on while the runs take their time
    cache_dir = Settings().search.cache_dir
    questions = covered_queries(args.limit, args.source, args.max_gold)
    if args.reports:
        args.reports.mkdir(parents=True, exist_ok=True)
    drop = set().union(*map(gold_ids, questions))
    sources = open_conditions(drop, cache_dir)
    with tempfile.TemporaryDirectory(prefix="answerability-") as tmp, offline_runs(Path(tmp), args.api_url) as run:
        rows = measure(questions, sources, run, args.reports)
    summary = summarise(rows)
    payload = {
        **measured,
        "server": args.api_url or "local Prefect server (one for all runs)",
        "corpora": {
            c: {"path": str(s.path), "papers": len(s.index), "dense_model": s.dense_model} for c, s in sources.items()
        },
        "gold_papers_removed": len(drop),
        "summary": summary,
        "rows": rows,
    }
    present, removed = payload["corpora"]["present"], payload["corpora"]["removed"]
    notes = [
        f"Kernel at {payload['kernel_commit'][:12]} (repository {payload['commit'][:12]}), offline backends, "
        f"corpus dense vectors: {present['dense_model'] or 'none'} (present) / {removed['dense_model'] or 'none'} "
        "(removed).",
        f"Gold removed: one corpus without the union of all {len(drop)} gold papers of the run's questions "
        f"({present['papers']} → {removed['papers']} papers), not each question's own gold alone.",
        "Policies count AUTO_APPROVE / SOFT_APPROVE / HUMAN_REVIEW / REJECT. Run seconds: the flow call, server up.",
    ]
    write_results("answerability", payload, markdown(summary, notes))


if __name__ == "__main__":
    main()
