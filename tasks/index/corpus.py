"""Local corpus: stream JSON Lines / Parquet rows into a cached BM25 + LSA index keyed by content hash, append to it."""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from multiprocessing import get_context
from pathlib import Path
from threading import Lock

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel

from tasks.index.lexical import LexicalIndex, LexicalWriter, next_generation, paper_terms
from tasks.index.text import content_terms
from tasks.io.atomic import staged_directory, staged_file, swap_directory, write_atomic
from tasks.ml.dense import ANN_FILE, dense_dir, encode, load_ann, load_dense
from tasks.ml.embedders import LsaModel
from tasks.models import Paper, indexed_text, normalize_id
from tasks.settings import CorpusIndexSettings, HybridSearchSettings

INDEX_FORMAT = 5  # 5: with each paper's terms stored (4: tantivy segments and Arrow parts; 3: bm25s, rebuilt whole)
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
# Each paper's content terms as indexed, space-joined: of its whole text (body) and of its title. The search rescores
# tantivy's candidates from these instead of tokenising their text again (60% of a search's time at 2.7M papers).
TERMS_SCHEMA = pa.schema([("body", pa.string()), ("title", pa.string())])
# BM25 as the search was tuned with (bm25s's defaults); tantivy's own k1 is a fixed 1.2, and its per-field lengths are
# rounded to a byte, which lowered the lexical R@20 at 96k (40 questions a source: LitSearch 0.438 → 0.412,
# AutoScholar 0.246 → 0.225). So tantivy proposes RESCORED_DEPTH × k papers and these are scored again exactly.
BM25_K1, BM25_B = 1.5, 0.75
RESCORED_DEPTH = 2
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


def _rows(path: Path, stats: CorpusStats) -> Iterator[dict]:
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus not found: {path} (give a .jsonl, .jsonl.gz or .parquet file)")
    if not os.access(path, os.R_OK):
        raise CorpusError(f"corpus not readable: {path}")
    return _parquet_rows(path, stats) if path.suffix == ".parquet" else _json_rows(path, stats)


def iter_papers(path: Path, stats: CorpusStats, seen: set[str] | None = None) -> Iterator[Paper]:
    """The usable papers of a corpus file, one at a time, skipping ids in `seen` (which it extends), counting skips."""
    seen = set() if seen is None else seen
    rows = _rows(path, stats)
    try:
        for row in rows:
            paper = paper_from_row(row)
            if paper is None:
                stats.skipped_missing_fields += 1
            elif paper.id in seen:
                stats.duplicates += 1
            else:
                seen.add(paper.id)
                stats.papers += 1
                yield paper
    except (OSError, EOFError, ValueError) as exc:
        raise CorpusError(f"cannot read corpus {path}: {exc}") from exc


def load_papers(path: Path) -> tuple[list[Paper], CorpusStats]:
    """Every usable paper of the corpus file (first occurrence of an id wins) and what was skipped."""
    stats = CorpusStats()
    papers = list(iter_papers(path, stats))
    if not papers:
        raise CorpusError(f"corpus {path} has no rows with id, title and abstract")
    return papers, stats


def file_hash(path: Path, limit: int | None = None) -> str:
    """sha256 of the file's bytes, or of its first `limit` bytes."""
    digest, left = hashlib.sha256(), float("inf") if limit is None else limit
    with open(path, "rb") as fh:
        while left > 0 and (block := fh.read(int(min(1 << 20, left)))):
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


