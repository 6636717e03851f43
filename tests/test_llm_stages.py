"""The LLM stages' own logic with an in-process fake chat model: what a reply may change and what it never may.

The replies are the test's, whatever the prompts say, so rewording a prompt breaks none of these; the NIM client and
its protocol are tested against a loopback server in tests/test_nim.py.
"""

from __future__ import annotations

import html
from pathlib import Path

from tasks.index.corpus import load_papers
from tasks.models import Claim, Label, Policy, RankedPaper
from tasks.plan import plan_queries
from tasks.revise import revise
from tasks.settings import TribunalSettings, VerifySettings
from tasks.tribunal import review
from tasks.verify import verify_claims
from tests.factories import make_report

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"


def kept_paper(paper_id: str) -> RankedPaper:
    paper = next(p for p in load_papers(FIXTURE)[0] if p.id == paper_id)
    return RankedPaper(paper=paper, fused_score=0.1, relevance=0.9, term_coverage=0.9, similarity=0.5, kept=True)


def test_judge_can_demote_or_refute_but_never_excuse_a_number(fake_chat):
    ranked = kept_paper("2404.90001")
    sentence = "MoLA improves average accuracy by 4.2% over dense LoRA fine-tuning on a 12-task benchmark."
    wrong_number = sentence.replace("4.2%", "9.9%")
    claims = [
        Claim(id=f"c{i}", text=text, paper_id=ranked.paper.id, source_sentence=text, start=0, end=len(text))
        for i, text in enumerate([sentence, sentence + " ", wrong_number])
    ]
    chat = fake_chat(*({"verdict": v, "reason": "checked"} for v in ("SUPPORTS", "REFUTES", "SUPPORTS")))
    offline = verify_claims.fn(claims, [ranked.paper], VerifySettings())
    judged = verify_claims.fn(claims, [ranked.paper], VerifySettings(), chat)
    assert offline[0].label is Label.VERIFIED and judged[0].label is Label.VERIFIED
    assert judged[1].label is Label.UNSUPPORTED and judged[1].judge.startswith("REFUTES")
    assert offline[2].label is Label.UNSUPPORTED and judged[2].label is Label.UNSUPPORTED  # SUPPORTS did not excuse it
    asked = html.unescape(next(m.content for m in chat.sent[0] if m.role == "user"))
    assert f'<untrusted-data label="claim">\n{sentence}\n</untrusted-data>' in asked


def test_reviewer_findings_must_name_something_in_the_draft(fake_chat):
    draft = make_report(claims=5).draft
    claim = draft.claims[0]
    findings = [
        {"kind": "unsupported_claim", "detail": "overstated", "claim_id": claim.id},
        {"kind": "unsupported_claim", "detail": "made up", "claim_id": "no-such-claim"},
        {"kind": "off_topic_source", "detail": "not the skeptic's kind", "paper_id": claim.paper_id},
    ]
    offline = review.fn(draft, "skeptic", TribunalSettings())
    chat = fake_chat({"score": 9.5, "findings": findings, "rationale": "ok"})
    judged = review.fn(draft, "skeptic", TribunalSettings(), chat)
    added = judged.findings[len(offline.findings) :]
    assert [f.detail for f in added] == ["overstated"] and judged.score == offline.score


def test_revise_asks_for_follow_up_searches_on_the_missing_aspects(fake_chat):
    report = make_report(policy=Policy.SOFT_APPROVE, claims=3)
    missing = [f.aspect for f in report.tribunal.findings if f.aspect]
    chat = fake_chat({"queries": [f"{a} retrieval study" for a in missing]})
    plan = revise.fn(report.draft, report.tribunal, chat=chat)
    assert missing and plan.queries == [f"{a} retrieval study" for a in missing]
    assert f"Missing aspects: {'; '.join(missing)}" in chat.sent[0][-1].content
    assert plan.drop_claim_ids == revise.fn(report.draft, report.tribunal).drop_claim_ids  # drops stay computed


def test_model_aspects_replace_the_parsed_ones_only_in_the_goals_own_words(fake_chat):
    goal = "How does MoLA compare with dense LoRA in accuracy?"
    grounded = [
        {"text": "MoLA", "kind": "entity"},
        {"text": "dense LoRA", "kind": "comparison"},
        {"text": "accuracy", "kind": "quantity"},
    ]
    plan = plan_queries.fn(goal, fake_chat({"queries": ["MoLA accuracy"], "aspects": grounded}))
    assert [(a.text, a.kind.value) for a in plan.aspects] == [(a["text"], a["kind"]) for a in grounded]
    assert plan.central == "MoLA" and plan.queries[0] == "MoLA accuracy"
    # an aspect the goal never asked about is dropped; without a grounded entity the parser's aspects stand
    invented = [*grounded, {"text": "privacy leakage", "kind": "topic"}]
    assert plan_queries.fn(goal, fake_chat({"queries": ["MoLA accuracy"], "aspects": invented})).aspect_texts == [
        a["text"] for a in grounded
    ]
    no_entity = [{"text": "prefix tuning", "kind": "entity"}, *grounded[1:]]
    chat = fake_chat({"queries": ["MoLA accuracy"], "aspects": no_entity})
    assert plan_queries.fn(goal, chat).aspects == plan_queries.fn(goal).aspects
