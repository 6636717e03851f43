"""verify_claims: align each claim with its best evidence sentence and check it is consistent.

Support is the claim's term alignment with the abstract; with the dense extra, mostly its token-level MaxSim.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from prefect import task
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from tasks.backends.llm import ChatModel
from tasks.common import STAGE_CACHE
from tasks.index.text import (
    content_terms,
    named_entities,
    negations,
    normalize_space,
    numbers,
    sentence_texts,
    term_pairs,
)
from tasks.judge import judge_claims
from tasks.ml.dense import dense_installed, evidence_projection, maxsim
from tasks.ml.embedders import TermWeights
from tasks.ml.entail import entailment, head_installed
from tasks.models import Claim, ClaimIssue, IssueKind, Label, Paper
from tasks.progress import STAGE_HOOKS
from tasks.settings import VerifySettings

DIRECTION_CUES = {
    "up": re.compile(
        r"\b(?:increas\w*|higher|more|greater|elevat\w*|enhanc\w*|promot\w*|improv\w*|up-?regulat\w*|rais\w*)\b"
    ),
    "down": re.compile(
        r"\b(?:decreas\w*|lower|less|fewer|reduc\w*|declin\w*|impair\w*|inhibit\w*|suppress\w*|down-?regulat\w*)\b"
    ),
}


def baseline_cosine(claim: str, source: str) -> float:
    """The replaced product's signal: TF-IDF (1-2-gram) cosine of claim vs whole source."""
    try:
        matrix = TfidfVectorizer(ngram_range=(1, 2)).fit_transform([claim, source])
    except ValueError:  # only stop words or empty text
        return 0.0
    return float(cosine_similarity(matrix[0], matrix[1])[0, 0])


def _uniform(term: str) -> float:
    return 1.0


def alignment(claim: str, passage: str, weight: Callable[[str], float] = _uniform) -> float:
    """0..1: IDF-weighted share of the claim's terms the passage states, and of its term pairs."""
    claim_terms, passage_terms = content_terms(claim), content_terms(passage)
    if not claim_terms:
        return 0.0
    unique = set(claim_terms)
    present = unique & set(passage_terms)
    unigram = sum(weight(t) for t in present) / sum(weight(t) for t in unique)
    claim_pairs = term_pairs(claim_terms)
    bigram = len(claim_pairs & term_pairs(passage_terms)) / len(claim_pairs) if claim_pairs else unigram
    return 0.7 * unigram + 0.3 * bigram


def support_score(
    claim: str,
    paper: Paper,
    weight: Callable[[str], float],
    semantic: bool = False,
    settings: VerifySettings | None = None,
) -> tuple[float, str]:
    """Support by the best one- or two-sentence window, blended with the whole abstract; and the best sentence.

    With `semantic`, most of the score is the claim's token-level MaxSim with the abstract, which credits
    paraphrases, and the best sentence is the one with the highest MaxSim. `settings` give the shares (defaults).
    """
    settings = settings or VerifySettings()
    source = paper.abstract
    sentences = sentence_texts(source)
    single = [alignment(claim, s, weight) for s in sentences]
    # Findings often span two sentences ("We measured X. It rose by 12%."); score those windows too.
    pairs = [alignment(claim, f"{a} {b}", weight) for a, b in zip(sentences, sentences[1:])]
    window = max([*single, *pairs])
    whole = alignment(claim, f"{paper.title} {source}", weight)
    lexical = settings.window_share * window + (1 - settings.window_share) * whole
    if not semantic:
        return lexical, sentences[int(np.argmax(single))]
    best = maxsim(claim, sentences, evidence_projection())
    if not best.size:  # an empty claim: no tokens, and no terms either
        return 0.0, sentences[0]
    # the sentence of highest unprojected MaxSim is most often in the gold rationale (benchmarks/results/tuning.md);
    # the token states are held, so this second MaxSim costs only products
    evidence = sentences[int(np.argmax(maxsim(claim, sentences).mean(axis=1)))]
    share = settings.semantic_share
    return (1 - share) * lexical + share * float(best.max(axis=0).mean()), evidence


def consistency_issues(claim: str, evidence: str, context: str) -> list[ClaimIssue]:
    """Numbers, names, negation and direction the claim states that its evidence does not back."""
    issues = []
    missing_numbers = numbers(claim) - numbers(evidence)
    if missing_numbers:
        detail = f"not in evidence: {', '.join(sorted(missing_numbers))}"
        issues.append(ClaimIssue(kind=IssueKind.NUMBER, detail=detail))
    known_names = {n.lower() for n in named_entities(context)}
    missing_names = {n for n in named_entities(claim) if n.lower() not in known_names}
    if missing_names:
        issues.append(ClaimIssue(kind=IssueKind.NAME, detail=f"not in source: {', '.join(sorted(missing_names))}"))
    if negations(claim) % 2 != negations(evidence) % 2:
        issues.append(ClaimIssue(kind=IssueKind.NEGATION, detail="differs from evidence"))
    claim_direction, evidence_direction = directions(claim), directions(evidence)
    if claim_direction and evidence_direction and not claim_direction & evidence_direction:
        issues.append(ClaimIssue(kind=IssueKind.DIRECTION, detail="differs from evidence"))
    return issues


