"""Publish stage: render the brief (Markdown, HTML, PDF) and write it with the run's data in one atomic step."""

from __future__ import annotations

import os
import re
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from tasks.atomic import staged_directory
from tasks.models import (
    Claim,
    EmbeddingSet,
    FindingKind,
    Label,
    Paper,
    Policy,
    RankedPaper,
    Report,
    TribunalResult,
)
from tasks.progress import STAGE_HOOKS

TEMPLATES = Path(__file__).parent / "templates"
DRAFT_BANNER = "DRAFT — owner review required"
FEW_PAPERS = 3
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~$])")
_MD_LINE_START = re.compile(r"^(\d+)([.)])(?=\s|$)|^([-+=])")
_CITATION = re.compile(r"\[(\d+)\]")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LEFTOVER = re.compile(r"\.(?P<run>[A-Za-z0-9][A-Za-z0-9._-]*)\.(?P<kind>partial|old)-(?P<pid>\d{1,9})")
# A publisher's leftovers are removed only once it is dead and they are this old, so that a live publisher on
# another host sharing the directory (its pid means nothing here) is not robbed of its staging directory.
STALE_AFTER_SECONDS = 600

CLAIMS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("paper_id", pa.string()),
        ("source_sentence", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("label", pa.string()),
        ("confidence", pa.float64()),
        ("support", pa.float64()),
        ("baseline_cosine", pa.float64()),
        ("baseline_verified", pa.bool_()),
        ("evidence", pa.string()),
        ("issues", pa.list_(pa.string())),
        ("aspects", pa.list_(pa.string())),
        ("vector", pa.list_(pa.float32())),
        ("embedding_model", pa.string()),
    ]
)
PAPERS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("title", pa.string()),
        ("authors", pa.list_(pa.string())),
        ("published", pa.string()),
        ("url", pa.string()),
        ("relevance", pa.float64()),
        ("term_coverage", pa.float64()),
        ("similarity", pa.float64()),
        ("fused_score", pa.float64()),
        ("kept", pa.bool_()),
        ("vector", pa.list_(pa.float32())),
        ("embedding_model", pa.string()),
    ]
)

# (label, dotted path into Report.settings) of the settings a reader needs to judge the run.
SETTINGS_SHOWN = (
    ("Papers requested per query", "search.per_query_limit"),
    ("Most papers kept", "rank.max_papers"),
    ("Relevance threshold", "rank.relevance_threshold"),
    ("Claims per paper / per brief", ("extract.claims_per_paper", "extract.max_claims")),
    ("VERIFIED support ≥", "verify.verified_threshold"),
    ("WEAK support ≥", "verify.weak_threshold"),
    ("Baseline TF-IDF cut-off", "verify.baseline_tfidf_threshold"),
    ("Approve threshold", "tribunal.approve_threshold"),
    ("Reject floor", "tribunal.reject_floor"),
    ("Most revision rounds", "tribunal.max_revision_rounds"),
)


class PublishError(OSError):
    """The brief could not be written; the message names the directory."""


# The product card names the report path `json`; it shadows the deprecated BaseModel.json on purpose.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "json"', category=UserWarning)

    class PublishedBrief(BaseModel):
        """Where a published brief's files are; pdf and markdown are None for a rejected run."""

        directory: Path
        policy: Policy
        score: float
        pdf: Path | None
        markdown: Path | None
        json: Path
        claims_parquet: Path
        papers_parquet: Path

        def files(self) -> dict[str, Path]:
            """Label → path of every file written, in reading order."""
            labels = ("pdf", "markdown", "json", "claims_parquet", "papers_parquet")
            return {label: path for label in labels if (path := getattr(self, label)) is not None}


class DataOnlyFetcher(URLFetcher):
    """WeasyPrint fetcher that serves data: URLs only, so text in a paper can never make it fetch."""

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        """Fetch a data: URL; refuse everything else."""
        if not url.lower().startswith("data:"):
            raise ValueError(f"refused to fetch {url!r}: only data: URLs are allowed")
        return super().fetch(url, headers)


