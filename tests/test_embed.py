"""The corpus-embed flow: chunks on a process pool or a real Dask cluster, resumable, vectors reused by paper."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dask
import numpy as np
import pytest
from typer.testing import CliRunner

from flows import embed as embed_module
from flows.cli import app
from flows.embed import EmbedFailed, embed_flow_on
from tasks.index import corpus as corpus_module
from tasks.index.corpus import index_dir, load_index
from tasks.index.vectors import vectors_file
from tasks.ml.dense import ANN_FILE, DENSE_MODEL, dense_dir, dense_installed, load_dense
from tests.embed_helpers import CountingEmbedder, executed_per_worker, fake_vector, loopback_cluster
from tests.openai_server import OpenAIServer, hashed_vector

pytestmark = pytest.mark.usefixtures("prefect_harness")
FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
needs_dense = pytest.mark.skipif(not dense_installed(), reason="the dense extra is not installed")


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """A private copy of the fixture corpus, chunks of 4 papers, failed chunks not retried."""
    monkeypatch.setenv("SOVEREIGN_EMBED__CHUNK_PAPERS", "4")
    monkeypatch.setenv("SOVEREIGN_EMBED__TASK_RETRIES", "0")
    monkeypatch.setattr(corpus_module, "_loaded", {})
    path = tmp_path / "corpus.jsonl"
    shutil.copy(FIXTURE, path)
    return path


def counting(monkeypatch, tmp_path, fail_on: str = "") -> CountingEmbedder:
    """Make the flow embed with a CountingEmbedder that logs under tmp_path."""
    embedder = CountingEmbedder(log=str(tmp_path / "embedded.log"), fail_on=fail_on)
    monkeypatch.setattr(embed_module, "corpus_embedder", lambda choice, settings: embedder)
    return embedder


def run(corpus: Path, cache: Path, **options):
    """The flow on a local pool of one process."""
    return embed_flow_on("processes", workers=1)(corpus=str(corpus), cache_dir=str(cache), **options)


def test_a_failed_chunk_fails_the_run_and_the_rerun_embeds_only_that_chunk(corpus, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    index = load_index(corpus, cache)
    texts = index.texts()
    failing = counting(monkeypatch, tmp_path, fail_on=index.paper(5).title)  # in the second chunk: rows 4-7

    with pytest.raises(EmbedFailed, match="1 of 4 chunks failed"):
        run(corpus, cache)
    assert failing.embedded() == len(texts) - 4
    target = vectors_file(index_dir(cache, index.content_hash), failing)
    assert not target.exists()  # the corpus's vectors appear whole or not at all

    working = counting(monkeypatch, tmp_path)
    summary = run(corpus, cache)
    assert summary.built and summary.embedded_papers == 4 and working.embedded() == len(texts)
    assert np.allclose(np.load(target), [fake_vector(t) for t in texts], atol=2e-3)
    again = run(corpus, cache)
    assert not again.built and working.embedded() == len(texts)


def test_a_corpus_with_papers_removed_reuses_their_vectors_and_a_changed_abstract_is_embedded_again(
    corpus, tmp_path, monkeypatch
):
    cache = tmp_path / "cache"
    embedder = counting(monkeypatch, tmp_path)
    run(corpus, cache)
    full = load_index(corpus, cache)
    full_vectors = np.load(vectors_file(index_dir(cache, full.content_hash), embedder))

    lines = corpus.read_text().splitlines(keepends=True)  # some are not JSON on purpose: kept as they are
    kept = [line for line in lines if not any(f'"id": "{i}' in line for i in full.ids[:3])]
    smaller = tmp_path / "smaller.jsonl"
    smaller.write_text("".join(kept))
    summary = run(smaller, cache)
    assert summary.built and summary.embedded_papers == 0 and embedder.embedded() == len(full)
    index = load_index(smaller, cache)
    vectors = np.load(summary.vectors_file)
    assert np.array_equal(vectors, full_vectors[[full.row_of(i) for i in index.ids]])

    changed = next(n for n, line in enumerate(kept) if f'"id": "{full.ids[3]}' in line)
    row = json.loads(kept[changed])
    kept[changed] = json.dumps({**row, "abstract": row["abstract"] + " We also release the code."}) + "\n"
    smaller.write_text("".join(kept))
    assert run(smaller, cache).embedded_papers == 1


@needs_dense
@pytest.mark.parametrize("layout", ["finished file", "parts of a killed build"])
def test_an_earlier_versions_vectors_are_migrated_into_the_store_not_embedded_again(corpus, tmp_path, layout):
    cache = tmp_path / "cache"
    index = load_index(corpus, cache)
    directory = dense_dir(index_dir(cache, index.content_hash))
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    earlier = rng.normal(size=(len(index), 384)).astype(np.float32)
    earlier /= np.linalg.norm(earlier, axis=1, keepdims=True)
    if layout == "finished file":
        np.save(directory / "vectors.npy", earlier)
        (directory / "meta.json").write_text(json.dumps({"model": DENSE_MODEL, "papers": len(index), "dims": 384}))
    else:  # the earlier build saved float16 parts named by their first row
        (directory / "parts").mkdir()
        np.save(directory / "parts" / "00000000.npy", earlier[:9].astype(np.float16))
        np.save(directory / "parts" / "00000009.npy", earlier[9:].astype(np.float16))

    summary = run(corpus, cache)
    assert summary.built and summary.migrated_papers == len(index) and summary.embedded_papers == 0
    assert np.allclose(load_dense(index_dir(cache, index.content_hash), len(index)), earlier, atol=2e-3)
    assert not (directory / "parts").exists()


def test_the_nim_embedder_embeds_each_paper_once_as_a_passage_beside_the_search_vectors(corpus, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SOVEREIGN_SEARCH__CACHE_DIR", str(cache))  # where a per-text NIM cache would go
    monkeypatch.setenv("SOVEREIGN_LLM__EMBED_DIMENSION", "16")
    monkeypatch.setenv("SOVEREIGN_LLM__REQUESTS_PER_MINUTE", "0")
    with OpenAIServer(dimension=16) as server:
        monkeypatch.setenv("SOVEREIGN_NIM_BASE_URL", server.base_url)  # a self-hosted NIM: no key needed
        summary = run(corpus, cache, embedder="nim")
        sent = [r.body for r in server.requests if r.stage == "embeddings"]
    index = load_index(corpus, cache)
    assert summary.built and summary.model == "nvidia/nv-embedqa-e5-v5" and summary.embedded_papers == len(index)
    assert sorted(text for body in sent for text in body["input"]) == sorted(index.texts())
    assert {body["input_type"] for body in sent} == {"passage"}
    vectors = np.load(summary.vectors_file)
    assert np.allclose(vectors, [hashed_vector(text, 16) for text in index.texts()], atol=2e-3)
    assert Path(summary.vectors_file).parent.name == "nvidia--nv-embedqa-e5-v5"
    assert load_dense(index_dir(cache, index.content_hash), len(index)) is None  # search maps MiniLM's alone
    assert not (cache / "nim").exists()  # the store is the cache: no file per text


@needs_dense
def test_vectors_built_on_a_dask_cluster_of_two_worker_processes_match_the_local_pools(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("SOVEREIGN_EMBED__CHUNK_PAPERS", "5")
    local = embed_flow_on("processes", workers=2)(corpus=str(corpus), cache_dir=str(tmp_path / "local"))
    with loopback_cluster(2, env={"SOVEREIGN_EMBED__ONNX_THREADS": "1"}, logs=tmp_path) as address:
        on_dask = embed_flow_on("dask", address=address)(corpus=str(corpus), cache_dir=str(tmp_path / "dask"))
        executed = executed_per_worker(address)
    assert local.built and on_dask.built and on_dask.chunks == 3 and on_dask.embedded_papers == local.papers
    assert len(executed) == 2 and min(executed) >= 1 and sum(executed) == 3  # both workers embedded chunks
    assert np.allclose(np.load(on_dask.vectors_file), np.load(local.vectors_file), atol=2e-3)


@needs_dense
def test_corpus_embed_command_builds_once_and_refuses_unusable_options(corpus, tmp_path, monkeypatch):
    runner = CliRunner()
    args = ["corpus", "embed", str(corpus), "--cache-dir", str(tmp_path / "cache"), "--workers", "1"]
    monkeypatch.setenv("SOVEREIGN_EMBED__ANN_MIN_PAPERS", "10")  # a corpus this big gets an approximate index
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "Dense vectors built" in first.output and "14 embedded now" in first.output
    ann = dense_dir(index_dir(tmp_path / "cache", load_index(corpus, tmp_path / "cache").content_hash)) / ANN_FILE
    assert ann.is_file()
    monkeypatch.setenv("SOVEREIGN_EMBED__ANN_MIN_PAPERS", "15")  # now too small for one: the stale index goes
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already built" in again.output
    assert not ann.exists()
    for wrong, message in (
        (["--task-runner", "dask"], "--address"),
        (["--address", "tcp://127.0.0.1:9"], "--address"),
        (["--task-runner", "ray"], "unknown task runner"),
        (["--embedder", "bert"], "unknown --embedder"),
    ):
        refused = runner.invoke(app, [*args, *wrong])
        assert refused.exit_code == 2 and message in refused.output
    missing = runner.invoke(app, ["corpus", "embed", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "corpus not found" in missing.output
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        dask_args = ["--cache-dir", str(tmp_path / "other"), "--task-runner", "dask", "--address", "tcp://127.0.0.1:9"]
        unreachable = runner.invoke(app, ["corpus", "embed", str(corpus), *dask_args])  # fresh: a chunk to send
    assert unreachable.exit_code == 1 and "tcp://127.0.0.1:9" in unreachable.output
    assert "Traceback" not in unreachable.output
