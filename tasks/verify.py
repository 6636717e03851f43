"""verify_claims: align each claim with its best evidence sentence and check it is consistent."""

from __future__ import annotations

from prefect import task
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from tasks.common import STAGE_CACHE
from tasks.models import Claim, Label, Paper
from tasks.progress import STAGE_HOOKS
from tasks.settings import VerifySettings
from tasks.text import content_terms, named_entities, negations, normalize_space, numbers, split_sentences


def baseline_cosine(claim: str, source: str) -> float:
    """The replaced product's signal: TF-IDF (1-2-gram) cosine of claim vs whole source."""
    try:
        matrix = TfidfVectorizer(ngram_range=(1, 2)).fit_transform([claim, source])
    except ValueError:  # only stop words or empty text
        return 0.0
    return float(cosine_similarity(matrix[0], matrix[1])[0, 0])


def _bigrams(terms: list[str]) -> set[tuple[str, str]]:
    return set(zip(terms, terms[1:]))


def alignment(claim: str, sentence: str) -> float:
    """0..1: share of the claim's terms and term pairs that the sentence states."""
    claim_terms, sentence_terms = content_terms(claim), content_terms(sentence)
    if not claim_terms:
        return 0.0
    unigram = len(set(claim_terms) & set(sentence_terms)) / len(set(claim_terms))
    claim_pairs = _bigrams(claim_terms)
    bigram = len(claim_pairs & _bigrams(sentence_terms)) / len(claim_pairs) if claim_pairs else unigram
    return 0.6 * unigram + 0.4 * bigram


def consistency_issues(claim: str, evidence: str, context: str) -> list[str]:
    """Numbers, names and negation the claim states that its evidence does not back."""
    issues = []
    missing_numbers = numbers(claim) - numbers(evidence)
    if missing_numbers:
        issues.append(f"number not in evidence: {', '.join(sorted(missing_numbers))}")
    known_names = {n.lower() for n in named_entities(context)}
    missing_names = {n for n in named_entities(claim) if n.lower() not in known_names}
    if missing_names:
        issues.append(f"name not in source: {', '.join(sorted(missing_names))}")
    if negations(claim) % 2 != negations(evidence) % 2:
        issues.append("negation differs from evidence")
    return issues


def verify_one(claim: Claim, paper: Paper | None, settings: VerifySettings) -> Claim:
    """The claim labelled VERIFIED / WEAK / UNSUPPORTED with its evidence and confidence."""
    if paper is None:
        return claim.model_copy(
            update={"label": Label.UNSUPPORTED, "confidence": 0.0, "issues": ["source paper not retrieved"]}
        )
    source = paper.abstract
    cosine = baseline_cosine(claim.text, source)
    sentences = [normalize_space(source[s:e]) for s, e in split_sentences(source)] or [normalize_space(source)]
    scored = [(alignment(claim.text, s), s) for s in sentences]
    support, evidence = max(scored, key=lambda x: x[0])
    issues = consistency_issues(claim.text, evidence, f"{paper.title} {source}")
    hard_issue = any(i.startswith(("number", "negation")) for i in issues)
    confidence = support * (0.3 if hard_issue else 0.7 if issues else 1.0)
    if hard_issue or confidence < settings.weak_threshold:
        label = Label.UNSUPPORTED
    elif issues or confidence < settings.verified_threshold:
        label = Label.WEAK
    else:
        label = Label.VERIFIED
    return claim.model_copy(
        update={
            "label": label,
            "confidence": round(confidence, 4),
            "support": round(support, 4),
            "baseline_cosine": round(cosine, 4),
            "baseline_verified": cosine >= settings.baseline_tfidf_threshold,
            "evidence": evidence,
            "issues": issues,
        }
    )


@task(name="verify_claims", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def verify_claims(claims: list[Claim], papers: list[Paper], settings: VerifySettings) -> list[Claim]:
    """Every claim checked against the abstract of the paper it cites."""
    by_id = {p.id: p for p in papers}
    return [verify_one(c, by_id.get(c.paper_id), settings) for c in claims]
