"""embed: vectors for kept papers and claims; near-duplicate claims merged into the stronger one."""

from __future__ import annotations

import numpy as np
from prefect import task

from tasks.common import STAGE_CACHE, retry_transient
from tasks.index.text import numbers
from tasks.ml.embedders import Embedder
from tasks.models import Claim, EmbeddingSet, Paper, paper_text
from tasks.progress import STAGE_HOOKS


def _twins(a: Claim, b: Claim, similarity: float, threshold: float) -> bool:
    """Near-duplicates: close vectors and the same numbers (claims stating different figures are different findings)."""
    # An LSA space fitted on a small corpus can put unrelated findings close together, e.g. after one
    # abstract adds many new words; the numbers guard keeps such findings apart.
    return similarity >= threshold and numbers(a.text) == numbers(b.text)


def merge_duplicates(claims: list[Claim], vectors: np.ndarray, threshold: float) -> list[Claim]:
    """Keep the most confident claim of each group of near-duplicates."""
    order = sorted(range(len(claims)), key=lambda i: -claims[i].confidence)
    kept: list[int] = []
    merged: dict[int, list[str]] = {}
    for i in order:
        twin = next((k for k in kept if _twins(claims[i], claims[k], float(vectors[i] @ vectors[k]), threshold)), None)
        if twin is None:
            kept.append(i)
            merged[i] = []
        else:
            merged[twin].append(claims[i].id)
    return [claims[i].model_copy(update={"duplicates": merged[i]}) for i in sorted(kept)]


@task(
    name="embed",
    **STAGE_HOOKS,
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=retry_transient,
    cache_policy=STAGE_CACHE,
    persist_result=True,
)
def embed(
    papers: list[Paper], claims: list[Claim], embedder: Embedder, duplicate_similarity: float
) -> tuple[EmbeddingSet, list[Claim]]:
    """Embeddings of papers and claims, and the claims with near-duplicates merged."""
    paper_vectors = embedder.embed([paper_text(p) for p in papers]) if papers else np.zeros((0, 0))
    claim_vectors = embedder.embed([c.text for c in claims]) if claims else np.zeros((0, 0))
    dimension = int(paper_vectors.shape[1] if len(papers) else claim_vectors.shape[1] if len(claims) else 0)
    merged = merge_duplicates(claims, claim_vectors, duplicate_similarity) if claims else []
    embeddings = EmbeddingSet(
        model=embedder.name,
        dimension=dimension,
        paper_vectors={p.id: v.tolist() for p, v in zip(papers, paper_vectors)},
        claim_vectors={c.id: v.tolist() for c, v in zip(claims, claim_vectors)},
    )
    return embeddings, merged