def directions(text: str) -> set[str]:
    """Which way the text says an effect goes: up, down, or both."""
    lowered = text.lower()
    return {name for name, pattern in DIRECTION_CUES.items() if pattern.search(lowered)}


def entailed_support(claim: str, paper: Paper) -> tuple[float, float, str]:
    """The entailment head's support and refute probabilities for the claim, and the sentence it leaned on."""
    sentences = sentence_texts(paper.abstract)
    result = entailment(claim, sentences, alignment(claim, paper.abstract))
    return result.support, result.refute, sentences[result.evidence]


def graded(confidence: float, issues: list[ClaimIssue], weak: float, verified: float) -> Label:
    """UNSUPPORTED under `weak` or with a hard issue, WEAK under `verified` or with any issue, else VERIFIED."""
    if any(i.hard for i in issues) or confidence < weak:
        return Label.UNSUPPORTED
    if issues or confidence < verified:
        return Label.WEAK
    return Label.VERIFIED


def support_label(confidence: float, issues: list[ClaimIssue], settings: VerifySettings) -> Label:
    """The label from the support score alone."""
    return graded(confidence, issues, settings.weak_threshold, settings.verified_threshold)


def entailment_label(
    confidence: float, support: float, contradiction: float, issues: list[ClaimIssue], settings: VerifySettings
) -> Label:
    """The label from the entailment head's probabilities: a refuted claim is CONTRADICTED, not merely unsupported."""
    if contradiction >= settings.contradicted_probability and contradiction > support:
        return Label.CONTRADICTED
    return graded(confidence, issues, settings.weak_probability, settings.supported_probability)


def verify_one(
    claim: Claim, paper: Paper | None, settings: VerifySettings, weights: TermWeights | None = None
) -> Claim:
    """The claim labelled VERIFIED / WEAK / UNSUPPORTED / CONTRADICTED with its evidence and confidence."""
    if paper is None:
        return claim.model_copy(
            update={
                "label": Label.UNSUPPORTED,
                "confidence": 0.0,
                "issues": [ClaimIssue(kind=IssueKind.NO_SOURCE, detail="source paper not retrieved")],
            }
        )
    source = paper.abstract
    cosine = baseline_cosine(claim.text, source)
    semantic = settings.semantic_support and dense_installed()
    contradiction = 0.0
    quote_exact = normalize_space(claim.text) in normalize_space(source)
    # a verbatim quote is entailed by its source by construction: the head would only judge the quote's own words
    # (it reads a quoted negative finding as refuted); what checks such a claim is tasks.corroborate
    entailed = semantic and settings.entailment_head and head_installed() and not quote_exact
    if entailed:
        support, contradiction, evidence = entailed_support(claim.text, paper)
    else:
        weight = weights.weight if weights else _uniform
        support, evidence = support_score(claim.text, paper, weight, semantic, settings)
    issues = consistency_issues(claim.text, evidence, f"{paper.title} {source}")
    hard_issue = any(i.hard for i in issues)
    confidence = support * (0.3 if hard_issue else 0.7 if issues else 1.0)
    label = (
        entailment_label(confidence, support, contradiction, issues, settings)
        if entailed
        else support_label(confidence, issues, settings)
    )
    return claim.model_copy(
        update={
            "label": label,
            "confidence": round(confidence, 4),
            "support": round(support, 4),
            "contradiction": round(contradiction, 4),
            "baseline_cosine": round(cosine, 4),
            "baseline_verified": cosine >= settings.baseline_tfidf_threshold,
            "evidence": evidence,
            "issues": issues,
            "quote_exact": quote_exact,
        }
    )


@task(name="verify_claims", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def verify_claims(
    claims: list[Claim],
    papers: list[Paper],
    settings: VerifySettings,
    chat: ChatModel | None = None,
    weights: TermWeights | None = None,
) -> list[Claim]:
    """Every claim checked against the abstract of the paper it cites; with a chat model, also judged by it."""
    by_id = {p.id: p for p in papers}
    checked = [verify_one(c, by_id.get(c.paper_id), settings, weights) for c in claims]
    return checked if chat is None else judge_claims(checked, by_id, chat, settings)
