"""Publish stage: files written atomically, content of the brief, escaping of hostile paper text."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from markdown_it import MarkdownIt
from pypdf import PdfReader

from tasks import publish
from tasks.brief import DRAFT_BANNER, md_escape, reference_numbers
from tasks.io.latex import plain_text
from tasks.io.render import DataOnlyFetcher, render_html, render_markdown, render_pdf
from tasks.io.tables import CLAIMS_SCHEMA, PAPERS_SCHEMA
from tasks.models import CrossCheck, CrossPaperStatus, Label, Policy, Report
from tasks.publish import PublishError, publish_report
from tests.factories import make_embeddings, make_report

BRIEF_FILES = {"report.pdf", "report.md", "references.bib", "report.json", "claims.parquet", "papers.parquet"}
HEADINGS = [
    "Answer",
    "Abstract",
    "1 Introduction",
    "2 Methodology",
    "3 Results",
    "4 Uncertainties",
    "5 Extracted Claims",
    "Tribunal",
    "References",
]


def normalize(text: str) -> str:
    return " ".join(text.split())


def pdf_text(data: bytes) -> str:
    return normalize(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages))


@pytest.fixture(scope="module")
def approved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, publish.PublishedBrief, Path]:
    """One AUTO_APPROVE brief published once; rendering a PDF takes a second or two."""
    report = make_report(Policy.AUTO_APPROVE, claims=5)
    out_dir = tmp_path_factory.mktemp("runs")
    skipped_claim = report.draft.claims[-1].id
    brief = publish_report(report, make_embeddings(report, skip=(skipped_claim,)), out_dir)
    return report, brief, out_dir


def test_publish_writes_the_six_files_and_nothing_else(approved):
    report, brief, out_dir = approved
    assert [p.name for p in out_dir.iterdir()] == [report.run_id]
    assert brief.directory == out_dir / report.run_id
    assert {p.name for p in brief.directory.iterdir()} == BRIEF_FILES
    paths = [brief.pdf, brief.markdown, brief.bibtex, brief.json, brief.claims_parquet, brief.papers_parquet]
    assert all(p is not None and p.parent == brief.directory and p.is_file() for p in paths)
    assert set(brief.files()) == {"pdf", "markdown", "bibtex", "json", "claims_parquet", "papers_parquet"}
    assert (brief.policy, brief.score) == (Policy.AUTO_APPROVE, report.decision.score)


def test_report_json_round_trips(approved):
    report, brief, _ = approved
    assert Report.model_validate_json(brief.json.read_text(encoding="utf-8")) == report


def test_claims_parquet_has_one_row_per_claim_with_vectors(approved):
    report, brief, _ = approved
    table = pq.read_table(brief.claims_parquet)
    assert table.schema.names == CLAIMS_SCHEMA.names
    assert table.schema.field("vector").type == pa.list_(pa.float32())
    frame = table.to_pandas()
    assert list(frame["id"]) == [c.id for c in report.draft.claims]
    assert list(frame["label"]) == [c.label.value for c in report.draft.claims]
    assert list(frame["aspects"].iloc[0]) == report.draft.claims[0].aspects
    assert [len(v) for v in frame["vector"].iloc[:-1]] == [8] * (len(frame) - 1)
    assert frame["vector"].iloc[-1] is None, "a claim without an embedding has a null vector"
    assert set(frame["embedding_model"]) == {"lsa-tfidf-128"}


def test_papers_parquet_has_every_candidate(approved):
    report, brief, _ = approved
    table = pq.read_table(brief.papers_parquet)
    assert table.schema.names == PAPERS_SCHEMA.names
    assert table.schema.field("vector").type == pa.list_(pa.float32())
    frame = table.to_pandas()
    assert list(frame["id"]) == [rp.paper.id for rp in report.candidates]
    assert list(frame["kept"]) == [rp.kept for rp in report.candidates]
    assert frame["relevance"].tolist() == pytest.approx([rp.relevance for rp in report.candidates])
    assert all(len(v) == 8 for v in frame["vector"])
    assert frame["url"].iloc[0] == f"https://arxiv.org/abs/{report.candidates[0].paper.id}"


def test_the_parquet_files_mark_proposals_and_dropped_papers(tmp_path):
    report = make_report(Policy.SOFT_APPROVE, claims=3)
    claims = [c.model_copy(update={"contribution": i == 1}) for i, c in enumerate(report.draft.claims)]
    candidates = [r.model_copy(update={"dropped": i == 0}) for i, r in enumerate(report.candidates)]
    report = report.model_copy(
        update={"draft": report.draft.model_copy(update={"claims": claims}), "candidates": candidates}
    )
    brief = publish_report(report, make_embeddings(report), tmp_path)
    assert pq.read_table(brief.claims_parquet).column("contribution").to_pylist() == [False, True, False]
    dropped = pq.read_table(brief.papers_parquet).column("dropped").to_pylist()
    assert dropped == [True] + [False] * (len(candidates) - 1)


def test_no_claims_still_writes_a_valid_claims_parquet(tmp_path):
    report = make_report(Policy.HUMAN_REVIEW, claims=0)
    brief = publish_report(report, make_embeddings(report), tmp_path)
    table = pq.read_table(brief.claims_parquet)
    assert table.num_rows == 0
    assert table.schema.equals(CLAIMS_SCHEMA)
    assert "No claims were extracted" in pdf_text(brief.pdf.read_bytes())


def test_pdf_contains_every_claim_and_the_sections_in_order(approved):
    report, brief, _ = approved
    data = brief.pdf.read_bytes()
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    for claim in report.draft.claims:
        assert normalize(claim.text) in text
    position = 0
    for heading in HEADINGS:
        position = text.index(heading, position)
    assert f"SOVEREIGN: {report.goal}" in text


def test_sections_come_in_order_in_markdown():
    markdown = render_markdown(make_report())
    headings = [line.removeprefix("## ") for line in markdown.splitlines() if line.startswith("## ")]
    assert headings == HEADINGS


def test_answer_leads_and_their_lists_stay_apart_in_markdown():
    report = make_report()
    answer = "Two findings.\n\nOn retrieval augmentation:\n- first [1]\n- second [1]\n\nOn hallucination rate:\n- third"
    report = report.model_copy(update={"draft": report.draft.model_copy(update={"answer": answer})})
    tokens = MarkdownIt().parse(render_markdown(report).split("## Answer")[1].split("## ")[0])
    top_paragraphs = [t.content for t, o in zip(tokens[1:], tokens) if t.type == "inline" and o.level == 0]
    # after the answer's own blocks come the evidence matrix and its caption
    assert top_paragraphs[:3] == ["Two findings.", "On retrieval augmentation:", "On hallucination rate:"]
    assert top_paragraphs[-1].startswith("_Figure 1. Evidence matrix")
    assert [t.type for t in tokens].count("bullet_list_open") == 2


def test_approved_brief_has_no_draft_banner(approved):
    report, brief, _ = approved
    for text in (pdf_text(brief.pdf.read_bytes()), brief.markdown.read_text(encoding="utf-8"), render_html(report)):
        assert DRAFT_BANNER not in text
        assert "Approved" in text


def test_soft_approved_brief_carries_the_draft_banner_and_watermark(tmp_path):
    report = make_report(Policy.SOFT_APPROVE)
    brief = publish_report(report, make_embeddings(report), tmp_path)
    text = pdf_text(brief.pdf.read_bytes())
    assert DRAFT_BANNER in text
    assert DRAFT_BANNER in brief.markdown.read_text(encoding="utf-8")
    assert 'class="watermark' in render_html(report)


def test_human_review_banner_names_the_failed_gates():
    report = make_report(Policy.HUMAN_REVIEW)
    html, markdown = render_html(report), render_markdown(report)
    for text in (html, markdown):
        assert DRAFT_BANNER in text
        assert "Held for owner review" in text
    assert "Failed gate: answer cites unverified claims: 5f0c2a9e41d7." in html
    assert "banner-held" in html


def test_reject_writes_only_json_and_parquets(tmp_path):
    report = make_report(Policy.REJECT)
    brief = publish_report(report, make_embeddings(report), tmp_path)
    assert brief.pdf is None and brief.markdown is None
    assert set(brief.files()) == {"json", "claims_parquet", "papers_parquet"}
    assert {p.name for p in brief.directory.iterdir()} == {"report.json", "claims.parquet", "papers.parquet"}
    saved = Report.model_validate_json(brief.json.read_text(encoding="utf-8"))
    assert saved.decision.policy is Policy.REJECT
    assert saved.decision.reasons, "the JSON says why the run was rejected"


def test_references_number_cited_papers_first_then_kept_ones():
    report = make_report(claims=5)
    numbers = reference_numbers(report)
    for citation in report.draft.citations:
        assert numbers[citation.paper_id] == citation.number
        assert f"[{citation.number}]" in report.draft.answer
    cited = {c.paper_id for c in report.draft.citations}
    uncited = [rp.paper.id for rp in report.draft.papers if rp.paper.id not in cited]
    assert sorted(numbers[p] for p in uncited) == list(range(len(cited) + 1, len(numbers) + 1))
    markdown = render_markdown(report)
    for paper_id, number in numbers.items():
        assert re.search(rf"^\\\[{number}\\\] .*arXiv:{re.escape(md_escape(paper_id))}", markdown, re.MULTILINE)


def test_uncertainties_are_computed_from_the_run():
    report = make_report(Policy.SOFT_APPROVE, claims=3)
    markdown = render_markdown(report)
    weak = next(c for c in report.draft.claims if c.label is Label.WEAK)
    uncertainties = markdown.split("## 4 Uncertainties")[1].split("## 5 Extracted Claims")[0]
    assert md_escape(weak.text) in uncertainties
    assert "evaluation benchmarks" in uncertainties, "an aspect without a verified claim is listed"


def test_uncertainties_say_what_was_checked_when_nothing_is_wrong():
    report = make_report(claims=8)
    for claim in report.draft.claims:
        claim.label, claim.issues, claim.aspects = Label.VERIFIED, [], []
    for review in report.tribunal.reviews:
        review.findings = []
    uncertainties = render_markdown(report).split("## 4 Uncertainties")[1].split("## 5 Extracted Claims")[0]
    assert "Checked: all 8 claims are VERIFIED" in uncertainties


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("**bold**", r"\*\*bold\*\*"),
        ('<img src="http://x/y.png">', '&lt;img src="http://x/y.png"&gt;'),
        ("[link](http://x)", r"\[link\](http://x)"),
        ("a | b\n\n# heading", r"a \| b \# heading"),
        ("- item", r"\- item"),
        ("1. first", r"1\. first"),
        ("relevance 0.45", "relevance 0.45"),
    ],
)
def test_md_escape(raw, escaped):
    assert md_escape(raw) == escaped


def test_hostile_paper_text_is_escaped_in_html_and_markdown():
    report = make_report(claims=3, hostile=True)
    html, markdown = render_html(report), render_markdown(report)
    for text in (html, markdown):
        assert "<img" not in text
        assert "<link" not in text
        assert "&lt;img src=" in text
    assert "**bold**" not in markdown
    assert r"\*\*bold\*\*" in markdown


def test_hostile_report_makes_the_renderer_fetch_nothing(monkeypatch):
    asked: list[str] = []
    fetch = DataOnlyFetcher.fetch

    def spy(self, url, headers=None):
        asked.append(url)
        return fetch(self, url, headers)

    monkeypatch.setattr(DataOnlyFetcher, "fetch", spy)
    data = render_pdf(render_html(make_report(claims=3, hostile=True)))
    assert data.startswith(b"%PDF")
    assert not [url for url in asked if not url.startswith("data:")]
    shown = pdf_text(data).replace(" ", "")
    assert '<imgsrc="http://127.0.0.1:9/x.png">' in shown, "hostile markup is shown as text"


def test_render_pdf_refuses_http_and_file_urls(monkeypatch):
    refused: list[str] = []
    fetch = DataOnlyFetcher.fetch

    def spy(self, url, headers=None):
        try:
            return fetch(self, url, headers)
        except ValueError:
            refused.append(url)
            raise

    monkeypatch.setattr(DataOnlyFetcher, "fetch", spy)
    html = '<link rel="stylesheet" href="file:///etc/passwd"><p>x</p><img src="http://127.0.0.1:9/x.png">'
    assert render_pdf(html).startswith(b"%PDF")
    assert set(refused) == {"file:///etc/passwd", "http://127.0.0.1:9/x.png"}


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x.png", "https://example.org/a.css", "file:///etc/passwd"])
def test_fetcher_refuses_everything_but_data_urls(url):
    with pytest.raises(ValueError, match="only data: URLs"):
        DataOnlyFetcher()(url)


def test_fetcher_serves_data_urls():
    assert DataOnlyFetcher()("data:text/plain,hello").read() == b"hello"


def test_unwritable_out_dir_raises_publish_error_and_leaves_nothing(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    out_dir = blocker / "x"
    report = make_report()
    with pytest.raises(PublishError, match=re.escape(str(out_dir))):
        publish_report(report, make_embeddings(report), out_dir)
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]
    assert blocker.read_text() == "not a directory"


def test_failure_while_writing_keeps_the_previous_brief_and_no_staging(tmp_path, monkeypatch):
    report = make_report(Policy.REJECT)
    publish_report(report, make_embeddings(report), tmp_path)
    before = (tmp_path / report.run_id / "report.json").read_text(encoding="utf-8")

    def broken(html: str) -> bytes:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(publish, "render_pdf", broken)
    again = make_report(Policy.AUTO_APPROVE)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        publish_report(again, make_embeddings(again), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [report.run_id]
    assert (tmp_path / report.run_id / "report.json").read_text(encoding="utf-8") == before


def test_republishing_a_run_replaces_its_directory(tmp_path):
    first = make_report(Policy.AUTO_APPROVE)
    publish_report(first, make_embeddings(first), tmp_path)
    second = make_report(Policy.REJECT)
    brief = publish_report(second, make_embeddings(second), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [first.run_id]
    assert {p.name for p in brief.directory.iterdir()} == {"report.json", "claims.parquet", "papers.parquet"}
    saved = Report.model_validate_json(brief.json.read_text(encoding="utf-8"))
    assert saved.decision.policy is Policy.REJECT


def test_unsafe_run_id_is_refused(tmp_path):
    report = make_report(run_id="../escape")
    with pytest.raises(ValueError, match="not a safe directory name"):
        publish_report(report, make_embeddings(report), tmp_path)
    assert not any(tmp_path.parent.glob("escape"))


def contested_report() -> Report:
    """A report whose first claim another kept paper contests, and whose second that paper corroborates."""
    report = make_report(Policy.AUTO_APPROVE, claims=3)
    first, second, *rest = report.draft.claims
    other = next(c.paper_id for c in report.draft.claims if c.paper_id != first.paper_id)
    contested = CrossCheck(status=CrossPaperStatus.CONTESTED, paper_ids=[other], detail="latency goes the other way")
    backed = CrossCheck(status=CrossPaperStatus.CORROBORATED, paper_ids=[other])
    claims = [first.model_copy(update={"cross_check": contested}), second.model_copy(update={"cross_check": backed})]
    return report.model_copy(update={"draft": report.draft.model_copy(update={"claims": [*claims, *rest]})}, deep=True)


def test_the_brief_lists_contested_findings_with_the_papers_against_them():
    report = contested_report()
    numbers = reference_numbers(report)
    first = report.draft.claims[0]
    against = numbers[first.cross_check.paper_ids[0]]
    text = normalize(render_markdown(report))
    assert "### Where the papers disagree" in text
    assert f"{md_escape(first.text)} — contested by \\[{against}\\]: latency goes the other way" in text
    html = normalize(render_html(report))
    assert f"contested by [{against}]: latency goes the other way" in html


def test_the_brief_says_when_nothing_conflicted_and_when_nothing_was_checked():
    report = contested_report()
    calm = [
        c.model_copy(update={"cross_check": None}) if c.cross_check and c.cross_check.status == "contested" else c
        for c in report.draft.claims
    ]
    checked = report.model_copy(update={"draft": report.draft.model_copy(update={"claims": calm})})
    assert "none moved the same quantity the other way" in render_markdown(checked)
    unchecked = make_report(Policy.AUTO_APPROVE, claims=3)
    assert "nothing could be found to conflict" in render_markdown(unchecked)
    assert "contested by" not in render_markdown(unchecked)


def test_claims_parquet_carries_the_cross_paper_check_and_the_quote_flag(tmp_path):
    report = contested_report()
    brief = publish_report(report, make_embeddings(report), tmp_path)
    table = pq.read_table(brief.claims_parquet)
    frame = table.to_pandas()
    other = report.draft.claims[0].cross_check.paper_ids
    assert table.column("cross_check").to_pylist() == ["contested", "corroborated", None]
    assert list(frame["cross_check_papers"].iloc[0]) == other and list(frame["cross_check_papers"].iloc[2]) == []
    assert frame["quote_exact"].dtype == bool


def test_references_bib_has_one_entry_per_numbered_paper(approved):
    report, brief, _ = approved
    text = brief.bibtex.read_text(encoding="utf-8")
    numbers = reference_numbers(report)
    entries = re.findall(r"^@(article|misc)\{([^,]+),", text, flags=re.MULTILINE)
    assert len(entries) == len(numbers) and len({key for _, key in entries}) == len(numbers)
    assert [int(key.rsplit("_", 1)[1]) for _, key in entries] == sorted(numbers.values())
    assert text.count("{") == text.count("}"), "every entry is balanced"
    first = next(rp.paper for rp in report.draft.papers if numbers[rp.paper.id] == 1)
    assert f"url = {{{first.link}}}" in text


def test_bibtex_fields_cannot_break_out_of_their_braces():
    from tasks.io.bibtex import entry
    from tasks.models import Paper

    hostile = Paper(id="2401.01234", title="Gains of 5% } @misc{evil, & more_", abstract="", authors=["Ada {Lovelace"])
    text = entry(hostile, 3)
    assert text.startswith("@article{lovelace_3,") and "eprint = {2401.01234}" in text
    assert text.count("{") == text.count("}") and r"5\% " in text and r"more\_" in text


def test_an_author_list_cut_short_with_et_al_names_the_author_and_others():
    from tasks.coverage import first_author
    from tasks.io.bibtex import entry
    from tasks.models import Paper, RankedPaper

    # the shared catalog gives some papers' authors as one "First Author et al." entry
    cut = Paper(id="2009.08553", title="GAR", abstract="", authors=["Yuning Mao et al."], published="2020")
    assert cut.first_surname == "Mao" and cut.author_names == ["Yuning Mao"] and cut.unnamed_authors
    text = entry(cut, 3)
    assert text.startswith("@article{mao2020_3,") and "author = {Yuning Mao and others}" in text
    ranked = RankedPaper(paper=cut, fused_score=1.0, relevance=1.0, term_coverage=1.0, similarity=1.0)
    assert first_author(ranked) == "mao"
    alone = Paper(id="2101.00001", title="T", abstract="", authors=["et al."])
    assert alone.first_surname == "" and "author" not in entry(alone, 1)


def test_a_verbatim_quote_is_reported_as_a_quote_check_and_a_set_aside_aspect_is_listed():
    report = make_report(Policy.AUTO_APPROVE, claims=3)
    first, *rest = report.draft.claims
    quoted = first.model_copy(update={"quote_exact": True, "unsupported_aspects": ["evaluation benchmarks"]})
    report = report.model_copy(update={"draft": report.draft.model_copy(update={"claims": [quoted, *rest]})})
    text = normalize(render_markdown(report))
    verified = sum(c.label is Label.VERIFIED for c in report.draft.claims)
    assert f"1 of the {verified} verified claims quote their source verbatim" in text
    assert "confirms only that the quote is exact, which is no evidence that the finding holds" in text
    assert "1 of them verbatim quotes, for which that confirms only the quote" in text
    assert "### Claims not counted for an aspect they name" in text
    assert "names “evaluation benchmarks” but reports no finding on it" in text
    plain = normalize(render_markdown(make_report(Policy.AUTO_APPROVE, claims=3)))
    assert "quote their source verbatim" in plain and "Claims not counted" not in plain


def test_latex_in_an_abstract_reads_as_text_and_plain_text_is_left_alone():
    sentence = r"It cuts density by \textbf{44.94\%} on RoBERTa\(_\mathrm{Large}\), a $2\times$ gain, in 4.2% of runs"
    assert plain_text(sentence) == "It cuts density by 44.94% on RoBERTa_Large, a 2× gain, in 4.2% of runs"
    # inline math escaped twice, as some arXiv metadata holds it
    assert plain_text(r"Llama-7B reaches up to 5.16\\(\times\\) higher throughput") == (
        "Llama-7B reaches up to 5.16× higher throughput"
    )
    for untouched in ("A $5 to $10 budget and 10% memory.", "Unbalanced { brace and 50% of $k$-NN"):
        assert plain_text(untouched) == untouched


def test_character_references_and_percent_signs_an_export_mangled_read_as_written_first():
    # the shared LLM catalogue stores "9&#37;" as "937;": a brief reported the value 937 for "about 9%"
    assert plain_text("MixLoRA improves about 937; accuracy, and 79.437; over SFT.") == (
        "MixLoRA improves about 9% accuracy, and 79.4% over SFT."
    )
    assert plain_text("Q&amp;A gains of 3&#37;") == "Q&A gains of 3%"
    # a number before a semicolon, or beside a real percent sign, is left alone
    for untouched in ("AUC drops from 0.886 to 0.837; ResNet-18 holds.", "It gains 4% and 937; more."):
        assert plain_text(untouched) == untouched


def test_malformed_latex_in_an_abstract_is_shown_as_written():
    # pylatexenc raises IndexError on \href with one argument: a long goal's brief once failed to publish on it
    assert plain_text(r"Code is at \href{https://github.com/a/b}.") == r"Code is at \href{https://github.com/a/b}."


def test_the_claims_table_shows_a_latex_claim_as_text():
    report = make_report()
    claim = report.draft.claims[0]
    report.draft.claims[0] = claim.model_copy(update={"text": r"Accuracy rises by \emph{4.2\%} over LoRA."})
    markdown = render_markdown(report)
    assert "Accuracy rises by 4.2% over LoRA." in markdown and "emph" not in markdown
