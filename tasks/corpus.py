"""Local corpus: load JSON Lines / Parquet rows, build a cached BM25 + LSA index keyed by content hash."""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

import bm25s
import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel

from tasks.atomic import staged_directory
from tasks.dense import encode, load_dense
from tasks.embedders import LsaModel
from tasks.models import Paper, normalize_id, paper_text
from tasks.text import content_terms

INDEX_FORMAT = 3
PAPER_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("title", pa.string()),
        ("abstract", pa.string()),
        ("authors", pa.list_(pa.string())),
        ("categories", pa.list_(pa.string())),
        ("published", pa.string()),
        ("url", pa.string()),
    ]
)
# Hybrid search knobs, tuned on the PaSa AutoScholar queries (benchmarks/retrieval.py).
CANDIDATES_PER_CHANNEL = 300
FEEDBACK_DOCS, FEEDBACK_TERMS, FEEDBACK_MIN_DF = 10, 10, 3
# The dense channel's vote in the fusion; 2 and 3 lowered AutoScholar R@20 (0.266 → 0.249 / 0.253).
DENSE_WEIGHT = 1.0
# Dense feedback (Rocchio): the query's vector plus the mean of the papers the channels rank highest, searched again.
# AutoScholar R@5 / R@20 / R@100, without it 0.164 / 0.270 / 0.414; at weight 0.5: 0.165 / 0.277 / 0.426; at 1:
# 0.156 / 0.281 / 0.429.
DENSE_FEEDBACK_DOCS = 5
DENSE_FEEDBACK_WEIGHT = 0.5
_SURROGATE = re.compile("[\ud800-\udfff]")


class CorpusError(ValueError):
    """The corpus cannot be used; the message says why and what to do."""


class CorpusStats(BaseModel):
    """What loading a corpus kept and skipped."""

    rows_read: int = 0
    papers: int = 0
    skipped_missing_fields: int = 0
    skipped_malformed: int = 0
    duplicates: int = 0


def _as_list(value: object, sep: str) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        if sep == "authors":
            parts = re.split(r",\s*|\s+and\s+", value)
        else:
            parts = value.split()
        return [p.strip() for p in parts if p.strip()]
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [str(value)]


def _date(row: dict) -> str | None:
    for key in ("published", "update_date", "first_listed", "date", "year"):
        value = row.get(key)
        if value not in (None, "") and not (isinstance(value, float) and np.isnan(value)):
            return str(value)
    return None


def paper_from_row(row: dict) -> Paper | None:
    """A Paper from one corpus row, or None when id, title or abstract is missing."""
    values = {k: row.get(k) for k in ("id", "title", "abstract")}
    if not all(isinstance(v, (str, int, float)) and str(v).strip() for v in values.values()):
        return None
    if any(isinstance(v, float) and np.isnan(v) for v in values.values()):
        return None
    paper_id = normalize_id(values["id"])
    if not paper_id:  # "arXiv:" or a bare "v2" normalises to nothing
        return None
    return Paper(
        id=paper_id,
        title=" ".join(str(values["title"]).split()),
        abstract=str(values["abstract"]).strip(),
        authors=_as_list(row.get("authors"), "authors"),
        categories=_as_list(row.get("categories"), "categories"),
        published=_date(row),
        url=row.get("abs_url") if isinstance(row.get("abs_url"), str) else None,
    )


def _scrub(value: object) -> object:
    """Lone UTF-16 surrogates (a JSON "\\ud800" escape) as U+FFFD: Parquet and the PDF need valid UTF-8."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


def _json_rows(path: Path, stats: CorpusStats) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            stats.rows_read += 1
            try:
                row = json.loads(line.decode("utf-8", errors="replace"))
                if b"\\ud" in line.lower():  # only a \u escape can produce a surrogate; skip the walk otherwise
                    row = _scrub(row)
            except json.JSONDecodeError:
                stats.skipped_malformed += 1
                continue
            if not isinstance(row, dict):
                stats.skipped_malformed += 1
                continue
            yield row


def _parquet_rows(path: Path, stats: CorpusStats) -> Iterator[dict]:
    for row in pd.read_parquet(path).to_dict(orient="records"):
        stats.rows_read += 1
        yield row


def load_papers(path: Path) -> tuple[list[Paper], CorpusStats]:
    """Every usable paper of the corpus file (first occurrence of an id wins) and what was skipped."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus not found: {path} (give a .jsonl, .jsonl.gz or .parquet file)")
    if not os.access(path, os.R_OK):
        raise CorpusError(f"corpus not readable: {path}")
    stats = CorpusStats()
    rows = _parquet_rows(path, stats) if path.suffix == ".parquet" else _json_rows(path, stats)
    papers: dict[str, Paper] = {}
    try:
        for row in rows:
            paper = paper_from_row(row)
            if paper is None:
                stats.skipped_missing_fields += 1
            elif paper.id in papers:
                stats.duplicates += 1
            else:
                papers[paper.id] = paper
    except (OSError, EOFError, ValueError) as exc:
        raise CorpusError(f"cannot read corpus {path}: {exc}") from exc
    stats.papers = len(papers)
    if not papers:
        raise CorpusError(f"corpus {path} has no rows with id, title and abstract")
    return list(papers.values()), stats


