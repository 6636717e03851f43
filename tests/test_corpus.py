"""Corpus loading and the cached index."""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.backends.factory import open_source
from tasks.index import corpus
from tasks.index.corpus import CorpusError, append_papers, ingest_corpus, load_index, load_papers
from tasks.index.lexical import LexicalWriter
from tasks.index.text import content_terms
from tasks.ml.dense import build_ann, load_ann
from tasks.models import normalize_id, paper_text
from tasks.settings import Settings
from tasks.sources.paper_source import CorpusSource

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


def test_index_is_built_once_per_content_and_extended_when_the_file_grows(tmp_path):
    corpus, cache = tmp_path / "c.jsonl", tmp_path / "cache"
    shutil.copy(FIXTURE, corpus)
    first, built = ingest_corpus(corpus, cache)
    again, built_again = ingest_corpus(corpus, cache)
    assert built and not built_again and first == again
    inode = (first / "papers-00000.arrow").stat().st_ino
    with open(corpus, "a") as fh:  # new papers written at the end: indexed in place, under the file's new hash
        fh.write(json.dumps({"id": "2401.00001", "title": "New paper", "abstract": "Fresh text."}) + "\n")
    grown, rebuilt = ingest_corpus(corpus, cache)
    assert not rebuilt and grown != first and not first.exists()
    assert (grown / "papers-00000.arrow").stat().st_ino == inode
    index = load_index(corpus, cache)
    assert len(index) == 15 and index.row_of("2401.00001") == 14 and index.content_hash != index.version
    corpus.write_text(corpus.read_text().replace("MoLA", "MoLA!"))  # rewritten, not grown: built anew
    changed, rebuilt = ingest_corpus(corpus, cache)
    assert rebuilt and changed not in (first, grown) and len(load_index(corpus, cache)) == 15
    assert {p.name for p in (cache / "corpus").iterdir()} == {grown.name, changed.name} | {
        f"{name}.lock" for name in (first.name, grown.name, changed.name)
    }


def test_index_search_ranks_topical_papers_first(tmp_path):
    index = load_index(FIXTURE, tmp_path / "cache")
    hits = index.search("mixture of experts LoRA adapters", 5)
    assert hits and hits[0].id in {"2404.90001", "2405.90002", "2406.90003", "2407.90004"}
    assert all("galax" not in p.title.lower() for p in hits)
    assert index.search("the of and", 5) == []


NEW_PAPERS = [
    {"id": "2501.00001", "title": "Sparse Adapters Forecast Ocean Waves", "abstract": "We forecast ocean swell."},
    {"id": "2106.09685v2", "title": "LoRA again", "abstract": "A later listing: skipped as a known id."},
    {"id": "2501.00002", "title": "Tidal Energy from Ocean Waves", "abstract": "Ocean swell drives turbines."},
]


def _new_file(tmp_path: Path) -> Path:
    new = tmp_path / "new.jsonl"
    new.write_text("\n".join([json.dumps(NEW_PAPERS[0]), "not json", *map(json.dumps, NEW_PAPERS[1:])]) + "\n")
    return new


def test_append_adds_papers_in_place_and_counts_skips(tmp_path):
    cache = tmp_path / "cache"
    before = load_index(FIXTURE, cache)
    first_part = before.meta["parts"][0]["file"]
    target, built = ingest_corpus(FIXTURE, cache)
    inode = (target / first_part).stat().st_ino
    _, stats = append_papers(FIXTURE, _new_file(tmp_path), cache)
    assert (stats.papers, stats.duplicates, stats.skipped_malformed) == (2, 1, 1)
    after = load_index(FIXTURE, cache)
    assert len(after) == len(before) + 2 and after.version != before.version
    assert (target / first_part).stat().st_ino == inode, "the papers already indexed are not rewritten"
    assert [p.id for p in after.search("ocean swell waves", 5)][:2] == ["2501.00001", "2501.00002"]
    assert after.row_of("2501.00002") == len(before) + 1 and after.paper(after.row_of("2106.09685")).title.startswith(
        "LoRA: Low-Rank"
    )
    assert CorpusSource.open(FIXTURE, cache).content_hash == after.version
    assert append_papers(FIXTURE, _new_file(tmp_path), cache)[1] is None, "the same file is appended once"
    assert len(load_index(FIXTURE, cache)) == len(after)


