"""The corpus's lexical index on disk: tantivy segments of stemmed body and title terms, BM25, appended in place."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import tantivy

from tasks.index.text import content_terms
from tasks.models import indexed_text

# the terms are tokenised by tasks/index/text.py:content_terms before they reach tantivy; it splits them on spaces only
_TOKENIZER = "whitespace"


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("row", fast=True)  # the paper's row in the corpus's Arrow files
    builder.add_text_field("id", tokenizer_name="raw", index_option="basic")
    for field in ("body", "title"):  # term frequencies for BM25; no positions (no phrase queries)
        builder.add_text_field(field, tokenizer_name=_TOKENIZER, index_option="freq")
    return builder.build()


SCHEMA = _schema()


class LexicalIndex:
    """A read-only view of one committed generation of the index: BM25 over each field, ids to rows."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._index = tantivy.Index.open(str(path))
        self._index.config_reader(reload_policy="Manual")
        self._searcher = self._index.searcher()

    def __len__(self) -> int:
        return self._searcher.num_docs

    def doc_freq(self, field: str, term: str) -> int:
        """How many papers' `field` holds the term."""
        return self._searcher.doc_freq(field, term)

    def _rows(self, query: tantivy.Query, k: int) -> list[int]:
        hits = self._searcher.search(query, limit=k, count=False).hits
        return self._searcher.fast_field_values("row", [address for _, address in hits]) if hits else []

    def search(self, field: str, terms: list[str], k: int) -> list[int]:
        """Rows of the k best papers by BM25 of `field` for the terms (a repeated term counts again), best first."""
        if not terms or k <= 0:
            return []
        clauses = [(tantivy.Occur.Should, tantivy.Query.term_query(SCHEMA, field, term)) for term in terms]
        return self._rows(tantivy.Query.boolean_query(clauses), k)

    def row_of(self, paper_id: str) -> int | None:
        """The row of a paper id, or None."""
        rows = self._rows(tantivy.Query.term_query(SCHEMA, "id", paper_id), 1)
        return rows[0] if rows else None


class LexicalWriter:
    """Adds papers to a new generation of the index; nothing is visible to readers until `commit` returns."""

    def __init__(self, path: Path, heap_bytes: int, threads: int):
        path.mkdir(parents=True, exist_ok=True)
        self._index = tantivy.Index(SCHEMA, str(path), reuse=True)
        self._writer = self._index.writer(heap_bytes, threads)

    def add(self, row: int, paper_id: str, body: str, title: str) -> None:
        """One paper: its row, id, and the content terms (space-joined) of its whole text and of its title."""
        doc = tantivy.Document()
        doc.add_unsigned("row", row)
        doc.add_text("id", paper_id)
        doc.add_text("body", body)
        doc.add_text("title", title)
        self._writer.add_document(doc)

    def commit(self) -> None:
        """Persist every added paper and wait for segment merges to finish."""
        self._writer.commit()
        self._writer.wait_merging_threads()

    def __enter__(self) -> LexicalWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            return
        # stop the indexing threads before the caller removes the half-written generation under them; a failure
        # here must not hide the one that got us here
        with contextlib.suppress(Exception):
            self._writer.rollback()
            self._writer.wait_merging_threads()


def paper_terms(papers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The content terms of each (title, abstract), space-joined: of its whole text, and of its title alone."""
    return [
        (" ".join(content_terms(indexed_text(title, abstract))), " ".join(content_terms(title)))
        for title, abstract in papers
    ]


def next_generation(current: Path | None, target: Path) -> None:
    """Start generation `target` as a copy of `current` that shares its files (hard links; segments never change)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    if current is None:
        return
    for entry in current.iterdir():
        if entry.is_file() and not entry.name.endswith(".lock"):
            os.link(entry, target / entry.name)
