"""The entailment head and the labels it gives: VERIFIED, WEAK, UNSUPPORTED, CONTRADICTED; verbatim quotes flagged."""

from __future__ import annotations

import pytest

from tasks.ml.dense import dense_installed
from tasks.ml.entail import entailment, head_installed
from tasks.models import Claim, ClaimIssue, IssueKind, Label, Paper
from tasks.settings import VerifySettings
from tasks.verify import entailment_label, verify_one

SETTINGS = VerifySettings()
NAME = ClaimIssue(kind=IssueKind.NAME, detail="not in source: QLoRA")
NUMBER = ClaimIssue(kind=IssueKind.NUMBER, detail="not in evidence: 45%")
needs_head = pytest.mark.skipif(not (dense_installed() and head_installed()), reason="dense extra or head absent")
PAPER = Paper(
    id="p",
    title="Vitamin D and respiratory infection",
    abstract="We followed 2,000 adults for a year. Vitamin D supplementation did not reduce the risk of respiratory "
    "infection compared with placebo. Adverse events were rare.",
)


def claim(text: str) -> Claim:
    return Claim(id="c", text=text, paper_id=PAPER.id, source_sentence="", start=0, end=0)


@pytest.mark.parametrize(
    "support, refute, issues, label",
    [
        (0.8, 0.1, [], Label.VERIFIED),
        (0.8, 0.1, [NAME], Label.WEAK),
        (0.8, 0.1, [NUMBER], Label.UNSUPPORTED),
        (0.3, 0.6, [], Label.CONTRADICTED),
        (0.3, 0.6, [NUMBER], Label.CONTRADICTED),
        (0.55, 0.52, [], Label.VERIFIED),
        (0.2, 0.1, [], Label.UNSUPPORTED),
        (0.4, 0.3, [], Label.WEAK),
    ],
)
def test_labels_from_the_head_probabilities(support, refute, issues, label):
    penalty = 0.3 if any(i.hard for i in issues) else 0.7 if issues else 1.0
    assert entailment_label(support * penalty, support, refute, issues, SETTINGS) is label


@needs_head
def test_the_head_tells_support_from_refutation_and_finds_the_sentence():
    refuted = entailment(
        "Vitamin D supplementation reduces the risk of respiratory infection.", [*PAPER_SENTENCES], 0.8
    )
    assert refuted.evidence == 1
    unrelated = entailment("Mixture-of-experts adapters speed up language model inference.", [*PAPER_SENTENCES], 0.0)
    assert unrelated.neutral > refuted.neutral


PAPER_SENTENCES = (
    "We followed 2,000 adults for a year.",
    "Vitamin D supplementation did not reduce the risk of respiratory infection compared with placebo.",
    "Adverse events were rare.",
)


@needs_head
def test_a_verbatim_quote_is_flagged_and_a_paraphrase_judged_by_the_head():
    # a quoted negative finding is the source's own words: never CONTRADICTED by it, and flagged as a quote
    quoted = verify_one(claim(PAPER_SENTENCES[1]), PAPER, SETTINGS)
    assert quoted.quote_exact and quoted.label is Label.VERIFIED and quoted.contradiction == 0.0
    paraphrase = verify_one(
        claim("Vitamin D supplementation lowers the risk of respiratory infection."), PAPER, SETTINGS
    )
    assert not paraphrase.quote_exact and paraphrase.contradiction > 0
    assert paraphrase.label is not Label.VERIFIED


def test_without_the_head_no_claim_is_contradicted():
    lexical = VerifySettings(semantic_support=False)
    checked = verify_one(claim("Vitamin D supplementation reduces the risk of respiratory infection."), PAPER, lexical)
    assert checked.label is not Label.CONTRADICTED and checked.contradiction == 0.0