_KILLED_APPEND = """
import os, signal, sys
from pathlib import Path
import tasks.index.corpus as corpus
from tasks.index.lexical import LexicalWriter

where = sys.argv[1]
if where == "adding":  # in the middle of the new papers
    LexicalWriter.add = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
else:  # everything written and committed, just before meta.json names it
    corpus.write_atomic = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
corpus.append_papers(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
"""


@pytest.mark.parametrize("where", ["adding", "before the swap"])
def test_killed_append_leaves_the_previous_index_usable(tmp_path, where):
    cache, new = tmp_path / "cache", _new_file(tmp_path)
    old = load_index(FIXTURE, cache)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_APPEND, where, str(FIXTURE), str(new), str(cache)],
        env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[1])},
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    corpus._loaded.clear()  # as a new process would
    reopened = load_index(FIXTURE, cache)
    assert len(reopened) == len(old) and reopened.version == old.version
    assert reopened.row_of("2501.00001") is None
    assert [p.id for p in reopened.search("mixture of experts LoRA", 3)] == [
        p.id for p in old.search("mixture of experts LoRA", 3)
    ]
    _, stats = append_papers(FIXTURE, new, cache)  # the next append clears what the killed one left
    assert stats.papers == 2 and load_index(FIXTURE, cache).row_of("2501.00001") == len(old)
    target = ingest_corpus(FIXTURE, cache)[0]
    assert sorted(p.name for p in target.iterdir() if p.name.startswith(("lexical-", "papers-", "."))) == [
        "lexical-00001",
        "papers-00000.arrow",
        "papers-00001.arrow",
    ]


