"""Factories that pick a paper source, the embedding models and the chat model from the settings."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from tasks.backends.llm import ChatModel, ModelUnavailable
from tasks.backends.nim import HOSTED_HOSTS, NimChat, NimEmbedder, NimTransport, host_of
from tasks.index.corpus import CorpusError
from tasks.index.text import content_terms
from tasks.ml.embedders import LsaEmbedder, LsaModel, TermWeights
from tasks.models import Paper, SearchResult, content_id, paper_text
from tasks.settings import LlmSettings, NimCredentials, Settings
from tasks.sources.arxiv import ArxivSource
from tasks.sources.paper_source import CorpusSource, PaperSource


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
    return CorpusSource.open(search.corpus, search.cache_dir, search.hybrid)


def fit_term_weights(papers: list[Paper]) -> TermWeights:
    """Term IDF over the given papers' texts, for checking claims when no corpus index is at hand."""
    unique = {p.id: p for p in papers}
    model = LsaModel.fit([content_terms(paper_text(p)) for p in unique.values()], dims=2)
    return TermWeights.from_model(model, content_id(*sorted(unique)))


def source_term_weights(source: PaperSource) -> TermWeights | None:
    """The corpus's term IDF before any search; None for arXiv, whose vocabulary is known only from its answers."""
    if not isinstance(source, CorpusSource):
        return None
    return TermWeights.from_model(source.index.lsa, source.content_hash)


def offline_models(source: PaperSource, results: list[SearchResult]) -> tuple[LsaEmbedder, TermWeights]:
    """Embedder and term weights: the corpus's own LSA model, else one fitted on what was retrieved."""
    if isinstance(source, CorpusSource):
        model, fingerprint = source.index.lsa, source.content_hash
    else:
        papers = {p.id: p for r in results for p in r.papers}
        texts = [paper_text(p) for p in papers.values()] or [" ".join(r.query for r in results)]
        model, fingerprint = LsaModel.fit([content_terms(t) for t in texts]), content_id(*sorted(papers))
    return LsaEmbedder.from_model(model, fingerprint), TermWeights.from_model(model, fingerprint)


def nim_transport(settings: Settings, credentials: NimCredentials) -> NimTransport:
    """How NIM requests travel: key, timeouts, retries, rate, and the content cache under the cache dir."""
    llm = settings.llm
    return NimTransport(
        api_key=credentials.api_key,
        timeout_seconds=llm.timeout_seconds,
        max_attempts=llm.max_attempts,
        max_retries=llm.max_retries,
        retry_base_seconds=llm.retry_base_seconds,
        retry_max_seconds=llm.retry_max_seconds,
        requests_per_minute=llm.requests_per_minute,
        cache_dir=settings.search.cache_dir / "nim",
    )


def _wants_nim(choice: str, option: str, llm: LlmSettings, credentials: NimCredentials) -> bool:
    """Whether `choice` (auto, nim, offline) means NIM; explicit nim on the hosted API without a key is an error."""
    if credentials.resolves_offline(choice):
        return False
    if credentials.api_key is None and urlsplit(llm.nim_base_url).hostname in HOSTED_HOSTS:
        raise ModelUnavailable(
            f"{option} nim needs NVIDIA_API_KEY for NVIDIA's hosted API; set it, or point SOVEREIGN_NIM_BASE_URL "
            "at a self-hosted NIM"
        )
    return True


def _checked(backend: NimChat | NimEmbedder, choice: str, option: str) -> None:
    """Probe the endpoint once; an unusable NIM is an error that says so, never a silent fall-back."""
    try:
        backend.probe()
    except ModelUnavailable as exc:
        why = f"{option} nim was chosen" if choice == "nim" else f"NVIDIA_API_KEY is set, so {option} chose nim"
        raise ModelUnavailable(
            f"{why} but {exc} (endpoint {host_of(backend.base_url)}); pass {option} offline to run without it"
        ) from None


def open_chat(settings: Settings) -> ChatModel | None:
    """The NIM chat model the settings choose, checked reachable; None for the offline stages."""
    llm, credentials = settings.llm, NimCredentials()
    if not _wants_nim(llm.backend, "--llm", llm, credentials):
        return None
    chat = NimChat.create(
        llm.chat_model,
        llm.nim_base_url,
        nim_transport(settings, credentials),
        temperature=llm.temperature,
        max_tokens=llm.max_tokens,
    )
    _checked(chat, llm.backend, "--llm")
    return chat


def open_embedder(settings: Settings, content_cache: bool = True) -> NimEmbedder | None:
    """The NIM embedder the settings choose, checked reachable; None for the offline embedder.

    Without `content_cache` its vectors are not cached one file per text (a corpus's vector store keeps them).
    """
    llm, credentials = settings.llm, NimCredentials()
    if not _wants_nim(llm.embedder, "--embedder", llm, credentials):
        return None
    transport = nim_transport(settings, credentials)
    embedder = NimEmbedder.create(
        llm.embed_model,
        llm.nim_base_url,
        transport if content_cache else replace(transport, cache_dir=None),
        batch_size=llm.embed_batch_size,
        dimension=llm.embed_dimension,
        truncate=llm.embed_truncate,
    )
    _checked(embedder, llm.embedder, "--embedder")
    return embedder
