"""The answerability benchmark's own logic on hand-made reports and rows (no shared data, no flow run)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from benchmarks.answerability import brief_signals, corpus_without, run_record, summarise


def report(policy: str, score: float, candidates: list[tuple[str, bool, float]]) -> dict:
    """The report.json fields the benchmark reads."""
    return {
        "decision": {"policy": policy, "score": score, "failed_gates": [], "reasons": ["why"]},
        "tribunal": {"score": score},
        "candidates": [{"paper": {"id": pid}, "kept": kept, "relevance": rel} for pid, kept, rel in candidates],
        "stage_seconds": {"plan_queries": 0.1},
        "settings": {"rank": {"relevance_threshold": 0.45}},
    }


def row(source: str, present: tuple[str, float, bool], removed: tuple[str, float]) -> dict:
    gold = {"2401.00001"}
    kept_present = [("2401.00001v2", present[2], 0.6), ("2402.00002", True, 0.7)]
    return {
        "source": source,
        "present": run_record(report(present[0], present[1], kept_present), gold, 3.0),
        "removed": run_record(report(removed[0], removed[1], [("2402.00002", True, 0.7)]), gold, 5.0),
    }


def test_run_record_places_the_best_gold_paper_through_version_suffixes() -> None:
    candidates = [("2402.00002", True, 0.7), ("2401.00001v3", False, 0.3), ("2403.00003", False, 0.5)]
    gold = {"2401.00001", "2403.00003", "2404.00004"}
    record = run_record(report("AUTO_APPROVE", 8.0, candidates), gold, 1.234)
    assert not record["gold_kept"] and record["seconds"] == 1.23
    assert record["gold_outcome"] == "passed the gate, not kept"
    assert [(g["rank"], g["outcome"]) for g in record["gold_papers"]] == [
        (2, "below the gate"),
        (3, "passed the gate, not kept"),
        (None, "not a candidate"),
    ]


def test_a_gold_paper_a_revision_dropped_is_told_apart_from_one_never_found() -> None:
    data = report("HUMAN_REVIEW", 5.0, [("2402.00002", True, 0.7), ("2401.00001", False, 0.5)])
    data["candidates"][1]["dropped"] = True
    record = run_record(data, {"2401.00001"}, 1.0)
    assert record["gold_outcome"] == "dropped by a revision" and not record["gold_kept"]


def test_summary_per_source() -> None:
    rows = [
        row("LitSearch", ("AUTO_APPROVE", 8.0, True), ("AUTO_APPROVE", 7.0)),
        row("LitSearch", ("AUTO_APPROVE", 6.0, False), ("HUMAN_REVIEW", 6.5)),
        row("LitSearch", ("SOFT_APPROVE", 5.0, True), ("REJECT", 1.0)),
        row("PASA_AutoScholar", ("HUMAN_REVIEW", 4.0, False), ("AUTO_APPROVE", 9.0)),
    ]
    summary = summarise(rows)
    lit, pasa = summary["LitSearch"], summary["PASA_AutoScholar"]
    assert lit["questions"] == 3 and lit["gold paper kept"] == pytest.approx(0.667)
    assert (lit["AUTO_APPROVE, gold present"], lit["AUTO_APPROVE, gold removed"]) == (0.667, 0.333)
    assert lit["approval precision"] == 0.5
    # present scores 8, 6, 5 against removed 7, 6.5, 1: 5 of 9 pairs ordered, no ties
    assert lit["tribunal score AUROC, present vs removed"] == pytest.approx(5 / 9, abs=1e-3)
    assert lit["policies AUTO/SOFT/HUMAN/REJECT, removed"] == "1 / 0 / 1 / 1"
    misses = lit["gold not kept: not a candidate / below the gate / passed the gate, not kept / dropped by a revision"]
    assert misses == "0 / 0 / 1 / 0"
    assert lit["median run seconds"] == 4.0
    assert pasa["approval precision"] is None and pasa["tribunal score AUROC, present vs removed"] == 0.0


def test_brief_signals_read_the_kept_papers_and_the_aspect_verdicts() -> None:
    data = report("SOFT_APPROVE", 7.0, [("a", True, 0.6), ("b", True, 0.8), ("c", False, 0.9)])
    for candidate, similarity in zip(data["candidates"], (0.7, 0.4, 0.95)):
        candidate["similarity"] = similarity
    data["draft"] = {
        "coverage": [
            {"claim_ids": ["a1", "b1"], "paper_ids": ["a", "b"]},
            {"claim_ids": ["a2"], "paper_ids": ["a"]},
            {"claim_ids": [], "paper_ids": []},
            {"claim_ids": ["b2"], "paper_ids": ["b"]},
        ]
    }
    # the unkept candidate's similarity and relevance do not count; paper a addresses 2 of the 4 aspects
    assert brief_signals(data) == {
        "best kept similarity": 0.7,
        "best kept relevance": 0.8,
        "aspects one paper addresses": 0.5,
        "aspects addressed": 0.75,
    }


def test_signal_aurocs_tell_which_signal_separates_the_conditions() -> None:
    rows = []
    for present, removed in ((0.9, 0.5), (0.8, 0.6)):
        rows.append(row("LitSearch", ("AUTO_APPROVE", 8.0, True), ("AUTO_APPROVE", 8.0)))
        rows[-1]["present"]["signals"]["best kept similarity"] = present
        rows[-1]["removed"]["signals"]["best kept similarity"] = removed
    summary = summarise(rows)["LitSearch"]
    name = next(n for n in summary if n.startswith("signal AUROC"))
    # similarity orders every present run above every removed one; the other signals tie
    assert summary[name] == "1.0 / 0.5 / 0.5 / 0.5"


def test_corpus_without_drops_every_row_of_a_paper(tmp_path: Path) -> None:
    source = tmp_path / "corpus.jsonl.gz"
    ids = ["2401.00001", "2401.00001v2", "2402.00002"]
    with gzip.open(source, "wt") as out:
        out.writelines(json.dumps({"id": pid, "title": "t", "abstract": "a"}) + "\n" for pid in ids)
    reduced = corpus_without(source, {"2401.00001"}, tmp_path, "test")
    with gzip.open(reduced, "rt") as rows:
        assert [json.loads(line)["id"] for line in rows] == ["2402.00002"]
    assert corpus_without(source, {"2401.00001"}, tmp_path, "test") == reduced
