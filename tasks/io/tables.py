"""The brief's Parquet tables: claims and candidate papers with their vectors, in fixed schemas."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from tasks.models import Claim, EmbeddingSet, RankedPaper, Report

CLAIMS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("paper_id", pa.string()),
        ("source_sentence", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("label", pa.string()),
        ("confidence", pa.float64()),
        ("support", pa.float64()),
        ("baseline_cosine", pa.float64()),
        ("baseline_verified", pa.bool_()),
        ("evidence", pa.string()),
        ("issues", pa.list_(pa.string())),
        ("aspects", pa.list_(pa.string())),
        ("unsupported_aspects", pa.list_(pa.string())),
        ("contribution", pa.bool_()),
        ("contradiction", pa.float64()),
        ("quote_exact", pa.bool_()),
        ("cross_check", pa.string()),
        ("cross_check_papers", pa.list_(pa.string())),
        ("vector", pa.list_(pa.float32())),
        ("embedding_model", pa.string()),
    ]
)


PAPERS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("title", pa.string()),
        ("authors", pa.list_(pa.string())),
        ("published", pa.string()),
        ("url", pa.string()),
        ("relevance", pa.float64()),
        ("term_coverage", pa.float64()),
        ("similarity", pa.float64()),
        ("fused_score", pa.float64()),
        ("kept", pa.bool_()),
        ("dropped", pa.bool_()),
        ("vector", pa.list_(pa.float32())),
        ("embedding_model", pa.string()),
    ]
)


def claims_table(report: Report, embeddings: EmbeddingSet) -> pa.Table:
    """One row per claim with its vector, in CLAIMS_SCHEMA."""
    rows = [
        {
            **claim.model_dump(include=set(CLAIMS_SCHEMA.names)),
            "label": claim.label.value,
            "issues": [str(issue) for issue in claim.issues],
            **cross_check_columns(claim),
            "vector": embeddings.claim_vectors.get(claim.id),
            "embedding_model": embeddings.model,
        }
        for claim in report.draft.claims
    ]
    return _table(rows, CLAIMS_SCHEMA)


def cross_check_columns(claim: Claim) -> dict[str, object]:
    """The claims.parquet columns of the cross-paper check: status and the papers behind it."""
    check = claim.cross_check
    return {
        "cross_check": check.status.value if check else None,
        "cross_check_papers": check.paper_ids if check else [],
    }


def papers_table(report: Report, embeddings: EmbeddingSet) -> pa.Table:
    """One row per candidate paper with its scores and vector, in PAPERS_SCHEMA."""
    rows = [_paper_row(rp, embeddings) for rp in report.candidates]
    return _table(rows, PAPERS_SCHEMA)


def _paper_row(ranked: RankedPaper, embeddings: EmbeddingSet) -> dict[str, object]:
    paper = ranked.paper
    return {
        "id": paper.id,
        "title": paper.title,
        "authors": paper.authors,
        "published": paper.published,
        "url": paper.link,
        "relevance": ranked.relevance,
        "term_coverage": ranked.term_coverage,
        "similarity": ranked.similarity,
        "fused_score": ranked.fused_score,
        "kept": ranked.kept,
        "dropped": ranked.dropped,
        "vector": embeddings.paper_vectors.get(paper.id),
        "embedding_model": embeddings.model,
    }


def _table(rows: list[dict[str, object]], schema: pa.Schema) -> pa.Table:
    frame = pd.DataFrame(rows, columns=schema.names)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
