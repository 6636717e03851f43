"""Prefect artifacts of a run (brief, claims, tribunal) under keys stable per goal: the UI keeps its history."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from slugify import slugify

from tasks.brief import md_escape
from tasks.io.render import render_markdown
from tasks.models import Report, content_id
from tasks.publish import PublishedBrief


def goal_key(goal: str) -> str:
    """Key stem for a goal: a lowercase slug and a short hash (artifact keys allow a-z, 0-9 and dashes)."""
    slug = slugify(goal, max_length=40, word_boundary=True)
    return "-".join(part for part in (slug, content_id(goal, length=8)) if part)


def claims_rows(report: Report) -> list[dict[str, object]]:
    """One row per claim for the table artifact."""
    return [
        {
            "claim": claim.text,
            "paper": claim.paper_id,
            "label": claim.label.value,
            "confidence": round(claim.confidence, 2),
            "support": round(claim.support, 2),
            "source sentence": claim.source_sentence,
        }
        for claim in report.draft.claims
    ]


def tribunal_markdown(report: Report, published: PublishedBrief) -> str:
    """Scores, findings, the decision and where the outputs are, as Markdown."""
    decision = report.decision
    lines = [
        f"# Tribunal: {md_escape(report.goal)}",
        "",
        f"Score **{report.tribunal.score:.1f}/10** after round {report.tribunal.round} → "
        f"policy **{decision.policy.value}**.",
        "",
        *[f"- Failed gate: {md_escape(gate)}" for gate in decision.failed_gates],
        *[f"- {md_escape(reason)}" for reason in decision.reasons],
        "",
        "| role | score | findings |",
        "|:-----|------:|---------:|",
        *[f"| {r.role} | {r.score:.1f} | {len(r.findings)} |" for r in report.tribunal.reviews],
        "",
    ]
    for review in report.tribunal.reviews:
        lines += [f"## {review.role.capitalize()}", ""]
        lines += [f"- `{f.kind.value}` {md_escape(f.detail)}" for f in review.findings] or ["_No findings._"]
        lines.append("")
    if report.owner_review:
        review = report.owner_review
        who = f" by {md_escape(review.reviewer)}" if review.reviewer else ""
        lines += [f"Owner review: **{review.status}**{who} at {review.decided_at}. {md_escape(review.comment)}", ""]
    lines += ["## Outputs", "", *[f"- {label}: `{path}`" for label, path in published.files().items()]]
    return "\n".join(lines) + "\n"


@task(name="record_artifacts", cache_policy=NO_CACHE)
def record_artifacts(report: Report, published: PublishedBrief) -> str:
    """Attach the brief, its claims and the tribunal's verdict to the run; returns the goal's key stem."""
    key = goal_key(report.goal)
    summary = f"{report.decision.policy.value}, score {report.decision.score:.1f}: {report.goal}"
    create_markdown_artifact(markdown=render_markdown(report), key=f"brief-{key}", description=summary)
    create_table_artifact(table=claims_rows(report), key=f"claims-{key}", description=f"Claims: {report.goal}")
    create_markdown_artifact(
        markdown=tribunal_markdown(report, published), key=f"tribunal-{key}", description=f"Tribunal: {summary}"
    )
    return key
