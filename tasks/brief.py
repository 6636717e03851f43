"""The brief's view model: what the Markdown and HTML templates show, computed once from the Report."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

from markupsafe import Markup, escape

from tasks.models import Claim, CrossPaperStatus, FindingKind, Label, Paper, Policy, Report, TribunalResult

DRAFT_BANNER = "DRAFT — owner review required"
FEW_PAPERS = 3
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~$])")
_MD_LINE_START = re.compile(r"^(\d+)([.)])(?=\s|$)|^([-+=])")
_CITATION = re.compile(r"\[(\d+)\]")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
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
        f"{_revisions(draft.revision_round, len(_history(report)) - 1)}; policy: {report.decision.policy.value}."
    )


def _claim_summary(claims: list[Claim], counts: dict[str, int]) -> str:
    if not claims:
        return "No claims were extracted."
    verb = "is" if counts["VERIFIED"] == 1 else "are"
    quotes = sum(c.quote_exact for c in claims if c.label is Label.VERIFIED)
    quoted = f" ({quotes} of them verbatim quotes, for which that confirms only the quote)" if quotes else ""
    return (
        f"Of {_plural(len(claims), 'claim')} extracted, {counts['VERIFIED']} {verb} verified against their "
        f"source{quoted}, {counts['WEAK']} weak and {counts['UNSUPPORTED']} unsupported."
    )


def _revisions(rounds: int, tried: int) -> str:
    done = f"after {_plural(rounds, 'revision round')}" if rounds else "without revision"
    # a round whose draft answered less than the one before it is scored, then set aside
    return f"{done} ({_plural(tried - rounds, 'further round')} tried and not kept)" if tried > rounds else done


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
    if draft.summary_removed:
        found.append(
            Uncertainty("Summary sentences removed: the findings they cite do not support them", draft.summary_removed)
        )
    missing = _unique(f.aspect or f.detail for f in report.tribunal.findings if f.kind is FindingKind.MISSING_ASPECT)
    if missing:
        found.append(Uncertainty("Goal aspects with no verified claim", missing))
    found.extend(_source_dependence(report, numbers))
    set_aside = [
        f"[{numbers.get(c.paper_id, '?')}] names {', '.join(f'“{a}”' for a in c.unsupported_aspects)} but reports no "
        f"finding on {'it' if len(c.unsupported_aspects) == 1 else 'them'}: {c.text}"
        for c in draft.claims
        if c.unsupported_aspects and c.label is Label.VERIFIED
    ]
    if set_aside:
        found.append(Uncertainty("Claims not counted for an aspect they name", set_aside))
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


def how_checked(report: Report) -> str:
    """What the verification of this run's claims could and could not show, true for both the offline and NIM paths."""
    verified = [c for c in report.draft.claims if c.label is Label.VERIFIED]
    if not verified:
        return ""
    quotes = sum(c.quote_exact for c in verified)
    statuses = Counter(c.cross_check.status.value for c in verified if c.cross_check)
    set_aside = sum(len(c.unsupported_aspects) for c in report.draft.claims)
    parts = [
        f"{quotes} of the {len(verified)} verified claims quote their source verbatim: for those, verification "
        "confirms only that the quote is exact, which is no evidence that the finding holds"
        + (f"; the other {len(verified) - quotes} were judged against their source." if quotes < len(verified) else ".")
    ]
    parts.append(
        "A claim counts for an aspect only when its evidence sentence reports a finding on it"
        + (f" ({_plural(set_aside, 'filing')} set aside, listed in Uncertainties)." if set_aside else ".")
    )
    if statuses:
        counted = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        parts.append(f"Against the other kept papers' claims, the verified claims are {counted}.")
    if report.chat_model and report.draft.answered:
        removed = len(report.draft.summary_removed)
        parts.append(
            "Each sentence of the model's summary was checked against the findings it cites, as a claim against its "
            f"source; {_plural(removed, 'sentence')} they did not support {'was' if removed == 1 else 'were'} removed"
            + (" (listed in Uncertainties)." if removed else ".")
        )
    return " ".join(parts)


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
    """Every round's result; the flow's history may or may not already hold the final one (a round not kept ends it
    after the final one)."""
    history = list(report.tribunal_history)
    return history if report.tribunal in history else [*history, report.tribunal]


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


def disagreements(report: Report, numbers: dict[str, int]) -> list[dict[str, object]]:
    """The contested claims: each with its paper's reference number, the contesting papers' numbers, and why."""
    return [
        {
            "claim": claim,
            "number": numbers.get(claim.paper_id),
            "against": [numbers[p] for p in claim.cross_check.paper_ids if p in numbers],
            "detail": claim.cross_check.detail,
        }
        for claim in report.draft.claims
        if claim.cross_check and claim.cross_check.status is CrossPaperStatus.CONTESTED
    ]


# How the evidence matrix shows a paper's standing on an aspect, the most telling first.
MATRIX_MARKS = {"contested": "✗", "corroborated": "✓✓", "single-source": "✓"}


def evidence_matrix(report: Report, numbers: dict[str, int]) -> dict[str, object]:
    """Papers × aspects: per cell, the cross-paper status of the paper's verified claims on the aspect, or ""."""
    aspects = report.plan.aspect_texts
    cells: dict[str, dict[str, str]] = {}
    for claim in report.draft.claims:
        if claim.label is not Label.VERIFIED or claim.paper_id not in numbers:
            continue
        status = claim.cross_check.status.value if claim.cross_check else "single-source"
        row = cells.setdefault(claim.paper_id, {})
        for aspect in claim.aspects:
            if aspect not in row or list(MATRIX_MARKS).index(status) < list(MATRIX_MARKS).index(row[aspect]):
                row[aspect] = status
    rows = [
        {"number": numbers[pid], "cells": [row.get(a, "") for a in aspects]}
        for pid, row in sorted(cells.items(), key=lambda item: numbers[item[0]])
    ]
    return {"aspects": aspects, "rows": rows, "marks": MATRIX_MARKS}


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
        "disagreements": disagreements(report, numbers),
        "cross_checked": any(c.cross_check for c in report.draft.claims),
        "how_checked": how_checked(report),
        "matrix": evidence_matrix(report, numbers),
    }