def file_hash(path: Path) -> str:
    """sha256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class CorpusIndex:
    """A loaded corpus index: papers, BM25 over stemmed content terms, and the LSA model."""

    content_hash: str
    papers: pa.Table
    ids: list[str]
    rows: dict[str, int]
    bm25: bm25s.BM25
    title_bm25: bm25s.BM25
    lsa: LsaModel
    meta: dict
    # all-MiniLM-L6-v2 vectors of every paper, once `sovereign corpus embed` has built them (the dense extra)
    dense: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.papers)

    def paper(self, row: int) -> Paper:
        """The paper at a row of the index."""
        return Paper.model_validate(self.papers.slice(row, 1).to_pylist()[0])

    def texts(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The indexed text of the papers in rows start to stop (default: all), in row order."""
        rows = self.papers.slice(start, (len(self) if stop is None else stop) - start)
        columns = zip(rows.column("title").to_pylist(), rows.column("abstract").to_pylist())
        return [paper_text(Paper.model_construct(title=title, abstract=abstract)) for title, abstract in columns]

    def row_of(self, paper_id: str) -> int | None:
        """The row of a paper id, or None when the corpus lacks it."""
        return self.rows.get(normalize_id(paper_id))

    def _lexical(self, index: bm25s.BM25, terms: list[str], k: int) -> list[int]:
        tokens = [t for t in terms if t in index.vocab_dict]
        if not tokens:
            return []
        rows, scores = index.retrieve([tokens], k=min(k, len(self)), show_progress=False, n_threads=1)
        return [int(r) for r, s in zip(rows[0], scores[0]) if s > 0]

    def _feedback_terms(self, rows: list[int], query_terms: set[str]) -> list[str]:
        """Pseudo-relevance feedback: terms most of the top documents share that the query lacks."""
        counts = Counter(t for r in rows[:FEEDBACK_DOCS] for t in set(content_terms(paper_text(self.paper(r)))))
        # Ties broken by the term itself: set iteration order varies with PYTHONHASHSEED.
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        common = [t for t, n in ranked if n >= FEEDBACK_MIN_DF and t not in query_terms]
        return common[:FEEDBACK_TERMS]

    def _nearest(self, vector: np.ndarray, k: int) -> list[int]:
        """Rows of the papers whose dense vectors are closest to `vector`."""
        similarity = self.dense @ vector
        top = np.argpartition(-similarity, min(k, len(self)) - 1)[:k]
        return [int(r) for r in top[np.argsort(-similarity[top], kind="stable")]]

    def _lexical_channels(self, query: str, terms: list[str]) -> list[list[int]]:
        """BM25 over abstracts with feedback, BM25 over titles, and their candidates by LSA similarity."""
        body = self._lexical(self.bm25, terms, CANDIDATES_PER_CHANNEL)
        if not body:
            return []
        expansion = self._feedback_terms(body, set(terms))
        expanded = self._lexical(self.bm25, terms * 2 + expansion, CANDIDATES_PER_CHANNEL) if expansion else body
        titles = self._lexical(self.title_bm25, terms, CANDIDATES_PER_CHANNEL)
        candidates = list(dict.fromkeys(expanded + titles))
        vectors = self.lsa.transform([paper_text(self.paper(r)) for r in candidates])
        similarity = vectors @ self.lsa.transform([query])[0]
        return [expanded, titles, [candidates[i] for i in np.argsort(-similarity, kind="stable")]]

    def search(self, query: str, limit: int) -> list[Paper]:
        """Hybrid ranking: the lexical channels and, when built, dense neighbours with feedback, fused by RRF."""
        terms = content_terms(query)
        if not terms:
            return []
        channels = self._lexical_channels(query, terms)
        weights = [1.0] * len(channels)
        if self.dense is not None:
            vector = encode([query])[0].astype(np.float32)
            channels.append(self._nearest(vector, CANDIDATES_PER_CHANNEL))
            weights.append(DENSE_WEIGHT)
            top = reciprocal_rank_fusion(channels, weights=weights)[:DENSE_FEEDBACK_DOCS]
            moved = vector + self.dense[top].mean(axis=0)
            channels.append(self._nearest(moved / np.linalg.norm(moved), CANDIDATES_PER_CHANNEL))
            weights.append(DENSE_FEEDBACK_WEIGHT)
        return [self.paper(r) for r in reciprocal_rank_fusion(channels, weights=weights)[:limit]]