@dataclass(frozen=True)
class Reference:
    """One numbered entry of References."""

    number: int
    paper_id: str
    title: str
    authors: str
    date: str
    url: str
    cited: bool


@dataclass(frozen=True)
class Banner:
    """The approval status shown under the title."""

    tone: str
    headline: str
    lines: list[str]


@dataclass(frozen=True)
class Uncertainty:
    """One kind of doubt the run left, with the items behind it."""

    heading: str
    items: list[str]


def md_escape(value: object) -> str:
    """Text as one Markdown line that renders literally: no emphasis, links, headings or raw HTML."""
    text = " ".join(str(value).split())
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", text)


def md_url(url: str) -> str:
    """URL safe as a Markdown link destination."""
    return quote(url, safe=":/?#&=%+@,;~!$'*.-_")


def cite_links(text: str) -> Markup:
    """Escaped text whose [n] markers link to the numbered reference."""
    return Markup(_CITATION.sub(r'<a class="cite" href="#ref-\1">[\1]</a>', str(escape(text))))


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md_escape=md_escape, md_url=md_url, cite_links=cite_links)
    return env


_HTML_ENV = _environment(autoescape=True)
_MD_ENV = _environment(autoescape=False)


def _setting(settings: dict, path: str) -> object:
    """A nested setting by dotted path, or an em dash when the run did not record it."""
    value: object = settings
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return "—"
        value = value[key]
    return value


def _settings_rows(settings: dict) -> list[tuple[str, str]]:
    rows = []
    for label, path in SETTINGS_SHOWN:
        paths = path if isinstance(path, tuple) else (path,)
        rows.append((label, " / ".join(str(_setting(settings, p)) for p in paths)))
    return rows


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _date(created_at: str) -> str:
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError:
        return created_at
    return moment.strftime("%d %B %Y, %H:%M %Z").strip()


def _paper_date(published: str | None) -> str:
    if not published:
        return "n.d."
    return published[:10] if _ISO_DATE.match(published) else published


def _authors(names: list[str]) -> str:
    """First three authors and "et al.", ending in a full stop; empty when the source gave none."""
    if not names:
        return ""
    text = ", ".join(names[:3]) + (" et al." if len(names) > 3 else "")
    return _full_stop(text)


