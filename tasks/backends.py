"""Factories that pick a paper source and the embedding models from the settings."""

from __future__ import annotations

from tasks.arxiv_source import ArxivSource
from tasks.corpus import CorpusError, paper_text
from tasks.embedders import LsaEmbedder, LsaModel, TermWeights
from tasks.models import SearchResult, content_id
from tasks.settings import Settings
from tasks.sources import CorpusSource, PaperSource
from tasks.text import content_terms


def open_source(settings: Settings) -> PaperSource:
    """The paper source the settings name, ready to search."""
    search = settings.search
    if search.source == "arxiv":
        return ArxivSource(
            query_url=search.arxiv_query_url,
            min_interval_seconds=search.arxiv_min_interval_seconds,
            timeout_seconds=search.arxiv_timeout_seconds,
        )
    if search.corpus is None:
        raise CorpusError("source 'corpus' needs a corpus file: pass --corpus PATH or set SOVEREIGN_SEARCH__CORPUS")
    return CorpusSource.open(search.corpus, search.cache_dir)


def offline_models(source: PaperSource, results: list[SearchResult]) -> tuple[LsaEmbedder, TermWeights]:
    """Embedder and term weights: the corpus's own LSA model, else one fitted on what was retrieved."""
    if isinstance(source, CorpusSource):
        model, fingerprint = source.index.lsa, source.content_hash
    else:
        papers = {p.id: p for r in results for p in r.papers}
        texts = [paper_text(p) for p in papers.values()] or [" ".join(r.query for r in results)]
        model, fingerprint = LsaModel.fit([content_terms(t) for t in texts]), content_id(*sorted(papers))
    return LsaEmbedder.from_model(model, fingerprint), TermWeights.from_model(model, fingerprint)
