"""corpus-embed flow: a corpus's papers embedded chunk by chunk on a local process pool or a Dask cluster.

Each chunk of `SOVEREIGN_EMBED__CHUNK_PAPERS` rows with papers the vector store (tasks/index/vectors.py) lacks is one
`embed-chunk` task. The flow stores each chunk's vectors as soon as it finishes, so a killed or failed run keeps them
and the next run embeds only what is still missing; once every paper has a vector, the corpus's vectors file is
assembled and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Literal

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ProcessPoolTaskRunner
from pydantic import BaseModel

from tasks.backends.factory import open_embedder
from tasks.backends.llm import ModelUnavailable
from tasks.common import retry_transient
from tasks.index.corpus import index_dir, load_index
from tasks.index.vectors import MiniLmEmbedder, VectorStore, from_legacy, legacy_vectors, paper_keys, vectors_file
from tasks.io.atomic import write_atomic
from tasks.ml.dense import ANN_FILE, build_ann, dense_dir
from tasks.ml.embedders import Embedder
from tasks.progress import report
from tasks.settings import Settings

CHUNK_STAGE = "embed-chunk"


class EmbedFailed(RuntimeError):
    """Some chunks could not be embedded; the chunks stored are kept for the next run."""


class EmbedSummary(BaseModel):
    """What one corpus-embed run did."""

    vectors_file: str
    model: str
    papers: int
    chunks: int
    embedded_papers: int = 0
    migrated_papers: int = 0
    built: bool = False


@task(
    name=CHUNK_STAGE,
    task_run_name="embed-chunk-{first}",
    cache_policy=NO_CACHE,  # the vector store is the cache: results are neither hashed nor persisted
    persist_result=False,
    retry_condition_fn=retry_transient,
)
def embed_chunk(texts: list[str], embedder: Embedder, first: int) -> np.ndarray:
    """Float16 passage vectors of one chunk's texts (`first`: the index row the chunk starts at)."""
    return np.asarray(embedder.embed(texts, "passage"), dtype=np.float16)


def corpus_embedder(choice: Literal["offline", "nim"], settings: Settings) -> BaseModel:
    """MiniLM (offline), or the NIM embedder checked reachable, without its per-text cache (the store is one)."""
    if choice == "offline":
        return MiniLmEmbedder()
    nim = settings.model_copy(update={"llm": settings.llm.model_copy(update={"embedder": "nim"})})
    return open_embedder(nim, content_cache=False)


def _index_vectors(target: Path, directory: Path, settings: Settings, rebuild: bool) -> None:
    """The approximate index of the search channel's vectors, for a corpus big enough to need one; none otherwise."""
    if target != dense_dir(directory) / "vectors.npy":
        return
    papers = int(np.load(target, mmap_mode="r").shape[0])
    ann = target.with_name(ANN_FILE)
    if papers < settings.embed.ann_min_papers:
        ann.unlink(missing_ok=True)
    elif rebuild or not ann.is_file():
        build_ann(target, os.cpu_count() or 1)


