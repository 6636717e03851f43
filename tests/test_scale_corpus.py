"""The synthetic scale corpus: deterministic, in the Kaggle snapshot's layout, recombined within a category."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from benchmarks import scale_corpus
from benchmarks.scale_corpus import ScaleCorpus, write_corpus
from tasks.index.corpus import load_papers

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"


def _donors(tmp_path: Path) -> Path:
    donors = tmp_path / "donors.jsonl.gz"
    usable = [line for line in FIXTURE.read_text().splitlines() if line.startswith("{") and '"abstract"' in line]
    with gzip.open(donors, "wt") as fh:
        fh.write("\n".join(usable) + "\n")
    return donors


def test_scale_corpus_is_deterministic_and_its_prefixes_are_the_smaller_corpora(tmp_path, monkeypatch):
    monkeypatch.setattr(scale_corpus, "ARXIV_FILES", [_donors(tmp_path)])
    big = write_corpus(tmp_path / "big.jsonl", 60).read_text().splitlines()
    small = write_corpus(tmp_path / "small.jsonl", 20).read_text().splitlines()
    assert small == big[:20]
    assert write_corpus(tmp_path / "again.jsonl", 60).read_text().splitlines() == big
    extra = write_corpus(tmp_path / "extra.jsonl", 5, start=60).read_text().splitlines()
    assert not {json.loads(r)["id"] for r in extra} & {json.loads(r)["id"] for r in big}


def test_scale_papers_load_as_kaggle_rows_with_unique_ids_and_titles(tmp_path, monkeypatch):
    donors = _donors(tmp_path)
    monkeypatch.setattr(scale_corpus, "ARXIV_FILES", [donors])
    path = write_corpus(tmp_path / "scale.jsonl.gz", 80)
    rows = [json.loads(line) for line in gzip.open(path, "rt")]
    assert set(rows[0]) >= {"id", "submitter", "authors", "title", "categories", "abstract", "versions", "update_date"}
    assert isinstance(rows[0]["categories"], str) and isinstance(rows[0]["authors"], str)
    papers, stats = load_papers(path)
    assert stats.papers == 80 and stats.duplicates == 0
    assert len({p.title for p in papers}) == 80
    real_ids = {json.loads(line).get("id") for line in gzip.open(donors, "rt")}
    assert not real_ids & {p.id for p in papers}
    assert all(p.published and p.categories and p.authors for p in papers)


def test_scale_abstracts_recombine_sentences_of_one_category(tmp_path):
    corpus = ScaleCorpus([_donors(tmp_path)])
    for i in range(40):
        row = corpus.paper(i)
        category = row["categories"].split()[0]
        pool = sorted({s for sentences in corpus.sentences[category] for s in sentences}, key=len, reverse=True)
        rest = row["abstract"]
        while rest:  # the abstract is the category's real sentences, one after another
            sentence = next((s for s in pool if rest.startswith(s)), None)
            assert sentence, f"not a sentence of {category}: {rest}"
            rest = rest[len(sentence) :].lstrip()
