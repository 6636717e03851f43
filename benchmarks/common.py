"""Shared by the benchmarks: where the data is, the combined corpus, writing results."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

from tasks.io.atomic import staged_file

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
ARXIV_FILES = [
    DATA / "arxiv" / "daily_arxiv_cs_2025-03_to_2026-07.jsonl.gz",
    DATA / "arxiv" / "llm_papers_catalog.jsonl.gz",
]


def require_data(*paths: Path) -> None:
    """Exit with a clear message when the shared data is not on this machine."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        sys.exit(f"benchmark skipped: shared data absent ({', '.join(missing)})")


def combined_corpus(cache_dir: Path) -> Path:
    """Both arXiv files as one JSON Lines corpus (built once; the repository never holds the data)."""
    require_data(*ARXIV_FILES)
    target = cache_dir / "bench" / "arxiv_all.jsonl.gz"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with staged_file(target) as staging, gzip.open(staging, "wb", compresslevel=1) as out:
            for path in ARXIV_FILES:
                with gzip.open(path, "rb") as src:
                    shutil.copyfileobj(src, out)
    return target


def write_results(name: str, payload: dict, table: str) -> None:
    """benchmarks/results/<name>.json and .md."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(table.rstrip() + "\n")
    print(table)
