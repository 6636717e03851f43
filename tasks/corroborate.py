"""corroborate: each claim the Answer uses, checked against the other kept papers' claims on the same aspect.

A claim is contested when another paper's claim on one of its aspects reports the same quantity moving the other
way, or a different number for the same quantity on the same named setting (benchmark, dataset, model);
corroborated when another paper's claim supports it (the entailment head); single-source otherwise. The head's
refute probability does not contest: on 50 long questions it flagged 34 pairs and none was a real disagreement
(benchmarks/results/contested.md).
A verbatim quote matches its own abstract by construction, so this is the check of a finding that can fail.
"""

from __future__ import annotations

import re

from tasks.coverage import QUANTITY_SYNONYMS
from tasks.index.text import content_terms, named_entities
from tasks.io.latex import plain_text
from tasks.ml.dense import dense_installed
from tasks.ml.entail import entailment, head_installed
from tasks.models import Claim, CrossCheck, CrossPaperStatus, Label
from tasks.settings import VerifySettings
from tasks.verify import alignment, directions

# Words naming a measured quantity: two findings moving the same one in opposite directions conflict.
QUANTITY_TERMS = frozenset(t for words in QUANTITY_SYNONYMS.values() for t in content_terms(words))
# How many words from a quantity a direction cue may stand and still be about it ("reduces GPU memory").
DIRECTION_WINDOW = 3
# How many words from a quantity a number may stand and still be its value ("accuracy on GLUE rises to 85.2%").
NUMBER_WINDOW = 5
# Quantity words that name no measure without the word before them: a "FID score" is not a "CLIP score".
QUALIFIED_TERMS = frozenset(content_terms("score scores"))
# Words after a quantity that make it another quantity, moving the other way or measured apart: "memory efficiency",
# "memory savings", "accuracy loss", "accuracy drop", "accuracy gap".
INVERTING_TERMS = frozenset(content_terms("efficiency savings loss drop degradation gap reduction"))
# A reported value as one word: 85.2%, 1.8, 3x; not a model size such as 7B.
_VALUE = re.compile(r"[+-]?\d+(?:[.,]\d+)*(?:%|x|×)?")
# A bound on a value, not a change: "more than 2× speedup", "fewer than 1,000 examples".
_BOUND = re.compile(r"\b(?:more|less|fewer|greater|higher|lower) than (?=[+-]?\d)")
# A direction denied, not reported: "without increasing GPU memory", "does not reduce accuracy" (not "not only
# improves", which reports one).
_NEGATED_CUE = re.compile(
    r"\b(?:without|not|no|never)\s+(?:(?!only\b)\w+ly\s+)?"
    r"(?:increas|decreas|reduc|rais|improv|enhanc|lower|higher|more|less|fewer|greater)\w*"
)
# Claims that may back or contest another: a refuted or unsupported claim is no evidence either way.
COMPARABLE = (Label.VERIFIED, Label.WEAK)


def _quantity(words: list[str], i: int, term: str) -> str:
    """The measured quantity words[i] names: its stemmed term, with the word before it when the term alone names no
    measure ("fid score"), or with the word after it when that turns it into another ("memory efficiency" rises as
    memory falls, "accuracy loss" falls as accuracy rises)."""
    if term in QUALIFIED_TERMS and i > 0:
        return f"{words[i - 1]} {term}"
    after = content_terms(words[i + 1]) if i + 1 < len(words) else []
    return f"{term} {after[0]}" if after and after[0] in INVERTING_TERMS else term


def directed_quantities(text: str) -> dict[str, set[str]]:
    """Each measured quantity the text names (stemmed) and which way a cue within DIRECTION_WINDOW words moves it."""
    words = re.findall(r"[\w%-]+", _NEGATED_CUE.sub("", _BOUND.sub("", text.lower())))
    moved: dict[str, set[str]] = {}
    for i, word in enumerate(words):
        for term in set(content_terms(word)) & QUANTITY_TERMS:
            near = " ".join(words[max(0, i - DIRECTION_WINDOW) : i + DIRECTION_WINDOW + 1])
            ways = directions(near)
            if ways:
                moved.setdefault(_quantity(words, i, term), set()).update(ways)
    return moved


def opposite_direction(claim: str, other: str) -> str:
    """The quantity two findings move in opposite directions (stemmed), or "" when they do not."""
    ours, theirs = directed_quantities(claim), directed_quantities(other)
    opposed = [q for q in ours.keys() & theirs.keys() if len(ours[q]) == len(theirs[q]) == 1 and ours[q] != theirs[q]]
    return min(opposed, default="")