def _full_stop(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."


def _link(paper: Paper) -> str:
    """The paper's link when it is http(s), else its arXiv page: no javascript: or file: links in a brief."""
    link = paper.link
    if urlsplit(link).scheme.lower() in ("http", "https"):
        return link
    return f"https://arxiv.org/abs/{quote(paper.id)}"


def reference_numbers(report: Report) -> dict[str, int]:
    """paper id → reference number: cited papers keep their citation numbers, then kept papers, then claims'."""
    numbers: dict[str, int] = {}
    for citation in sorted(report.draft.citations, key=lambda c: c.number):
        numbers.setdefault(citation.paper_id, citation.number)
    next_number = max(numbers.values(), default=0) + 1
    others = [rp.paper.id for rp in report.draft.papers] + [c.paper_id for c in report.draft.claims]
    for paper_id in others:
        if paper_id not in numbers:
            numbers[paper_id] = next_number
            next_number += 1
    return numbers


def _references(report: Report, numbers: dict[str, int]) -> list[Reference]:
    papers = {rp.paper.id: rp.paper for rp in [*report.candidates, *report.draft.papers]}
    cited = {c.paper_id for c in report.draft.citations}
    refs = []
    for paper_id, number in sorted(numbers.items(), key=lambda item: item[1]):
        paper = papers.get(paper_id) or Paper(id=paper_id, title="(paper not among this run's candidates)", abstract="")
        refs.append(
            Reference(
                number=number,
                paper_id=paper_id,
                title=_full_stop(paper.title),
                authors=_authors(paper.authors),
                date=_paper_date(paper.published),
                url=_link(paper),
                cited=paper_id in cited,
            )
        )
    return refs


def _banner(report: Report) -> Banner:
    decision = report.decision
    approve = _setting(report.settings, "tribunal.approve_threshold")
    score = f"{decision.score:.1f}/10"
    if decision.policy is Policy.AUTO_APPROVE:
        summary = f"Auto-approved: tribunal score {score}, threshold {approve}, no gate failed."
        return Banner("approved", "Approved", [summary])
    tone, summary = {
        Policy.SOFT_APPROVE: (
            "draft",
            f"Soft-approved as a draft: tribunal score {score} (threshold {approve}); the answer is incomplete."
            if decision.score >= approve
            else f"Soft-approved as a draft: tribunal score {score}, below the threshold {approve}.",
        ),
        Policy.HUMAN_REVIEW: ("held", f"Held for owner review (tribunal score {score})."),
        Policy.REJECT: (
            "rejected",
            f"Rejected: tribunal score {score}, below the reject floor."
            if report.draft.papers
            else "Rejected: nothing retrieved is on-topic.",
        ),
    }[decision.policy]
    gates = [f"Failed gate: {gate}." for gate in decision.failed_gates]
    lines = [summary, *gates, *_reasons(report)]
    review = report.owner_review
    if review is None:
        return Banner(tone, DRAFT_BANNER, lines)
    if review.status == "timed_out":
        return Banner(tone, DRAFT_BANNER, [f"No owner decision by {review.decided_at}; it stays a draft.", *lines])
    verdict = f"{review.status.capitalize()} by {review.reviewer or 'the owner'} on {review.decided_at}"
    owner = f"{verdict}: {review.comment}" if review.comment else f"{verdict}."
    if review.status == "approved":
        return Banner("approved", "Approved by the owner", [owner, *lines])
    return Banner("rejected", "Rejected by the owner", [owner, *lines])


def _watermark(report: Report) -> str:
    """No watermark once approved, by the policy or by the owner; REJECTED once rejected by either."""
    owner = report.owner_review.status if report.owner_review else None
    if report.decision.policy is Policy.AUTO_APPROVE or owner == "approved":
        return ""
    return "REJECTED" if report.decision.policy is Policy.REJECT or owner == "rejected" else "DRAFT"


def _reasons(report: Report) -> list[str]:
    """The decision's reasons, less those that only repeat a failed gate."""
    return [r for r in report.decision.reasons if r not in report.decision.failed_gates]


def _label_counts(claims: list[Claim]) -> dict[str, int]:
    counts = Counter(c.label.value for c in claims)
    return {label.value: counts[label.value] for label in Label}


def _abstract(report: Report, counts: dict[str, int]) -> str:
    draft = report.draft
    kept = len(draft.papers)
    return (
        f"Question: {report.goal} "
        f"{_plural(len(report.plan.queries), 'search query', 'search queries')} against {report.source} "
        f"retrieved {_plural(len(report.candidates), 'candidate paper')}; {kept} passed the relevance gate. "
        f"{_claim_summary(draft.claims, counts)} The tribunal scored the brief {report.tribunal.score:.1f}/10 "
        f"{_revisions(draft.revision_round)}; policy: {report.decision.policy.value}."
    )


def _claim_summary(claims: list[Claim], counts: dict[str, int]) -> str:
    if not claims:
        return "No claims were extracted."
    verb = "is" if counts["VERIFIED"] == 1 else "are"
    return (
        f"Of {_plural(len(claims), 'claim')} extracted, {counts['VERIFIED']} {verb} verified against their source, "
        f"{counts['WEAK']} weak and {counts['UNSUPPORTED']} unsupported."
    )


def _revisions(rounds: int) -> str:
    return f"after {_plural(rounds, 'revision round')}" if rounds else "without revision"


def _verdict(report: Report) -> str:
    score = report.tribunal.score
    approve = _setting(report.settings, "tribunal.approve_threshold")
    floor = _setting(report.settings, "tribunal.reject_floor")
    if isinstance(approve, (int, float)) and score >= approve:
        return f"meets the approve threshold ({approve})"
    if isinstance(floor, (int, float)) and score < floor:
        return f"below the reject floor ({floor})"
    return f"below the approve threshold ({approve})"


def _baseline(report: Report) -> dict[str, object]:
    claims = report.draft.claims
    verified = [c.label is Label.VERIFIED for c in claims]
    return {
        "threshold": _setting(report.settings, "verify.baseline_tfidf_threshold"),
        "baseline": sum(c.baseline_verified for c in claims),
        "ours": sum(verified),
        "baseline_only": sum(c.baseline_verified and not v for c, v in zip(claims, verified)),
        "ours_only": sum(v and not c.baseline_verified for c, v in zip(claims, verified)),
    }


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _uncertainties(report: Report, numbers: dict[str, int]) -> list[Uncertainty]:
    """Doubts computed from this run's data, most serious first."""
    draft = report.draft
    found = []
    if not draft.answered:
        found.append(Uncertainty("The goal is not answered", ["No verified evidence answers the goal as asked."]))
    doubtful = [_doubt(c, numbers) for c in draft.claims if c.label is not Label.VERIFIED]
    if doubtful:
        found.append(Uncertainty("Claims not fully supported by their source", doubtful))
    missing = _unique(f.aspect or f.detail for f in report.tribunal.findings if f.kind is FindingKind.MISSING_ASPECT)
    if missing:
        found.append(Uncertainty("Goal aspects with no verified claim", missing))
    found.extend(_source_dependence(report, numbers))
    issues = [_doubt(c, numbers) for c in draft.claims if c.issues and c.label is Label.VERIFIED]
    if issues:
        found.append(Uncertainty("Verified claims with consistency problems", issues))
    if report.search_errors:
        found.append(Uncertainty("Searches that failed", list(report.search_errors)))
    kept = len(draft.papers)
    if kept < FEW_PAPERS:
        threshold = _setting(report.settings, "rank.relevance_threshold")
        candidates = _plural(len(report.candidates), "candidate")
        gate = f"{kept} of {candidates} passed the relevance gate (threshold {threshold})."
        found.append(Uncertainty("Few papers kept", [gate]))
    return found


def _doubt(claim: Claim, numbers: dict[str, int]) -> str:
    issues = f" Issues: {'; '.join(map(str, claim.issues))}." if claim.issues else ""
    source = f"[{numbers.get(claim.paper_id, '?')}]"
    return f"{source} {claim.label.value} (support {claim.support:.2f}): {claim.text}{issues}"


def _source_dependence(report: Report, numbers: dict[str, int]) -> list[Uncertainty]:
    verified = [c for c in report.draft.claims if c.label is Label.VERIFIED]
    sources = {c.paper_id for c in verified}
    items = []
    if len(sources) == 1:
        items.append(f"All verified claims come from one paper [{numbers.get(next(iter(sources)), '?')}].")
    elif len(sources) > 1:
        by_aspect: dict[str, set[str]] = {}
        for claim in verified:
            for aspect in claim.aspects:
                by_aspect.setdefault(aspect, set()).add(claim.paper_id)
        items = [
            f"“{aspect}” rests on a single paper [{numbers.get(next(iter(papers)), '?')}]."
            for aspect, papers in by_aspect.items()
            if len(papers) == 1
        ]
    items += [f.detail for f in report.tribunal.findings if f.kind is FindingKind.SINGLE_SOURCE]
    return [Uncertainty("Single-source dependence", _unique(items))] if items else []


def _checked(report: Report) -> str:
    """What the uncertainty checks covered, stated when none of them found anything."""
    draft = report.draft
    papers = len({c.paper_id for c in draft.claims if c.label is Label.VERIFIED})
    return (
        f"Checked: all {_plural(len(draft.claims), 'claim')} are VERIFIED; "
        f"each of the {_plural(len(report.plan.aspects), 'goal aspect')} has a verified claim; "
        f"verified evidence draws on {_plural(papers, 'paper')} with no aspect resting on one; "
        f"all {_plural(len(report.plan.queries), 'query', 'queries')} ran without error; "
        f"{len(draft.papers)} papers passed the relevance gate."
    )


def _seconds(seconds: float) -> str:
    return "< 0.01" if 0 < seconds < 0.005 else f"{seconds:.2f}"


def _usage_rows(report: Report) -> list[tuple[str, ...]]:
    """Model calls per stage: stage, model, calls, cached, retries, prompt and completion tokens, seconds."""
    return [
        (
            stage,
            u.model,
            str(u.calls),
            str(u.cached_calls),
            str(u.retries),
            f"{u.prompt_tokens:,}",
            f"{u.completion_tokens:,}",
            _seconds(u.latency_seconds),
        )
        for stage, u in report.llm_usage.items()
    ]


def _history(report: Report) -> list[TribunalResult]:
    """Every round's result; the flow's history may or may not already end with the final one."""
    history = list(report.tribunal_history)
    return history if history and history[-1] == report.tribunal else [*history, report.tribunal]


def _paragraphs(text: str) -> list[dict[str, object]]:
    """Blocks of the answer: a lead line and the "- " list items under it."""
    blocks = []
    for chunk in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in chunk.strip().splitlines() if line.strip()]
        if lines:
            items = [line[2:] for line in lines if line.startswith("- ")]
            lead = " ".join(line for line in lines if not line.startswith("- "))
            blocks.append({"lead": lead, "items": items})
    return blocks


