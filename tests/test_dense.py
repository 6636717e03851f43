"""The dense extra: resumable corpus vectors, the dense search channel, semantic claim support."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tasks import corpus as corpus_module
from tasks import dense
from tasks.corpus import ingest_corpus, load_index
from tasks.models import Claim, Label
from tasks.settings import Settings
from tasks.sources import CorpusSource
from tasks.verify import support_score, verify_one
from tests.factories import MOE_LORA_PAPER as PAPER

pytestmark = pytest.mark.skipif(not dense.dense_installed(), reason="the dense extra is not installed")
FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """A private copy of the fixture corpus, its index not yet loaded by this process."""
    path = tmp_path / "corpus.jsonl"
    shutil.copy(FIXTURE, path)
    monkeypatch.setattr(corpus_module, "_loaded", {})
    return path


def test_vectors_build_in_chunks_and_a_killed_build_resumes_where_it_stopped(corpus, tmp_path, monkeypatch):
    target, _ = ingest_corpus(corpus, tmp_path / "cache")
    texts = load_index(corpus, tmp_path / "cache").texts()
    monkeypatch.setattr(dense, "CHUNK_PAPERS", 4)
    encoded: list[int] = []
    real_encode = dense.encode
    monkeypatch.setattr(dense, "encode", lambda batch: encoded.append(len(batch)) or real_encode(batch))

    def killed_after_two_chunks(done: int, total: int) -> None:
        if done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dense.build_dense(target, texts, killed_after_two_chunks)
    assert not (dense.dense_dir(target) / "vectors.npy").exists()
    assert load_index(corpus, tmp_path / "cache").dense is None  # incomplete vectors are never searched

    vectors_file, built = dense.build_dense(target, texts)
    assert built and sum(encoded) == len(texts)  # the resumed build encoded only the missing chunks
    vectors = np.load(vectors_file)
    assert vectors.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1.0, atol=1e-2)
    assert np.allclose(vectors[-1], real_encode(texts[-1:])[0], atol=1e-2)
    assert not (dense.dense_dir(target) / "parts").exists()
    assert dense.build_dense(target, texts) == (vectors_file, False)


def test_search_uses_the_dense_channel_and_the_source_cache_key_says_so(corpus, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    plain = CorpusSource.open(corpus, cache)
    assert plain.dense_model == "" and plain.index.dense is None
    target, _ = ingest_corpus(corpus, cache)
    dense.build_dense(target, load_index(corpus, cache).texts())
    monkeypatch.setattr(corpus_module, "_loaded", {})

    source = CorpusSource.open(corpus, cache)
    assert source.dense_model == dense.DENSE_MODEL  # cached searches of the lexical-only index are not reused
    # shares no content word with the coral paper: only the dense channel can find it
    query = "sea temperature rise makes polyps expel their symbiotic algae"
    assert "Coral Reef Bleaching Thresholds" not in [p.title for p in plain.search(query, 5)]
    assert "Coral Reef Bleaching Thresholds" in [p.title for p in source.search(query, 3)]
    assert source.search("the of and", 3) == []


def test_semantic_support_credits_a_paraphrase_and_not_an_unrelated_claim():
    paraphrase = "Routing tokens among several low-rank experts works better than one adapter when tasks differ."
    unrelated = "Bacterial diversity in dry soil fell after two seasons without rain."
    lexical, _ = support_score(paraphrase, PAPER, lambda term: 1.0)
    semantic, evidence = support_score(paraphrase, PAPER, lambda term: 1.0, semantic=True)
    assert semantic > lexical
    assert "heterogeneous multi-task mixtures" in evidence
    assert support_score(unrelated, PAPER, lambda term: 1.0, semantic=True)[0] < 0.3


def test_semantic_support_leaves_the_hard_consistency_checks_in_charge():
    settings = Settings().verify
    assert settings.semantic_support
    text = "MoE LoRA adapters do not outperform dense LoRA on heterogeneous multi-task mixtures"
    checked = verify_one(
        Claim(id="c", text=text, paper_id=PAPER.id, source_sentence=text, start=0, end=len(text)), PAPER, settings
    )
    assert checked.label is Label.UNSUPPORTED and any(i.startswith("negation") for i in checked.issues)


def test_corpus_embed_command_builds_once(corpus, tmp_path):
    runner = CliRunner()
    first = runner.invoke(app, ["corpus", "embed", str(corpus), "--cache-dir", str(tmp_path / "cache")])
    assert first.exit_code == 0, first.output
    assert "Dense vectors built" in first.output
    again = runner.invoke(app, ["corpus", "embed", str(corpus), "--cache-dir", str(tmp_path / "cache")])
    assert again.exit_code == 0 and "already built" in again.output
    missing = runner.invoke(app, ["corpus", "embed", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code != 0 and "corpus not found" in missing.output
