"""Paper sources behind one method: `search(query, limit) -> list[Paper]`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field, PrivateAttr

from tasks.index.corpus import CorpusIndex, load_index
from tasks.ml.dense import DENSE_MODEL
from tasks.models import Paper
from tasks.settings import HybridSearchSettings


class SourceUnavailable(RuntimeError):
    """The source cannot be reached; the message says what to do instead."""


class TransientSourceError(RuntimeError):
    """The source failed in a way a later retry may not (overload, rate limiting, a broken response)."""


@runtime_checkable
class PaperSource(Protocol):
    """Anything that returns papers ranked for a query."""

    name: str

    def search(self, query: str, limit: int) -> list[Paper]: ...


class CorpusSource(BaseModel):
    """A local corpus file searched through its cached index; fields form the cache key (the hash changes on append)."""

    name: str = "corpus"
    path: Path
    content_hash: str
    # in the cache key: searches rank differently once the corpus's dense vectors are built
    dense_model: str = ""
    hybrid: HybridSearchSettings = Field(default_factory=HybridSearchSettings)

    _index: CorpusIndex = PrivateAttr()

    @classmethod
    def open(cls, path: Path, cache_dir: Path, hybrid: HybridSearchSettings | None = None) -> CorpusSource:
        """Load (building once if needed) the index of the corpus at `path`; `hybrid` tunes its search (defaults)."""
        index = load_index(path, cache_dir)
        dense_model = DENSE_MODEL if index.dense is not None else ""
        hybrid = hybrid or HybridSearchSettings()
        source = cls(path=Path(path), content_hash=index.version, dense_model=dense_model, hybrid=hybrid)
        source._index = index
        return source

    def lexical_only(self) -> CorpusSource:
        """The same corpus searched without its dense channel (to measure what the channel adds)."""
        source = self.model_copy(update={"dense_model": ""})
        source._index = replace(self._index, dense=None)
        return source

    @property
    def index(self) -> CorpusIndex:
        return self._index

    @property
    def searched(self) -> str:
        """How many papers were searched and how, as the brief states it."""
        if self.dense_model:
            return f"{len(self._index):,} papers, lexical and dense ({self.dense_model}) search"
        return f"{len(self._index):,} papers, lexical search alone (sovereign corpus embed adds dense search)"

    def search(self, query: str, limit: int) -> list[Paper]:
        return self._index.search(query, limit, self.hybrid)
