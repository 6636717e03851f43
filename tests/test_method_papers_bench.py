"""The method-paper benchmark's own logic on the fixture corpus (no shared data)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.method_papers import outcome, report
from tasks.settings import Settings
from tasks.sources.paper_source import CorpusSource

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
GOAL = "How does MoLA's routing of LoRA experts affect GPU memory compared with dense LoRA fine-tuning?"


def test_the_outcome_finds_the_method_paper_by_any_version_and_the_report_counts_it(tmp_path):
    source = CorpusSource.open(FIXTURE, tmp_path)
    settings = Settings(_env_file=None)
    found = outcome(GOAL, "2404.90001v2", source, settings)
    assert found["paper"] == "2404.90001" and found["kept"] and found["rank"] >= 1
    missing = outcome(GOAL, "2501.99999", source, settings)
    assert (missing["rank"], missing["kept"]) == (None, False)
    table = report([found, missing])
    assert table.startswith("Method's own paper kept: 1 of 2") and "| 2501.99999 | no | — |" in table