def brief_context(report: Report) -> dict[str, object]:
    """Everything both templates show, computed once so HTML and Markdown say the same thing."""
    numbers = reference_numbers(report)
    counts = _label_counts(report.draft.claims)
    uncertainties = _uncertainties(report, numbers)
    return {
        "report": report,
        "date": _date(report.created_at),
        "banner": _banner(report),
        "watermark": _watermark(report),
        "answer": _paragraphs(report.draft.answer),
        "abstract": _abstract(report, counts),
        "settings_rows": _settings_rows(report.settings),
        "stage_rows": [(stage, _seconds(seconds)) for stage, seconds in report.stage_seconds.items()],
        "total_seconds": f"{sum(report.stage_seconds.values()):.2f}",
        "usage_rows": _usage_rows(report),
        "counts": counts,
        "baseline": _baseline(report),
        "verdict": _verdict(report),
        "history": [(t.round, t.score) for t in _history(report)],
        "reasons": _reasons(report),
        "uncertainties": uncertainties,
        "checked": "" if uncertainties else _checked(report),
        "numbers": numbers,
        "kept": [(numbers.get(rp.paper.id), rp) for rp in report.draft.papers],
        "references": _references(report, numbers),
    }


def render_markdown(report: Report) -> str:
    """The brief as Markdown; text from papers is escaped so it can never become markup."""
    return _MD_ENV.get_template("brief.md.j2").render(brief_context(report))


