"""Whole research runs that must not approve themselves: near-topic goals, a missing central entity, nothing on-topic;
and a long multi-aspect goal that keeps its method's own paper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.research import research_flow
from tasks.models import AspectKind, Policy, Report

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
MOLA = "2404.90001"

pytestmark = pytest.mark.usefixtures("prefect_harness")


def run(goal: str, tmp_path: Path, corpus: Path = FIXTURE) -> Report:
    published = research_flow(goal=goal, corpus=str(corpus), out_dir=str(tmp_path / "runs"))
    return Report.model_validate_json((published.directory / "report.json").read_text())


def corpus_text() -> str:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.startswith("{")]
    return " ".join(f"{r.get('title', '')} {r.get('abstract', '')}" for r in rows).lower()


@pytest.mark.parametrize(
    ("goal", "absent_words", "aspect"),
    [
        ("What are the privacy risks of mixture-of-experts LoRA adapters?", ["privacy"], "privacy risks"),
        (
            "How do mixture-of-experts LoRA adapters perform for machine translation of low-resource languages?",
            ["translation", "low-resource"],
            "machine translation",
        ),
    ],
)
def test_near_topic_goal_is_not_approved_and_names_the_missing_aspect(goal, absent_words, aspect, tmp_path):
    assert not any(word in corpus_text() for word in absent_words)  # the aspect is in no paper at all
    report = run(goal, tmp_path)
    assert report.draft.papers, "the topic is in the corpus"
    # a draft, or held for review when no quote reports a finding on any aspect (the quotes' filings are checked)
    assert report.decision.policy in (Policy.SOFT_APPROVE, Policy.HUMAN_REVIEW)
    assert any(aspect in reason and "not addressed" in reason for reason in report.decision.reasons)
    answer = report.draft.answer
    named = f"{aspect} (what is measured): not addressed" in answer or f"- {aspect}: not addressed" in answer
    if report.decision.policy is Policy.SOFT_APPROVE:
        assert named and any("no revision was possible" in note for note in report.draft.revision_notes)
    elif report.draft.answered:  # most of the question unaddressed: held as off the question, the aspect named
        assert named and any("off the question" in gate for gate in report.decision.failed_gates)
    else:
        assert "does not answer this question" in answer and aspect in answer


def test_goal_whose_central_entity_no_paper_addresses_is_held_for_review(tmp_path):
    assert "prefix" not in corpus_text()
    report = run("How does prefix tuning compare with dense LoRA fine-tuning in accuracy?", tmp_path)
    assert report.decision.policy is Policy.HUMAN_REVIEW
    assert any("central entity 'prefix tuning'" in gate for gate in report.decision.failed_gates)


def test_nothing_on_topic_is_rejected_with_the_reason(tmp_path):
    report = run("How does quantum error correction scale with qubit count?", tmp_path)
    assert report.decision.policy is Policy.REJECT and not report.draft.papers
    assert "on-topic" in report.decision.reasons[0]


def test_kept_papers_without_verified_evidence_are_held_for_review(tmp_path):
    # every kept paper's abstract is framing only: no sentence states a finding, so no claim can be verified
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.startswith("{")]
    framing = [
        {**r, "abstract": f"This paper studies {r['title'].lower()}. We describe the setting and the data."}
        for r in rows
        if isinstance(r.get("title"), str) and isinstance(r.get("abstract"), str) and "id" in r
    ]
    corpus = tmp_path / "framing.jsonl"
    corpus.write_text("\n".join(json.dumps(r) for r in framing) + "\n")
    report = run("What are the trade-offs of mixture-of-experts LoRA adapters?", tmp_path, corpus)
    assert report.draft.papers and not report.draft.answered
    assert report.decision.policy is Policy.HUMAN_REVIEW
    assert "no verified finding addresses the goal" in report.decision.failed_gates


def test_long_multi_aspect_goal_keeps_the_method_paper_and_reports_each_aspect(tmp_path):
    goal = (
        "How does MoLA's routing of LoRA experts affect accuracy and training time on a 12-task benchmark "
        "compared with dense LoRA fine-tuning for 7B models?"
    )
    report = run(goal, tmp_path)
    kept = [p.paper.id for p in report.draft.papers]
    assert MOLA in kept
    kinds = {v.aspect.text: v.aspect.kind for v in report.draft.coverage}
    assert kinds["MoLA"] is AspectKind.ENTITY and kinds["7B models"] is AspectKind.SETTING
    # no paper of the corpus mentions 7B models, so the answer says so and the brief is not approved
    assert "7B models (setting): not addressed by the retrieved literature" in report.draft.answer
    assert report.decision.policy is not Policy.AUTO_APPROVE
