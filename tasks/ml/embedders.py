"""Embedders behind one small interface; the offline one is TF-IDF + TruncatedSVD (LSA)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import joblib
import numpy as np
from pydantic import BaseModel, PrivateAttr
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from tasks.index.text import content_terms

TextKind = Literal["query", "passage"]


def _identity(tokens: list[str]) -> list[str]:
    return tokens


# corpus indexes built before tasks/ had subpackages pickled `_identity` as tasks.embedders._identity
sys.modules.setdefault("tasks.embedders", sys.modules[__name__])


class LsaModel:
    """TF-IDF over stemmed content terms, reduced by TruncatedSVD; also the source of term IDF."""

    def __init__(self, vectorizer: TfidfVectorizer, svd: TruncatedSVD | None):
        self.vectorizer = vectorizer
        self.svd = svd
        if svd is not None:
            # `transform` multiplies by components_.T, which SciPy copies to C order at every call unless it already
            # is (96k corpus: 66 MB, 0.1-0.2 s a call, half of a long query's search); same values, same products
            svd.components_ = np.asfortranarray(svd.components_)
        idf = vectorizer.idf_.tolist()  # plain floats by vocabulary: 4× quicker than get_feature_names_out()
        self._idf = {term: idf[column] for term, column in vectorizer.vocabulary_.items()}
        self.max_idf = float(vectorizer.idf_.max())

    @classmethod
    def fit(cls, token_lists: list[list[str]], dims: int = 128, svd_sample: int = 20000) -> LsaModel:
        """Fit on tokenised documents; SVD on a fixed sample keeps big corpora quick."""
        vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=1, dtype=np.float32)
        matrix = vectorizer.fit_transform(token_lists)
        n_components = min(dims, matrix.shape[0] - 1, matrix.shape[1] - 1)
        svd = None
        if n_components >= 2:
            rows = np.random.default_rng(0).permutation(matrix.shape[0])[:svd_sample]
            svd = TruncatedSVD(n_components=n_components, random_state=0).fit(matrix[np.sort(rows)])
        return cls(vectorizer, svd)

    @classmethod
    def load(cls, path: Path) -> LsaModel:
        vectorizer, svd = joblib.load(path)
        return cls(vectorizer, svd)

    def save(self, path: Path) -> None:
        joblib.dump((self.vectorizer, self.svd), path)

    @property
    def dimension(self) -> int:
        return self.svd.n_components if self.svd is not None else len(self._idf)

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term; unseen terms count as rarest."""
        return float(self._idf.get(term, self.max_idf))

    def knows(self, term: str) -> bool:
        """Whether the term occurs in the documents the model was fitted on."""
        return term in self._idf

    def transform(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors for the texts."""
        return self.transform_terms([content_terms(t) for t in texts])

    def transform_terms(self, token_lists: list[list[str]]) -> np.ndarray:
        """Unit-length vectors for documents already tokenised into stemmed content terms."""
        sparse = self.vectorizer.transform(token_lists)
        dense = self.svd.transform(sparse) if self.svd is not None else sparse.toarray()
        return normalize(np.asarray(dense, dtype=np.float32))


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors; `kind` lets asymmetric models embed queries differently."""

    name: str

    def embed(self, texts: list[str], kind: TextKind = "passage") -> np.ndarray: ...


class LsaEmbedder(BaseModel):
    """Offline embedder on a fitted LSA model; its fields (not the model) form the cache key."""

    name: str = "offline-lsa"
    fingerprint: str

    _model: LsaModel = PrivateAttr()

    @classmethod
    def from_model(cls, model: LsaModel, fingerprint: str) -> LsaEmbedder:
        embedder = cls(name=f"offline-lsa-{model.dimension}", fingerprint=fingerprint)
        embedder._model = model
        return embedder

    @property
    def model(self) -> LsaModel:
        return self._model

    def embed(self, texts: list[str], kind: TextKind = "passage") -> np.ndarray:
        return self._model.transform(texts)


class TermWeights(BaseModel):
    """IDF of stemmed terms from the corpus (or the retrieved set) for goal-term coverage."""

    fingerprint: str

    _model: LsaModel = PrivateAttr()

    @classmethod
    def from_model(cls, model: LsaModel, fingerprint: str) -> TermWeights:
        weights = cls(fingerprint=fingerprint)
        weights._model = model
        return weights

    def weight(self, term: str) -> float:
        return self._model.idf(term)

    def known(self, term: str) -> bool:
        return self._model.knows(term)

    def paper_share(self, term: str) -> float:
        """Share of the corpus's papers that use the term, read back from its smoothed IDF (ln((1+n)/(1+df)) + 1)."""
        papers = 2 * math.exp(self.max_weight - 1) - 1
        return (2 * math.exp(self.max_weight - self.weight(term)) - 1) / papers

    @property
    def max_weight(self) -> float:
        """The IDF of a term found in one document: the rarest a known term can be."""
        return self._model.max_idf
