"""On the real arXiv catalogue in ../shared/data (skipped on machines that do not have it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flows.research import research_flow
from tasks.models import Policy, Report

CATALOG = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv" / "llm_papers_catalog.jsonl.gz"
GOAL = "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?"

pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(not CATALOG.is_file(), reason=f"real corpus absent: {CATALOG} (shared data not mounted)"),
    pytest.mark.usefixtures("prefect_harness"),
]


def is_lora_moe(title_and_abstract: str) -> bool:
    text = title_and_abstract.lower()
    return "lora" in text and bool(re.search(r"mixture|experts?\b|moe", text))


def test_moe_lora_goal_keeps_and_cites_lora_moe_papers(tmp_path):
    published = research_flow(goal=GOAL, corpus=str(CATALOG), out_dir=str(tmp_path))
    report = Report.model_validate_json(published.json.read_text())
    kept = report.draft.papers
    on_topic = [r for r in kept if is_lora_moe(f"{r.paper.title} {r.paper.abstract}")]
    assert len(on_topic) >= 0.75 * len(kept) and len(kept) >= 4, [r.paper.title for r in kept]
    assert "2404.15159" in {r.paper.id for r in kept}  # MixLoRA
    cited = {c.paper_id for c in report.draft.citations}
    assert len(cited) >= 3 and cited <= {r.paper.id for r in on_topic}
    assert report.decision.policy is Policy.AUTO_APPROVE


def test_unrelated_goal_on_real_corpus_is_not_approved(tmp_path):
    goal = "How do coral reefs recover after marine heatwaves in the Great Barrier Reef?"
    published = research_flow(goal=goal, corpus=str(CATALOG), out_dir=str(tmp_path))
    report = Report.model_validate_json(published.json.read_text())
    assert report.decision.policy is not Policy.AUTO_APPROVE, report.decision