def render_html(report: Report) -> str:
    """The brief as a self-contained HTML page (inline CSS), autoescaped."""
    return _HTML_ENV.get_template("brief.html.j2").render(brief_context(report))


def render_pdf(html: str) -> bytes:
    """PDF of the HTML; the renderer may fetch data: URLs only."""
    return HTML(string=html, url_fetcher=DataOnlyFetcher()).write_pdf()


def claims_table(report: Report, embeddings: EmbeddingSet) -> pa.Table:
    """One row per claim with its vector, in CLAIMS_SCHEMA."""
    rows = [
        {
            **claim.model_dump(include=set(CLAIMS_SCHEMA.names)),
            "label": claim.label.value,
            "issues": [str(issue) for issue in claim.issues],
            "vector": embeddings.claim_vectors.get(claim.id),
            "embedding_model": embeddings.model,
        }
        for claim in report.draft.claims
    ]
    return _table(rows, CLAIMS_SCHEMA)


def papers_table(report: Report, embeddings: EmbeddingSet) -> pa.Table:
    """One row per candidate paper with its scores and vector, in PAPERS_SCHEMA."""
    rows = [_paper_row(rp, embeddings) for rp in report.candidates]
    return _table(rows, PAPERS_SCHEMA)


def _paper_row(ranked: RankedPaper, embeddings: EmbeddingSet) -> dict[str, object]:
    paper = ranked.paper
    return {
        "id": paper.id,
        "title": paper.title,
        "authors": paper.authors,
        "published": paper.published,
        "url": paper.link,
        "relevance": ranked.relevance,
        "term_coverage": ranked.term_coverage,
        "similarity": ranked.similarity,
        "fused_score": ranked.fused_score,
        "kept": ranked.kept,
        "vector": embeddings.paper_vectors.get(paper.id),
        "embedding_model": embeddings.model,
    }