def reciprocal_rank_fusion(rankings: list[list], k: int = 60, weights: list[float] | None = None) -> list:
    """Items of several rankings ordered by the sum of weight / (k + rank)."""
    scores: dict = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank + 1)
    return sorted(scores, key=lambda item: -scores[item])


def _build(papers: list[Paper], stats: CorpusStats, source: Path, content_hash: str, target: Path) -> None:
    started = time.perf_counter()
    # Arrow IPC, memory-mapped at load: opening a 96k-paper index costs milliseconds, not a Parquet decode.
    with pa.OSFile(str(target / "papers.arrow"), "wb") as sink:
        table = pa.Table.from_pylist([p.model_dump() for p in papers], schema=PAPER_SCHEMA)
        with pa.ipc.new_file(sink, PAPER_SCHEMA) as writer:
            writer.write_table(table)
    tokens = [content_terms(paper_text(p)) for p in papers]
    if not any(tokens):  # bm25s cannot index an empty vocabulary
        raise CorpusError(f"corpus {source} has no searchable words in its titles and abstracts")
    bm25 = bm25s.BM25()
    bm25.index(tokens, show_progress=False)
    bm25.save(str(target / "bm25"))
    titles = [content_terms(p.title) for p in papers]
    title_bm25 = bm25s.BM25()
    # titles with no searchable word at all (e.g. only numbers): the title channel searches the whole text
    title_bm25.index(titles if any(titles) else tokens, show_progress=False)
    title_bm25.save(str(target / "title_bm25"))
    LsaModel.fit(tokens).save(target / "lsa.joblib")
    meta = {
        "format": INDEX_FORMAT,
        "source": str(source),
        "content_hash": content_hash,
        "stats": stats.model_dump(),
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    (target / "meta.json").write_text(json.dumps(meta, indent=2))


def index_dir(cache_dir: Path, content_hash: str) -> Path:
    return Path(cache_dir) / "corpus" / f"{content_hash[:20]}-v{INDEX_FORMAT}"


def ingest_corpus(path: Path, cache_dir: Path) -> tuple[Path, bool]:
    """Build the corpus index once; returns its directory and whether it was built now."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus not found: {path} (give a .jsonl, .jsonl.gz or .parquet file)")
    content_hash = file_hash(path)
    target = index_dir(cache_dir, content_hash)
    if (target / "meta.json").is_file():
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    # Runs starting together on a cold cache build the index once: the others wait here, then find it built.
    with open(target.with_name(f"{target.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "meta.json").is_file():
            return target, False
        papers, stats = load_papers(path)
        with staged_directory(target) as staging:
            _build(papers, stats, path, content_hash, staging)
    return target, True


_loaded: dict[Path, CorpusIndex] = {}
_load_lock = Lock()


def load_index(path: Path, cache_dir: Path) -> CorpusIndex:
    """The corpus index, built if needed and loaded once per process."""
    target, _ = ingest_corpus(path, cache_dir)
    with _load_lock:
        if target not in _loaded:
            meta = json.loads((target / "meta.json").read_text())
            papers = pa.ipc.open_file(pa.memory_map(str(target / "papers.arrow"))).read_all()
            ids = papers.column("id").to_pylist()
            _loaded[target] = CorpusIndex(
                content_hash=meta["content_hash"],
                papers=papers,
                ids=ids,
                rows={pid: row for row, pid in enumerate(ids)},
                bm25=bm25s.BM25.load(str(target / "bm25"), mmap=True),
                title_bm25=bm25s.BM25.load(str(target / "title_bm25"), mmap=True),
                lsa=LsaModel.load(target / "lsa.joblib"),
                meta=meta,
                dense=load_dense(target, len(ids)),
            )
        return _loaded[target]
