"""Publish stage: the brief (rendered by tasks/io/render.py) and its data (tasks/io/tables.py), written atomically."""

from __future__ import annotations

import os
import re
import shutil
import time
import warnings
from pathlib import Path

import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from tasks.brief import reference_numbers
from tasks.io.atomic import staged_directory
from tasks.io.bibtex import references_bib
from tasks.io.render import render_html, render_markdown, render_pdf
from tasks.io.tables import claims_table, papers_table
from tasks.models import EmbeddingSet, Policy, Report
from tasks.progress import STAGE_HOOKS

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_LEFTOVER = re.compile(r"\.(?P<run>[A-Za-z0-9][A-Za-z0-9._-]*)\.(?P<kind>partial|old)-(?P<pid>\d{1,9})")
# A publisher's leftovers are removed only once it is dead and they are this old, so that a live publisher on
# another host sharing the directory (its pid means nothing here) is not robbed of its staging directory.
STALE_AFTER_SECONDS = 600


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
        bibtex: Path | None = None
        json: Path
        claims_parquet: Path
        papers_parquet: Path

        def files(self) -> dict[str, Path]:
            """Label → path of every file written, in reading order."""
            labels = ("pdf", "markdown", "bibtex", "json", "claims_parquet", "papers_parquet")
            return {label: path for label in labels if (path := getattr(self, label)) is not None}


def _write_brief(report: Report, embeddings: EmbeddingSet, directory: Path) -> None:
    """Write every file of the brief into directory."""
    (directory / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    pq.write_table(claims_table(report, embeddings), directory / "claims.parquet")
    pq.write_table(papers_table(report, embeddings), directory / "papers.parquet")
    if report.decision.policy is Policy.REJECT:
        return
    (directory / "report.md").write_text(render_markdown(report), encoding="utf-8")
    write_references(report, directory)
    (directory / "report.pdf").write_bytes(render_pdf(render_html(report)))


def write_references(report: Report, directory: Path) -> None:
    """references.bib beside the brief: one BibTeX entry per numbered paper."""
    (directory / "references.bib").write_text(references_bib(report, reference_numbers(report)), encoding="utf-8")


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
        bibtex=None if rejected else final / "references.bib",
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