@dataclass
class CorpusIndex:
    """A loaded corpus index: papers (memory-mapped Arrow), the on-disk lexical index, and the LSA model."""

    content_hash: str  # the corpus file's: names the index directory
    version: str  # the file's hash, changed by every append: what searches are cached by
    papers: pa.Table
    terms: pa.Table  # every paper's indexed terms (TERMS_SCHEMA), what the search rescores candidates by
    lexical: LexicalIndex
    lsa: LsaModel
    meta: dict
    # all-MiniLM-L6-v2 vectors of every paper, once `sovereign corpus embed` has built them (the dense extra)
    dense: np.ndarray | None = None
    # their approximate nearest-neighbour index (usearch), built for big corpora
    ann: object | None = None

    def __len__(self) -> int:
        return len(self.papers)

    @cached_property
    def ids(self) -> list[str]:
        """Every paper's id, in row order (read on first use: nothing that only searches needs them)."""
        return self.papers.column("id").to_pylist()

    def paper(self, row: int) -> Paper:
        """The paper at a row of the index."""
        return Paper.model_validate(self.papers.slice(row, 1).to_pylist()[0])

    def texts(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The indexed text of the papers in rows start to stop (default: all), in row order."""
        rows = self.papers.slice(start, (len(self) if stop is None else stop) - start)
        columns = zip(rows.column("title").to_pylist(), rows.column("abstract").to_pylist())
        return [indexed_text(title, abstract) for title, abstract in columns]

    def row_of(self, paper_id: str) -> int | None:
        """The row of a paper id, or None when the corpus lacks it."""
        return self.lexical.row_of(normalize_id(paper_id))

    def _feedback_terms(self, rows: list[int], query_terms: set[str], hybrid: HybridSearchSettings) -> list[str]:
        """Pseudo-relevance feedback: terms most of the top documents share that the query lacks."""
        leading = rows[: hybrid.feedback_docs]
        counts = Counter(t for r in leading for t in set(self._row_terms("body", r)))
        # Ties broken by the term itself: set iteration order varies with PYTHONHASHSEED.
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        common = [t for t, n in ranked if n >= hybrid.feedback_min_df and t not in query_terms]
        return common[: hybrid.feedback_terms]

    def _nearest(self, vector: np.ndarray, k: int) -> list[int]:
        """Rows of the papers whose dense vectors are closest to `vector`: from the approximate index when the corpus
        has one (`EmbedSettings.ann_min_papers`), else exactly."""
        if self.ann is not None:
            return [int(row) for row in self.ann.search(vector, k).keys]
        similarity = self.dense @ vector
        top = np.argpartition(-similarity, min(k, len(self)) - 1)[:k]
        return [int(r) for r in top[np.argsort(-similarity[top], kind="stable")]]

    def _row_terms(self, field: str, row: int) -> list[str]:
        """A paper's content terms of `field` (body: title and abstract), as indexed."""
        # row by row: `take` on the memory-mapped, chunked table copies whole columns
        return self.terms.column(field)[row].as_py().split()

    def _bm25(self, field: str, terms: list[str], k: int, row_terms: dict[tuple[str, int], list[str]]) -> list[int]:
        """Rows of the k best papers by BM25 (k1 1.5, b 0.75) of `field`: tantivy's candidates scored exactly.

        A repeated query term counts again. The candidates' terms come from their text in the Arrow file, read and
        tokenised once per search into `row_terms` (the query and its expansion share most candidates).
        """
        rows = self.lexical.search(field, terms, k * RESCORED_DEPTH)
        if not rows:
            return []
        papers, weights = len(self.lexical), Counter(terms)
        idf = {}
        for term in weights:
            if df := self.lexical.doc_freq(field, term):
                idf[term] = float(np.log(1 + (papers - df + 0.5) / (df + 0.5)))
        mean_length = self.meta["terms"][field] / papers
        for r in rows:
            if (field, r) not in row_terms:
                row_terms[field, r] = self._row_terms(field, r)
        scores = []
        for r in rows:
            tokens = row_terms[field, r]
            counts = Counter(tokens)
            norm = BM25_K1 * (1 - BM25_B + BM25_B * len(tokens) / mean_length)
            scores.append(sum(w * idf[t] * counts[t] / (counts[t] + norm) for t, w in weights.items() if counts[t]))
        order = sorted(range(len(rows)), key=lambda i: -scores[i])  # stable: ties keep tantivy's order
        return [rows[i] for i in order[:k] if scores[i] > 0]

    def _lexical_channels(self, query: str, terms: list[str], hybrid: HybridSearchSettings) -> list[list[int]]:
        """BM25 over abstracts with feedback, BM25 over titles, and their candidates by LSA similarity."""
        k, row_terms = hybrid.channel_candidates, {}
        body = self._bm25("body", terms, k, row_terms)
        if not body:
            return []
        expansion = self._feedback_terms(body, set(terms), hybrid)
        expanded = self._bm25("body", terms * 2 + expansion, k, row_terms) if expansion else body
        titles = self._bm25("title", terms, k, row_terms)
        candidates = list(dict.fromkeys(expanded + titles))
        vectors = self.lsa.transform_terms(
            [row_terms.get(("body", r)) or self._row_terms("body", r) for r in candidates]
        )
        similarity = vectors @ self.lsa.transform([query])[0]
        return [expanded, titles, [candidates[i] for i in np.argsort(-similarity, kind="stable")]]

    def search(self, query: str, limit: int, hybrid: HybridSearchSettings | None = None) -> list[Paper]:
        """Hybrid ranking: the lexical channels and, when built, dense neighbours with feedback, fused by RRF."""
        hybrid = hybrid or HybridSearchSettings()
        terms = content_terms(query)
        if not terms:
            return []
        channels = self._lexical_channels(query, terms, hybrid)
        weights = [1.0] * len(channels)
        if self.dense is not None:
            vector = encode([query])[0].astype(np.float32)
            channels.append(self._nearest(vector, hybrid.channel_candidates))
            weights.append(hybrid.dense_weight)
            top = reciprocal_rank_fusion(channels, weights=weights)[: hybrid.dense_feedback_docs]
            moved = vector + self.dense[top].mean(axis=0)
            channels.append(self._nearest(moved / np.linalg.norm(moved), hybrid.channel_candidates))
            weights.append(hybrid.dense_feedback_weight)
        return [self.paper(r) for r in reciprocal_rank_fusion(channels, weights=weights)[:limit]]


def reciprocal_rank_fusion(rankings: list[list], k: int = 60, weights: list[float] | None = None) -> list:
    """Items of several rankings ordered by the sum of weight / (k + rank)."""
    scores: dict = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank + 1)
    return sorted(scores, key=lambda item: -scores[item])


