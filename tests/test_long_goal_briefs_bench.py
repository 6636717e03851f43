"""The long-goal briefs benchmark's own logic on a fixture report (no shared data, no flow run)."""

from __future__ import annotations

from factories import make_report

from benchmarks.long_goal_briefs import brief_record, summary_table
from tasks.models import Policy


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