def test_an_append_that_fails_raises_and_changes_nothing(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    old = load_index(FIXTURE, cache)
    monkeypatch.setattr(LexicalWriter, "commit", lambda self: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        append_papers(FIXTURE, _new_file(tmp_path), cache)
    assert load_index(FIXTURE, cache) is old and len(old) == 14
    target = ingest_corpus(FIXTURE, cache)[0]
    assert not [p for p in target.iterdir() if ".partial-" in p.name]


def test_an_append_of_nothing_new_keeps_the_index(tmp_path):
    cache, same = tmp_path / "cache", tmp_path / "same.jsonl"
    same.write_text(json.dumps({"id": "2106.09685", "title": "LoRA", "abstract": "Known."}) + "\n")
    old = load_index(FIXTURE, cache)
    _, stats = append_papers(FIXTURE, same, cache)
    assert (stats.papers, stats.duplicates) == (0, 1) and load_index(FIXTURE, cache) is old
    with pytest.raises(CorpusError, match="not found"):
        append_papers(FIXTURE, tmp_path / "missing.jsonl", cache)


def test_a_gzip_corpus_grown_by_a_new_member_is_extended(tmp_path):
    corpus, cache = tmp_path / "c.jsonl.gz", tmp_path / "cache"
    with open(FIXTURE, "rb") as src, gzip.open(corpus, "wb") as dst:
        shutil.copyfileobj(src, dst)
    first, _ = ingest_corpus(corpus, cache)
    with gzip.open(corpus, "ab") as fh:  # what `gzip >>` or an appending writer does
        fh.write((json.dumps({"id": "2401.00001", "title": "New paper", "abstract": "Fresh text."}) + "\n").encode())
    grown, rebuilt = ingest_corpus(corpus, cache)
    assert not rebuilt and grown != first and load_index(corpus, cache).row_of("2401.00001") == 14


def test_lexical_channels_rank_by_exact_bm25_over_every_paper(tmp_path):
    index = load_index(FIXTURE, tmp_path / "cache")
    papers = [index.paper(row) for row in range(len(index))]
    for field, text in (("body", paper_text), ("title", lambda p: p.title)):
        docs = [content_terms(text(p)) for p in papers]
        mean = sum(map(len, docs)) / len(docs)
        terms = content_terms("LoRA experts memory LoRA")  # a repeated term counts twice
        expected = {}
        for row, doc in enumerate(docs):
            score = 0.0
            for term in terms:
                df = sum(term in d for d in docs)
                if tf := doc.count(term):
                    idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
                    score += idf * tf / (tf + 1.5 * (1 - 0.75 + 0.75 * len(doc) / mean))
            if score > 0:
                expected[row] = score
        ranked = index._bm25(field, terms, len(index), {})
        assert set(ranked) == set(expected)
        assert [round(expected[r], 9) for r in ranked] == sorted((round(s, 9) for s in expected.values()), reverse=True)


def test_the_stored_terms_are_each_papers_terms_after_an_append_too(tmp_path):
    cache = tmp_path / "cache"
    append_papers(FIXTURE, _new_file(tmp_path), cache)
    index = load_index(FIXTURE, cache)
    assert len(index.terms) == len(index)
    for row in range(len(index)):
        paper = index.paper(row)
        assert index._row_terms("body", row) == content_terms(paper_text(paper))
        assert index._row_terms("title", row) == content_terms(paper.title)


def test_an_index_of_an_earlier_format_gives_its_dense_vectors_to_the_rebuilt_one_and_goes(tmp_path):
    cache = tmp_path / "cache"
    target = corpus.index_dir(cache, corpus.content_hash(FIXTURE, cache))
    earlier = target.with_name(target.name.replace(f"-v{corpus.INDEX_FORMAT}", f"-v{corpus.INDEX_FORMAT - 1}"))
    (earlier / "dense").mkdir(parents=True)
    (earlier / "dense" / "vectors.npy").write_bytes(b"the vectors of the same papers in the same rows")
    (earlier / "papers-00000.arrow").write_bytes(b"the papers, indexed again by this format")
    built, _ = ingest_corpus(FIXTURE, cache)
    assert built == target and (target / "dense" / "vectors.npy").read_bytes().startswith(b"the vectors")
    assert not earlier.exists(), "the earlier index's other files are not left on disk"


def test_the_dense_channel_searches_the_approximate_index_when_the_corpus_has_one(tmp_path):
    pytest.importorskip("usearch", reason="the dense extra is not installed")
    cache = tmp_path / "cache"
    target, _ = ingest_corpus(FIXTURE, cache)
    index = load_index(FIXTURE, cache)
    vectors = np.random.default_rng(0).normal(size=(len(index), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    (target / "dense").mkdir()
    np.save(target / "dense" / "vectors.npy", vectors)
    exact = corpus._open(target, index.meta)
    assert exact.ann is None, "no approximate index until one is built"
    build_ann(target / "dense" / "vectors.npy", threads=1)
    approximate = corpus._open(target, index.meta)
    assert approximate.ann is not None and approximate.dense is not None
    for row in (0, 3, 7):
        query = vectors[row]
        assert approximate._nearest(query, 5)[0] == row
        assert approximate._nearest(query, 5) == exact._nearest(query, 5)  # a graph this small is searched whole
    assert load_ann(target, len(index) + 1) is None, "an index of other papers is not used"


def test_hybrid_search_settings_from_the_environment_shape_the_search(tmp_path, monkeypatch):
    monkeypatch.setenv("SOVEREIGN_SEARCH__CORPUS", str(FIXTURE))
    monkeypatch.setenv("SOVEREIGN_SEARCH__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SOVEREIGN_SEARCH__HYBRID__CHANNEL_CANDIDATES", "1")
    narrow = open_source(Settings())
    assert narrow.hybrid.channel_candidates == 1  # in the search stage's cache key
    query = "mixture of experts LoRA adapters"
    # each of the three lexical channels ranks one candidate, where by default they rank every matching paper
    assert len(narrow.search(query, 10)) <= 3 < len(load_index(FIXTURE, tmp_path / "cache").search(query, 10))
