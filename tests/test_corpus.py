"""Corpus loading and the cached index."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tasks.corpus import CorpusError, ingest_corpus, load_index, load_papers
from tasks.models import normalize_id

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"


def test_load_counts_skipped_rows_and_keeps_first_duplicate():
    papers, stats = load_papers(FIXTURE)
    assert stats.papers == len(papers) == 14
    assert stats.skipped_missing_fields == 3
    assert stats.skipped_malformed == 1
    assert stats.duplicates == 1
    mola = next(p for p in papers if p.id == "2404.90001")
    assert mola.title.startswith("MoLA: Mixture-of-Experts")


def test_kaggle_string_fields_become_lists():
    papers, _ = load_papers(FIXTURE)
    lora = next(p for p in papers if p.id == "2106.09685")
    assert lora.authors == ["Edward J. Hu", "Yelong Shen", "Phillip Wallis", "Zeyuan Allen-Zhu"]
    assert lora.categories == ["cs.CL", "cs.LG"]
    assert lora.published == "2021-10-16"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2404.15159v3", "2404.15159"),
        ("arXiv:2106.09685", "2106.09685"),
        ("http://arxiv.org/abs/2101.03961v1", "2101.03961"),
        ("hep-th/9901001v2", "hep-th/9901001"),
    ],
)
def test_normalize_id(raw, expected):
    assert normalize_id(raw) == expected


def test_gzip_and_parquet_load_the_same_papers(tmp_path):
    gz = tmp_path / "c.jsonl.gz"
    with open(FIXTURE, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    papers, _ = load_papers(FIXTURE)
    pq = tmp_path / "c.parquet"
    pd.DataFrame([p.model_dump() for p in papers]).to_parquet(pq)
    assert [p.id for p in load_papers(gz)[0]] == [p.id for p in papers]
    assert [p.id for p in load_papers(pq)[0]] == [p.id for p in papers]


def test_missing_and_empty_corpus_are_clear_errors(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        load_papers(tmp_path / "nope.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"title": "no id"}) + "\n")
    with pytest.raises(CorpusError, match="no rows with id, title and abstract"):
        load_papers(empty)


def test_index_is_built_once_per_content(tmp_path):
    corpus = tmp_path / "c.jsonl"
    shutil.copy(FIXTURE, corpus)
    first, built = ingest_corpus(corpus, tmp_path / "cache")
    again, built_again = ingest_corpus(corpus, tmp_path / "cache")
    assert built and not built_again and first == again
    with open(corpus, "a") as fh:
        fh.write(json.dumps({"id": "2401.00001", "title": "New paper", "abstract": "Fresh text."}) + "\n")
    changed, rebuilt = ingest_corpus(corpus, tmp_path / "cache")
    assert rebuilt and changed != first
    assert not list((tmp_path / "cache" / "corpus").glob(".*.partial-*"))


def test_index_search_ranks_topical_papers_first(tmp_path):
    index = load_index(FIXTURE, tmp_path / "cache")
    hits = index.search("mixture of experts LoRA adapters", 5)
    assert hits and hits[0].id in {"2404.90001", "2405.90002", "2406.90003", "2407.90004"}
    assert all("galax" not in p.title.lower() for p in hits)
    assert index.search("the of and", 5) == []