def _batched(items: Iterator[Paper], size: int) -> Iterator[list[Paper]]:
    batch: list[Paper] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Sample:
    """An even random sample of a stream's items (reservoir sampling), in stream order; all of them when few."""

    def __init__(self, size: int):
        self.size, self.seen, self.items = size, 0, []
        self._rng = random.Random(0)

    def offer(self, make: Callable[[], object]) -> None:
        """Count one more item of the stream; `make` builds it only when the sample keeps it."""
        if len(self.items) < self.size:
            self.items.append((self.seen, make()))
        else:
            slot = self._rng.randrange(self.seen + 1)
            if slot < self.size:
                self.items[slot] = (self.seen, make())
        self.seen += 1

    def in_order(self) -> list:
        return [item for _, item in sorted(self.items, key=lambda pair: pair[0])]


def _tokenized(chunks: Iterator[list[Paper]], workers: int) -> Iterator[tuple[list[Paper], list[tuple[str, str]]]]:
    """Each chunk with its papers' terms; past one chunk, worker processes tokenise the next chunks meanwhile."""
    first, second = next(chunks, None), next(chunks, None)
    ahead = [c for c in (first, second) if c is not None]
    if second is None or workers < 2:
        for chunk in chain(ahead, chunks):
            yield chunk, paper_terms([(p.title, p.abstract) for p in chunk])
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pending: deque = deque()
        for chunk in chain(ahead, chunks):
            pending.append((chunk, pool.submit(paper_terms, [(p.title, p.abstract) for p in chunk])))
            if len(pending) > workers:  # at most workers + 1 chunks in memory
                done, terms = pending.popleft()
                yield done, terms.result()
        while pending:
            done, terms = pending.popleft()
            yield done, terms.result()


