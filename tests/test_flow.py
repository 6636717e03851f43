"""The whole research flow under a Prefect test server, on the project's fixture corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from flows.research import research_flow
from tasks.index.corpus import load_index
from tasks.models import Label, Policy, Report
from tasks.progress import subscribe
from tasks.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
GOAL = "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?"

pytestmark = pytest.mark.usefixtures("prefect_harness")


def load_report(directory: Path) -> Report:
    return Report.model_validate_json((directory / "report.json").read_text())


def test_flow_publishes_an_approved_cited_brief(tmp_path):
    published = research_flow(goal=GOAL, corpus=str(FIXTURE), out_dir=str(tmp_path / "runs"))
    report = load_report(published.directory)
    assert sorted(p.name for p in published.directory.iterdir()) == [
        "claims.parquet",
        "papers.parquet",
        "references.bib",
        "report.json",
        "report.md",
        "report.pdf",
    ]
    assert report.decision.policy is Policy.AUTO_APPROVE
    kept = {p.paper.id for p in report.draft.papers}
    cited = {c.paper_id for c in report.draft.citations}
    assert cited and cited <= kept and len(cited) >= 2
    cited_claims = {x.claim_id for x in report.draft.citations}
    assert all(c.label is Label.VERIFIED for c in report.draft.claims if c.id in cited_claims)
    # every claim the Answer uses was checked against the other kept papers, and every cited paper is in the .bib
    assert all(c.cross_check for c in report.draft.claims if c.id in cited_claims)
    bib = published.bibtex.read_text(encoding="utf-8")
    assert all(paper_id in bib for paper_id in cited)
    assert set(report.stage_seconds) >= {
        "plan_queries",
        "search",
        "merge_rank",
        "extract_claims",
        "verify_claims",
        "embed",
        "tribunal",
        "decide_policy",
    }
    assert report.settings_hash and report.settings["rank"]["max_papers"] == 8
    # the brief says how much it searched and how (lexical alone or with the corpus's dense vectors)
    papers = len(load_index(FIXTURE, Settings().search.cache_dir))  # its malformed rows skipped
    assert report.source.startswith(f"corpus {FIXTURE} ({papers:,} papers, lexical ")
    pdf_text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(published.pdf).pages)
    assert "Extracted Claims" in pdf_text and "SOVEREIGN" in pdf_text


def test_off_topic_corpus_is_rejected_with_the_reason(tmp_path):
    off_topic = tmp_path / "off_topic.jsonl"
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.startswith("{")]
    off_topic.write_text("\n".join(json.dumps(r) for r in rows if str(r.get("id", "")).startswith("230")) + "\n")
    published = research_flow(goal=GOAL, corpus=str(off_topic), out_dir=str(tmp_path / "runs"))
    report = load_report(published.directory)
    assert report.decision.policy is Policy.REJECT and published.pdf is None and published.markdown is None
    assert report.draft.papers == [] and not report.draft.answered
    assert "is on-topic" in report.decision.reasons[0] and "does not answer" in report.draft.answer
    # the follow-up searches for the missing aspects find nothing new, and the brief says so instead of a round
    assert report.draft.revision_round == 0 and len(report.tribunal_history) == 1
    assert any(note.startswith("no revision was possible") for note in report.draft.revision_notes)


def test_rerun_reuses_every_finished_stage(tmp_path):
    args = dict(
        goal="Do sparse LoRA experts reduce memory during fine-tuning?",
        corpus=str(FIXTURE),
        out_dir=str(tmp_path / "runs"),
    )
    first = research_flow(**args)
    seen: list[tuple[str, str]] = []
    unsubscribe = subscribe(lambda stage, state: seen.append((stage, state)))
    try:
        second = research_flow(**args)
    finally:
        unsubscribe()
    finished = [(stage, state) for stage, state in seen if state != "Running" and stage != "publish"]
    assert finished and all(state == "Cached" for _, state in finished), finished
    assert load_report(second.directory).decision == load_report(first.directory).decision


def test_flow_on_live_arxiv_source_against_loopback_atom_server(tmp_path, monkeypatch):
    from tasks.index.corpus import load_papers
    from tests.atom_server import AtomServer

    papers = [p.model_dump() for p in load_papers(FIXTURE)[0]]
    with AtomServer(papers) as server:
        monkeypatch.setenv("SOVEREIGN_SEARCH__ARXIV_QUERY_URL", server.url_format)
        monkeypatch.setenv("SOVEREIGN_SEARCH__ARXIV_MIN_INTERVAL_SECONDS", "0.2")
        published = research_flow(goal=GOAL, source="arxiv", out_dir=str(tmp_path / "runs"))
        requests = list(server.requests)
    report = load_report(published.directory)
    assert report.source == "arxiv" and len(requests) >= 4
    gaps = [b.at - a.at for a, b in zip(requests, requests[1:])]
    assert min(gaps) >= 0.15, gaps
    kept = {p.paper.id for p in report.draft.papers}
    assert "2404.90001" in kept and not kept & {"2301.80001", "2305.80005"}
    assert report.decision.policy is Policy.AUTO_APPROVE


def test_a_revision_that_answers_less_is_scored_and_set_aside(tmp_path, monkeypatch):
    # the fixture has no paper on prefix tuning: the tribunal asks for a revision, whose follow-up search runs
    goal = "How does prefix tuning compare with dense LoRA fine-tuning in accuracy?"
    kept = load_report(research_flow(goal=goal, corpus=str(FIXTURE), out_dir=str(tmp_path / "kept")).directory)
    assert kept.draft.revision_round == 1 and kept.tribunal.round == 1
    # the same run when the revised draft answers less than the one before it
    monkeypatch.setattr("flows.research.revision_setback", lambda *_: "2 aspect(s) addressed, against 3 before it")
    published = research_flow(goal=goal, corpus=str(FIXTURE), out_dir=str(tmp_path / "set_aside"))
    report = load_report(published.directory)
    assert report.draft.revision_round == 0 and report.tribunal.round == 0
    assert [t.round for t in report.tribunal_history] == [0, 1]  # the round set aside was scored
    assert "revision round 1 not kept: 2 aspect(s) addressed, against 3 before it" in report.draft.revision_notes
    assert "without revision (1 further round tried and not kept)" in published.markdown.read_text()
