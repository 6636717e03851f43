"""Whether a passage supports, refutes or says nothing about a claim: a small head on MiniLM token states.

A multinomial logistic regression over features of the claim's alignment with the passage, fitted on SciFact train
and HealthVer dev by benchmarks/fit_entailment_head.py and stored beside the evidence projection.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tasks.index.text import negations
from tasks.ml.dense import token_states

ENTAILMENT_HEAD = Path(__file__).with_name("entailment_head.npz")
# the order of the head's classes, as fitted
CLASSES = ("support", "refute", "neutral")


class Entailment(NamedTuple):
    """The head's probabilities for one claim and passage, and the passage sentence it leaned on."""

    support: float
    refute: float
    neutral: float
    evidence: int


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def pair_features(claim: str, sentences: list[str], lexical: float) -> tuple[np.ndarray, int]:
    """The head's input for a claim and a passage's sentences, and the index of the best sentence.

    `lexical` is the claim's term alignment with the passage (tasks.verify.alignment), passed in so this module
    does not depend on the verifier that calls it.
    """
    claim_vectors, *sentence_vectors = token_states([claim, *sentences])
    passage = np.concatenate(sentence_vectors)
    # einsum, not `@`: see tasks.ml.dense.maxsim
    similarity = np.einsum("qd,pd->qp", claim_vectors, passage)
    bounds = np.cumsum([0, *(len(v) for v in sentence_vectors)])
    per_sentence = np.stack([similarity[:, a:b].max(axis=1) for a, b in zip(bounds, bounds[1:])]).clip(min=0)
    best = int(np.argmax(per_sentence.mean(axis=1)))
    claim_mean = _unit(claim_vectors.mean(axis=0))
    # each claim token's best-matching passage token: what the passage says where the claim says something
    aligned = _unit(passage[similarity.argmax(axis=1)].mean(axis=0))
    sentence_mean = _unit(sentence_vectors[best].mean(axis=0))
    # no MaxSim under the evidence projection: it was fitted on SciFact train, which it separates far better than
    # any held-out set (grouped cross-validation AUROC 1.0 there), so the head would learn to lean on it
    scalars = np.array(
        [
            per_sentence.max(axis=0).mean(),
            per_sentence[best].mean(),
            lexical,
            float(negations(claim) > 0),
            float(negations(sentences[best]) > 0),
            float(negations(claim) % 2 != negations(sentences[best]) % 2),
        ]
    )
    pooled = [
        claim_mean * aligned,
        np.abs(claim_mean - aligned),
        claim_mean * sentence_mean,
        np.abs(claim_mean - sentence_mean),
    ]
    return np.concatenate([scalars, *pooled]).astype(np.float32), best


@cache
def _head() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fitted head: feature mean and scale, coefficients (classes × features), intercepts."""
    stored = np.load(ENTAILMENT_HEAD)
    return stored["mean"], stored["scale"], stored["coef"], stored["intercept"]


def head_installed() -> bool:
    """Whether the fitted head is beside this module."""
    return ENTAILMENT_HEAD.is_file()


def probabilities(features: np.ndarray) -> np.ndarray:
    """Softmax of the head over standardised features: rows × CLASSES."""
    mean, scale, coef, intercept = _head()
    logits = np.atleast_2d((features - mean) / scale) @ coef.T + intercept
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def entailment(claim: str, sentences: list[str], lexical: float) -> Entailment:
    """How far the passage supports or refutes the claim, and its sentence that the head leaned on."""
    features, best = pair_features(claim, sentences, lexical)
    support, refute, neutral = (float(p) for p in probabilities(features)[0])
    return Entailment(support, refute, neutral, best)