def _write_part(
    papers: Iterator[Paper],
    first_row: int,
    files: tuple[Path, Path],
    writer: LexicalWriter,
    settings: CorpusIndexSettings,
    sample: _Sample | None,
) -> tuple[int, int]:
    """Papers into one Arrow file, their terms into another, and both to the lexical writer, batch by batch: how
    many, how many with searchable words, and the terms of their whole texts and of their titles, counted (BM25's
    mean lengths)."""
    row, searchable, lengths = first_row, 0, {"body": 0, "title": 0}
    chunks = _tokenized(_batched(papers, settings.batch_papers), settings.tokenize_workers)
    part, terms_file = files
    with (
        pa.OSFile(str(part), "wb") as sink,
        pa.ipc.new_file(sink, PAPER_SCHEMA) as arrow,
        pa.OSFile(str(terms_file), "wb") as terms_sink,
        pa.ipc.new_file(terms_sink, TERMS_SCHEMA) as terms_arrow,
    ):
        for chunk, terms in chunks:
            arrow.write_batch(pa.RecordBatch.from_pylist([p.model_dump() for p in chunk], schema=PAPER_SCHEMA))
            terms_arrow.write_batch(
                pa.RecordBatch.from_arrays(
                    [pa.array(column, pa.string()) for column in zip(*terms)], schema=TERMS_SCHEMA
                )
            )
            for paper, (body, title) in zip(chunk, terms):
                writer.add(row, paper.id, body, title)
                searchable += bool(body)
                lengths["body"] += body.count(" ") + 1 if body else 0
                lengths["title"] += title.count(" ") + 1 if title else 0
                if sample is not None:  # interned: the sample's 100k token lists share their strings
                    sample.offer(lambda body=body: list(map(sys.intern, body.split())))
                row += 1
    return row - first_row, searchable, lengths


def _part_name(part: int) -> str:
    return f"papers-{part:05d}.arrow"


def _terms_name(part: int) -> str:
    return f"terms-{part:05d}.arrow"