def _table(rows: list[dict[str, object]], schema: pa.Schema) -> pa.Table:
    frame = pd.DataFrame(rows, columns=schema.names)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def _write_brief(report: Report, embeddings: EmbeddingSet, directory: Path) -> None:
    """Write every file of the brief into directory."""
    (directory / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    pq.write_table(claims_table(report, embeddings), directory / "claims.parquet")
    pq.write_table(papers_table(report, embeddings), directory / "papers.parquet")
    if report.decision.policy is Policy.REJECT:
        return
    (directory / "report.md").write_text(render_markdown(report), encoding="utf-8")
    (directory / "report.pdf").write_bytes(render_pdf(render_html(report)))


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_leftovers(out_dir: Path, now: float | None = None) -> list[Path]:
    """Clean up after publishers that died mid-publish: drop their staging, put back a brief they moved aside."""
    now = time.time() if now is None else now
    handled = []
    for entry in out_dir.iterdir():
        match = _LEFTOVER.fullmatch(entry.name)
        if not match or not entry.is_dir() or _alive(int(match["pid"])):
            continue
        try:
            if now - entry.stat().st_mtime < STALE_AFTER_SECONDS:
                continue
            final = out_dir / match["run"]
            if match["kind"] == "old" and not final.exists():
                os.replace(entry, final)  # killed between moving the old brief aside and renaming the new one in
            else:
                shutil.rmtree(entry, ignore_errors=True)
        except FileNotFoundError:  # another publisher cleaned it up first
            continue
        handled.append(entry)
    return handled


def _published(report: Report, final: Path) -> PublishedBrief:
    rejected = report.decision.policy is Policy.REJECT
    return PublishedBrief(
        directory=final,
        policy=report.decision.policy,
        score=report.decision.score,
        pdf=None if rejected else final / "report.pdf",
        markdown=None if rejected else final / "report.md",
        json=final / "report.json",
        claims_parquet=final / "claims.parquet",
        papers_parquet=final / "papers.parquet",
    )


def publish_report(report: Report, embeddings: EmbeddingSet, out_dir: Path) -> PublishedBrief:
    """Write the brief to out_dir/<run_id>/ atomically: staged in a hidden directory, then renamed in."""
    if not _RUN_ID.fullmatch(report.run_id):
        raise ValueError(f"run id {report.run_id!r} is not a safe directory name")
    out_dir = Path(out_dir)
    final = out_dir / report.run_id
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_leftovers(out_dir)
        with staged_directory(final) as staging:
            _write_brief(report, embeddings, staging)
    except OSError as error:
        raise PublishError(f"cannot write the brief to {out_dir}: {error.strerror or error}") from error
    return _published(report, final)


# Each run publishes its own directory, so there is nothing to cache; a retry covers a passing I/O hiccup.
@task(name="publish", **STAGE_HOOKS, retries=1, retry_delay_seconds=1, cache_policy=NO_CACHE)
def publish(report: Report, embeddings: EmbeddingSet, out_dir: Path) -> PublishedBrief:
    """Publish the brief and its data under out_dir/<run_id>/."""
    return publish_report(report, embeddings, out_dir)
