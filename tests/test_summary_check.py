"""With a chat model, every sentence of its summary is checked against the findings it cites."""

from __future__ import annotations

from factories import make_report

from tasks.brief import brief_context
from tasks.draft import checked_summary, compose_draft
from tasks.settings import VerifySettings

LEXICAL = VerifySettings(semantic_support=False)
FINDINGS = [
    (1, "p1", "Retrieval augmentation reduces hallucination by 30% on open-domain question answering."),
    (2, "p2", "Dense retrievers outperform BM25 on Natural Questions."),
]


def test_a_sentence_its_findings_support_stays_and_one_they_do_not_is_removed():
    summary = (
        "Retrieval augmentation reduces hallucination by 30% on open-domain question answering [1]. "
        "Retrieval augmentation reduces hallucination by 75% on every benchmark [1]. "
        "Dense retrievers outperform BM25 on Natural Questions [2]. "
        "Nothing is known about latency."
    )
    kept, removed = checked_summary(summary, FINDINGS, LEXICAL)
    assert kept == (
        "Retrieval augmentation reduces hallucination by 30% on open-domain question answering [1]. "
        "Dense retrievers outperform BM25 on Natural Questions [2]."
    )
    # an invented number, and a sentence that cites nothing
    assert removed == [
        "Retrieval augmentation reduces hallucination by 75% on every benchmark [1].",
        "Nothing is known about latency.",
    ]


def test_a_sentence_citing_the_wrong_finding_is_removed():
    kept, removed = checked_summary("Dense retrievers outperform BM25 on Natural Questions [1].", FINDINGS, LEXICAL)
    assert kept == "" and len(removed) == 1


def test_the_draft_drops_the_unsupported_sentence_and_the_brief_lists_it(fake_chat):
    report = make_report(claims=3)
    claims = report.draft.claims
    first = claims[0]
    invented = "It also halves inference cost on every benchmark [1]."
    chat = fake_chat({"summary": f"{first.text.rstrip('.')} [1]. {invented}"})
    draft = compose_draft.fn(report.plan, report.candidates, claims, 0, [], chat, LEXICAL)
    assert f"{first.text.rstrip('.')} [1]." in draft.answer and invented not in draft.answer
    assert draft.summary_removed == [invented]
    context = brief_context(report.model_copy(update={"draft": draft, "chat_model": "fake-chat"}))
    listed = {u.heading: u.items for u in context["uncertainties"]}
    assert listed["Summary sentences removed: the findings they cite do not support them"] == [invented]
    assert "1 sentence they did not support was removed" in context["how_checked"]