def _build(source: Path, content_hash: str, target: Path, settings: CorpusIndexSettings) -> None:
    started = time.perf_counter()
    stats, sample = CorpusStats(), _Sample(settings.lsa_fit_papers)
    files = (target / _part_name(0), target / _terms_name(0))
    with LexicalWriter(target / "lexical-00000", settings.writer_heap_mb << 20, settings.writer_threads) as writer:
        papers, searchable, lengths = _write_part(iter_papers(source, stats), 0, files, writer, settings, sample)
        if not papers:
            raise CorpusError(f"corpus {source} has no rows with id, title and abstract")
        if not searchable:
            raise CorpusError(f"corpus {source} has no searchable words in its titles and abstracts")
        writer.commit()
    LsaModel.fit(sample.in_order()).save(target / "lsa.joblib")
    meta = {
        "format": INDEX_FORMAT,
        "source": str(source),
        # how far the file was indexed: a file that only grows is appended to (_grown_index), not rebuilt
        "source_path": str(source.resolve()),
        "source_bytes": source.stat().st_size,
        "content_hash": content_hash,
        "version": content_hash,
        "stats": stats.model_dump(),
        "lexical": "lexical-00000",
        "terms": lengths,
        "parts": [
            {
                "file": _part_name(0),
                "terms": _terms_name(0),
                "papers": papers,
                "source": str(source),
                "content_hash": content_hash,
            }
        ],
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    (target / "meta.json").write_text(json.dumps(meta, indent=2))


def index_dir(cache_dir: Path, content_hash: str) -> Path:
    return Path(cache_dir) / "corpus" / f"{content_hash[:20]}-v{INDEX_FORMAT}"


def content_hash(path: Path, cache_dir: Path) -> str:
    """The file's sha256, remembered by its path, size, inode and modification time (a 2.7M-paper file: 5 s)."""
    status = path.stat()
    stamp = f"{path.resolve()}|{status.st_size}|{status.st_ino}|{status.st_mtime_ns}"
    remembered = Path(cache_dir) / "hashes" / hashlib.sha256(stamp.encode()).hexdigest()[:32]
    if remembered.is_file():
        return remembered.read_text().strip()
    digest = file_hash(path)
    remembered.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(remembered, digest)
    return digest


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """The index's lock: one build or append at a time, across processes."""
    with open(target.with_name(f"{target.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ingest_corpus(path: Path, cache_dir: Path, settings: CorpusIndexSettings | None = None) -> tuple[Path, bool]:
    """Build the corpus index once; returns its directory and whether it was built now."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus not found: {path} (give a .jsonl, .jsonl.gz or .parquet file)")
    digest = content_hash(path, cache_dir)
    target = index_dir(cache_dir, digest)
    if (target / "meta.json").is_file():
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    earlier = _grown_index(path, cache_dir)
    if earlier is not None:
        _extend(earlier, path, digest, target, settings or CorpusIndexSettings())
    # Runs starting together on a cold cache build the index once: the others wait here, then find it built.
    with _locked(target):
        if (target / "meta.json").is_file():
            return target, False
        with staged_directory(target) as staging:
            _build(path, digest, staging, settings or CorpusIndexSettings())
        # the same file's papers in the same rows: the dense vectors of an index of an earlier format stay valid; the
        # rest of it is replaced by this one (a 2.7M-paper index is 4-7 GB)
        for earlier_format in range(INDEX_FORMAT - 1, 2, -1):
            earlier = target.with_name(f"{digest[:20]}-v{earlier_format}")
            if (earlier / "dense").is_dir() and not (target / "dense").exists():
                os.replace(earlier / "dense", target / "dense")
            shutil.rmtree(earlier, ignore_errors=True)
            earlier.with_name(f"{earlier.name}.lock").unlink(missing_ok=True)
    return target, True


class _KnownIds:
    """Ids already in the index or added so far: what an append skips as duplicates."""

    def __init__(self, lexical: LexicalIndex):
        self._lexical, self._added = lexical, set()

    def __contains__(self, paper_id: str) -> bool:
        return paper_id in self._added or self._lexical.row_of(paper_id) is not None

    def add(self, paper_id: str) -> None:
        self._added.add(paper_id)


def _remove_leftovers(target: Path, meta: dict) -> None:
    """What a killed append left: an unused lexical generation, a part file meta.json does not list, staging."""
    kept = {meta["lexical"], "meta.json", "lsa.joblib", "dense"}
    kept |= {part[key] for part in meta["parts"] for key in ("file", "terms")}
    for entry in target.iterdir():
        if entry.name in kept:
            continue
        if entry.name.startswith(("lexical-", "papers-", ".papers-", "terms-", ".terms-")):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _append(target: Path, new: Path, settings: CorpusIndexSettings, updates: dict) -> CorpusStats | None:
    """Append `new`'s papers to the index in `target` (its lock held), with `updates` to its meta.json; None when
    this file was appended before.

    The papers go to a new Arrow part and a new lexical generation that shares the current one's segments; meta.json
    names them in one rename, so a killed append leaves the index as it was (the next one clears what it left).
    """
    new_hash, stats = file_hash(new), CorpusStats()
    meta = json.loads((target / "meta.json").read_text())
    _remove_leftovers(target, meta)
    if any(part["content_hash"] == new_hash for part in meta["parts"]):
        return None
    current = target / meta["lexical"]
    generation = target / f"lexical-{int(meta['lexical'].rsplit('-', 1)[1]) + 1:05d}"
    part, terms = _part_name(len(meta["parts"])), _terms_name(len(meta["parts"]))
    try:
        next_generation(current, generation)
        papers = iter_papers(new, stats, _KnownIds(LexicalIndex(current)))
        with (
            LexicalWriter(generation, settings.writer_heap_mb << 20, settings.writer_threads) as writer,
            staged_file(target / part) as staging,
            staged_file(target / terms) as terms_staging,
        ):
            first_row = sum(p["papers"] for p in meta["parts"])
            added, _, lengths = _write_part(papers, first_row, (staging, terms_staging), writer, settings, None)
            writer.commit()
        updated = meta | updates
        if added:
            appended = {"file": part, "terms": terms, "papers": added, "source": str(new), "content_hash": new_hash}
            updated |= {
                "parts": [*meta["parts"], appended | {"stats": stats.model_dump()}],
                "version": hashlib.sha256(f"{meta['version']}+{new_hash}".encode()).hexdigest(),
                "lexical": generation.name,
                "terms": {field: meta["terms"][field] + lengths[field] for field in lengths},
            }
        if updated != meta:
            write_atomic(target / "meta.json", json.dumps(updated, indent=2))
            meta = updated  # from here on the earlier generation is the leftover
    finally:
        _remove_leftovers(target, meta)
    return stats


def append_papers(
    path: Path, new: Path, cache_dir: Path, settings: CorpusIndexSettings | None = None
) -> tuple[Path, CorpusStats | None]:
    """Add the papers of `new` to the index of `path` (built first if needed) without rebuilding it.

    Returns the index and what `new` held (known ids are skipped as duplicates), or None when this very file was
    appended before.
    """
    new = Path(new)
    if not new.is_file():
        raise CorpusError(f"papers to append not found: {new} (give a .jsonl, .jsonl.gz or .parquet file)")
    settings = settings or CorpusIndexSettings()
    target, _ = ingest_corpus(path, cache_dir, settings)
    with _locked(target):
        return target, _append(target, new, settings, {})


def _grown_index(path: Path, cache_dir: Path) -> Path | None:
    """The index of this file's earlier content, when the file has only grown since (JSON Lines added at its end)."""
    if path.suffix == ".parquet":
        return None
    size, resolved = path.stat().st_size, str(path.resolve())
    for meta_file in sorted((Path(cache_dir) / "corpus").glob(f"*-v{INDEX_FORMAT}/meta.json")):
        meta = json.loads(meta_file.read_text())
        if meta.get("source_path") == resolved and meta["source_bytes"] <= size:
            if file_hash(path, meta["source_bytes"]) == meta["content_hash"]:
                return meta_file.parent
    return None


def _extend(earlier: Path, path: Path, digest: str, target: Path, settings: CorpusIndexSettings) -> None:
    """Index what the file gained since `earlier` was built, then name the index by the file's new hash."""
    with _locked(earlier):
        if not (earlier / "meta.json").is_file():
            return  # another process extended it meanwhile
        meta = json.loads((earlier / "meta.json").read_text())
        updates = {"content_hash": digest, "source_bytes": path.stat().st_size}
        # the bytes written since, as a file of their own (removed after; gzip members concatenate)
        with tempfile.NamedTemporaryFile(dir=earlier.parent, prefix=".tail-", suffix=path.suffix) as tail:
            with open(path, "rb") as src:
                src.seek(meta["source_bytes"])
                shutil.copyfileobj(src, tail)
            tail.flush()
            _append(earlier, Path(tail.name), settings, updates)
        swap_directory(earlier, target)


# Each loaded index with what it was loaded from: its version and its dense files' modification times.
_loaded: dict[Path, tuple[tuple, CorpusIndex]] = {}
_load_lock = Lock()


def _dense_stamp(target: Path) -> tuple[int, ...]:
    """When the index's vectors and their approximate index were last written (0: none)."""
    files = [dense_dir(target) / "vectors.npy", dense_dir(target) / ANN_FILE]
    return tuple(f.stat().st_mtime_ns if f.is_file() else 0 for f in files)


def _mapped(target: Path, files: list[str]) -> pa.Table:
    """The Arrow files as one memory-mapped table, in order."""
    tables = [pa.ipc.open_file(pa.memory_map(str(target / name))).read_all() for name in files]
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def _open(target: Path, meta: dict) -> CorpusIndex:
    papers = _mapped(target, [part["file"] for part in meta["parts"]])
    return CorpusIndex(
        content_hash=meta["content_hash"],
        version=meta["version"],
        papers=papers,
        lexical=LexicalIndex(target / meta["lexical"]),
        lsa=LsaModel.load(target / "lsa.joblib"),
        meta=meta,
        dense=load_dense(target, len(papers)),
        ann=load_ann(target, len(papers)),
        terms=_mapped(target, [part["terms"] for part in meta["parts"]]),
    )


def load_index(path: Path, cache_dir: Path) -> CorpusIndex:
    """The corpus index, built if needed; loaded once per process and again after an append or once `corpus embed`
    has written its vectors (a warm worker that loaded it before then would search it without them)."""
    target, _ = ingest_corpus(path, cache_dir)
    with _load_lock:
        meta = json.loads((target / "meta.json").read_text())
        stamp = (meta["version"], _dense_stamp(target))
        if target not in _loaded or _loaded[target][0] != stamp:
            _loaded[target] = (stamp, _open(target, meta))
        return _loaded[target][1]