@flow(name="corpus-embed", task_runner=ProcessPoolTaskRunner())
def embed_corpus(
    corpus: str, cache_dir: str | None = None, embedder: Literal["offline", "nim"] = "offline"
) -> EmbedSummary:
    """Embed the corpus's papers the store lacks, chunk by chunk, then assemble the corpus's vectors file."""
    settings, logger = Settings(), get_run_logger()
    cache = Path(cache_dir) if cache_dir else settings.search.cache_dir
    index = load_index(Path(corpus), cache)
    model = corpus_embedder(embedder, settings)
    store, directory = VectorStore.of(cache, model), index_dir(cache, index.content_hash)
    size = settings.embed.chunk_papers
    target, starts = vectors_file(directory, model), range(0, len(index), size)
    keys = np.concatenate([paper_keys(index.ids[s : s + size], index.texts(s, s + size)) for s in starts])
    digest = hashlib.sha256(keys.tobytes()).hexdigest()
    summary = EmbedSummary(vectors_file=str(target), model=model.name, papers=len(index), chunks=len(starts))
    meta_file = target.with_name("meta.json")
    if target.is_file() and meta_file.is_file() and json.loads(meta_file.read_text()).get("keys") == digest:
        _index_vectors(target, directory, settings, rebuild=False)
        return summary

    missing = store.catalog().find(keys) < 0
    legacy = legacy_vectors(directory, len(index)) if isinstance(model, MiniLmEmbedder) else []
    todo = [s for s in starts if missing[s : s + size].any()]
    logger.info("%d of %d chunks have papers to embed (%d papers)", len(todo), len(starts), int(missing.sum()))
    chunk = embed_chunk.with_options(
        retries=settings.embed.task_retries, retry_delay_seconds=settings.embed.retry_delay_seconds
    )
    pending: dict[PrefectFuture, np.ndarray] = {}  # each submitted chunk's rows
    failures: list[tuple[int, BaseException]] = []

    def store_next() -> None:
        """Store the next chunk to finish, or note its failure."""
        future = next(as_completed(list(pending)))
        rows = pending.pop(future)
        try:
            store.add(keys[rows], future.result())
        except Exception as exc:
            logger.error("chunk at row %d failed: %s", rows[0], exc)
            failures.append((int(rows[0]), exc))
            return
        summary.embedded_papers += len(rows)
        report(CHUNK_STAGE, f"{summary.embedded_papers + summary.migrated_papers:,} of {int(missing.sum()):,} papers")

    for first in todo:
        if any(isinstance(exc, ModelUnavailable) for _, exc in failures):
            break  # a retry cannot help: the model is unreachable or rejects the key
        rows = first + np.flatnonzero(missing[first : first + size])
        earlier = from_legacy(legacy, rows)
        if earlier is not None:
            store.add(keys[rows], earlier)
            summary.migrated_papers += len(rows)
            continue
        while len(pending) >= settings.embed.chunks_in_flight:
            store_next()
        texts = index.texts(first, first + size)
        pending[chunk.submit([texts[r - first] for r in rows], model, first)] = rows
    while pending:
        store_next()
    if failures:
        first, exc = failures[0]
        raise EmbedFailed(
            f"{len(failures)} of {len(todo)} chunks failed (first at row {first}: {type(exc).__name__}: {exc}); "
            f"the {summary.embedded_papers + summary.migrated_papers:,} papers stored are kept: run again to embed "
            "only the rest"
        )

    store.assemble(keys, target)
    dims = int(np.load(target, mmap_mode="r").shape[1])
    write_atomic(
        meta_file,
        json.dumps({"model": model.name, "store": store.root.name, "papers": len(index), "dims": dims, "keys": digest}),
    )
    shutil.rmtree(dense_dir(directory) / "parts", ignore_errors=True)  # an earlier version's, now in the store
    _index_vectors(target, directory, settings, rebuild=True)
    logger.info(
        "%d papers embedded, %d migrated; vectors in %s", summary.embedded_papers, summary.migrated_papers, target
    )
    return summary.model_copy(update={"built": True})


def _share_cores(threads: int) -> None:
    """In a pool process: ONNX Runtime takes its share of the cores unless SOVEREIGN_EMBED__ONNX_THREADS says."""
    os.environ.setdefault("SOVEREIGN_EMBED__ONNX_THREADS", str(threads))


def embed_flow_on(task_runner: Literal["processes", "dask"], address: str | None = None, workers: int | None = None):
    """The corpus-embed flow on a local pool of `workers` processes, or on the Dask cluster at `address`."""
    if task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        return embed_corpus.with_options(task_runner=DaskTaskRunner(address=address))
    cores = os.cpu_count() or 1
    count = workers or Settings().embed.local_workers or cores
    pool = ProcessPoolTaskRunner(max_workers=count, initializer=_share_cores, initargs=(max(1, cores // count),))
    return embed_corpus.with_options(task_runner=pool)