def quantity_values(text: str) -> dict[str, set[str]]:
    """Each measured quantity the text names (stemmed) and the values within NUMBER_WINDOW words of it."""
    words = re.findall(r"[\w%.,×+-]*[\w%×]", text.lower())
    valued: dict[str, set[str]] = {}
    for i, word in enumerate(words):
        for term in set(content_terms(word)) & QUANTITY_TERMS:
            near = words[max(0, i - NUMBER_WINDOW) : i + NUMBER_WINDOW + 1]
            values = {w.replace(",", "") for w in near if _VALUE.fullmatch(w)}
            if values:
                valued.setdefault(_quantity(words, i, term), set()).update(values)
    return valued


def conflicting_number(claim: str, other: str) -> tuple[str, str]:
    """The quantity and named settings both findings report a value for, when none of their values agree; else ("", "").

    Both must name the same settings (benchmarks, datasets, models by name; one may name more than the other when
    they share two) and report the quantity in the same unit (percent or not), so that "85.2% accuracy on GLUE" and
    "78.1% accuracy on GLUE" conflict, and a value on another benchmark does not.
    """
    ours_named, theirs_named = ({n.lower() for n in named_entities(t)} for t in (claim, other))
    settings = ours_named & theirs_named
    # one may name more than the other (the model under a benchmark) when they share the method and a setting,
    # but not a setting the other replaces
    nested = (ours_named <= theirs_named or theirs_named <= ours_named) and len(settings) >= 2
    if not settings or not (ours_named == theirs_named or nested):
        return "", ""
    ours, theirs = quantity_values(claim), quantity_values(other)
    for quantity in sorted(ours.keys() & theirs.keys()):
        a, b = ours[quantity], theirs[quantity]
        same_unit = {v.endswith("%") for v in a} == {v.endswith("%") for v in b}
        if same_unit and not a & b:
            return quantity, ", ".join(sorted(n for n in named_entities(other) if n.lower() in settings))
    return "", ""


def as_written(quantity: str, text: str) -> str:
    """The quantity in the text's own words: for each of its parts, the first word it comes from ("FID score")."""
    words = re.findall(r"[\w%-]+", text)
    return " ".join(
        next((w for w in words if w.lower() == part or part in content_terms(w)), part) for part in quantity.split()
    )


def relation(claim: Claim, other: Claim, settings: VerifySettings) -> tuple[CrossPaperStatus | None, str]:
    """Whether `other` backs or contests `claim`, and why; None when it says nothing of it."""
    ours, theirs = plain_text(claim.text), plain_text(other.text)  # "$2\\times$" is the value 2×
    quantity = opposite_direction(ours, theirs)
    if quantity:
        return (
            CrossPaperStatus.CONTESTED,
            f"{other.paper_id} reports {as_written(quantity, ours)} moving the other way",
        )
    quantity, setting = conflicting_number(ours, theirs)
    if quantity:
        values = ", ".join(sorted(quantity_values(theirs)[quantity]))
        return (
            CrossPaperStatus.CONTESTED,
            f"{other.paper_id} reports {as_written(quantity, ours)} {values} with {setting}, not the value here",
        )
    if not (settings.semantic_support and dense_installed() and head_installed()):
        return None, ""
    result = entailment(claim.text, [other.text], alignment(claim.text, other.text))
    if result.support >= settings.supported_probability:
        return CrossPaperStatus.CORROBORATED, ""
    return None, ""


def cross_check_one(claim: Claim, others: list[Claim], settings: VerifySettings) -> CrossCheck:
    """The claim against the comparable claims of other papers that share one of its aspects."""
    backing, contesting, reasons = [], [], []
    for other in others:
        if other.paper_id == claim.paper_id or other.label not in COMPARABLE:
            continue
        if not set(claim.aspects) & set(other.aspects):
            continue
        status, reason = relation(claim, other, settings)
        if status is CrossPaperStatus.CONTESTED:
            contesting.append(other)
            reasons.append(reason)
        elif status is CrossPaperStatus.CORROBORATED:
            backing.append(other)
    if contesting:
        status, behind = CrossPaperStatus.CONTESTED, contesting
    elif backing:
        status, behind = CrossPaperStatus.CORROBORATED, backing
    else:
        return CrossCheck(status=CrossPaperStatus.SINGLE_SOURCE)
    return CrossCheck(
        status=status,
        paper_ids=list(dict.fromkeys(c.paper_id for c in behind)),
        claim_ids=[c.id for c in behind],
        detail="; ".join(reasons),
    )


def corroborate(claims: list[Claim], settings: VerifySettings) -> list[Claim]:
    """Every VERIFIED claim (those the Answer may use) with what the other papers' claims say of it."""
    return [
        claim.model_copy(update={"cross_check": cross_check_one(claim, claims, settings)})
        if claim.label is Label.VERIFIED
        else claim
        for claim in claims
    ]
