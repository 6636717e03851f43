"""The long-goal briefs benchmark's own logic on a fixture report (no shared data, no flow run)."""

from __future__ import annotations

from factories import make_report

from benchmarks.long_goal_briefs import brief_record, summary_table
from tasks.models import AspectTable, EvidenceRow, Policy


def test_a_brief_is_recorded_by_policy_and_aspect_verdicts_and_the_table_counts_them():
    approved = brief_record(make_report(Policy.AUTO_APPROVE).model_dump(mode="json"))
    held = brief_record(make_report(Policy.HUMAN_REVIEW, claims=0).model_dump(mode="json"))
    assert approved["policy"] == "AUTO_APPROVE" and approved["central"] == "retrieval augmentation"
    assert any(a["papers"] > 0 for a in approved["aspects"]) and all(a["papers"] == 0 for a in held["aspects"])
    table = summary_table([approved, held])
    assert "AUTO_APPROVE 1, SOFT_APPROVE 0, HUMAN_REVIEW 1, REJECT 0" in table
    addressed = sum(a["papers"] > 0 for a in approved["aspects"])
    assert f"aspects addressed {addressed} of {len(approved['aspects']) * 2}" in table
    assert f"| 0 / {len(held['aspects'])} |" in table


def test_each_cited_claim_is_one_evidence_row_with_its_sentence_and_the_table_counts_what_rows_name():
    report = make_report(Policy.AUTO_APPROVE)
    first, second = report.draft.claims[:2]
    named = EvidenceRow(number=1, claim_id=first.id, method="RAG", setting="NQ", value="4.2%", direction="higher")
    bare = EvidenceRow(number=2, claim_id=second.id, method="", setting="", value="", direction="")
    # the first claim is filed under two aspects: one row for it all the same
    report.draft.tables = [
        AspectTable(aspect=a, rows=rows, sentences=[]) for a, rows in (("x", [named, bare]), ("y", [named]))
    ]
    record = brief_record(report.model_dump(mode="json"))
    assert [r["sentence"] for r in record["evidence_rows"]] == [first.text, second.text]
    table = summary_table([record])
    assert "rows (one per cited claim): 2, naming a method 1, a setting 1, a reported value 1, a direction 1" in table
