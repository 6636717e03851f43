"""`sovereign search` and `sovereign verify`: the retrieval and verification stages on their own."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tasks.settings import Settings

# The stages are imported inside the commands: they load prefect and scikit-learn, which `sovereign --help` and the
# other commands do without.

console = Console()


class InputError(ValueError):
    """A command's arguments or input file cannot be used as given; the message says which and why."""


def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[dict]:
    """Rows of a JSON Lines file; a row without the required fields is a clear error naming its line."""
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if not path.is_file():
        raise InputError(f"input {path} is not a file")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(f"{path}:{number} is not JSON") from None
        if not isinstance(row, dict) or any(not isinstance(row.get(k), (str, int)) for k in required):
            raise InputError(f"{path}:{number} needs the fields {', '.join(required)}")
        rows.append(row)
    if not rows:
        raise InputError(f"{path} holds no rows")
    return rows


def search_command(
    query: Annotated[str | None, typer.Argument(help="A research question (omit with --queries).")] = None,
    corpus: Annotated[Path, typer.Option(help="Local corpus (.jsonl, .jsonl.gz, .parquet).")] = ...,
    k: Annotated[int, typer.Option("-k", min=1, help="How many ranked papers.")] = 100,
    queries: Annotated[Path | None, typer.Option(help='JSON Lines of {"qid": …, "query": …}.')] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of a table.")] = False,
) -> None:
    """The ranked papers a run would consider (plan_queries → search → merge_rank, before the gate's cut)."""
    if (query is None) == (queries is None):
        raise InputError("give either a QUERY or --queries FILE")
    from tasks.retrieve import rank_for_goal
    from tasks.sources.paper_source import CorpusSource

    settings = Settings()
    source = CorpusSource.open(corpus, settings.search.cache_dir, settings.search.hybrid)
    if queries is not None:
        for row in _read_jsonl(queries, ("qid", "query")):
            ranked = rank_for_goal(str(row["query"]), source, settings, k)
            sys.stdout.write(json.dumps({"qid": row["qid"], "ids": [r.paper.id for r in ranked]}) + "\n")
        return
    ranked = rank_for_goal(query, source, settings, k)
    if as_json:
        fields = ("fused_score", "relevance", "kept")
        payload = [{"id": r.paper.id, "title": r.paper.title} | r.model_dump(include=set(fields)) for r in ranked]
        sys.stdout.write(json.dumps({"query": query, "papers": payload}, indent=2) + "\n")
        return
    table = Table(title=f"{len(ranked)} papers for: {query}")
    for column in ("#", "arXiv id", "title", "relevance", "gate"):
        table.add_column(column)
    for number, r in enumerate(ranked, 1):
        table.add_row(str(number), r.paper.id, r.paper.title, f"{r.relevance:.2f}", "kept" if r.kept else "")
    console.print(table)


def verify_command(
    input: Annotated[Path, typer.Option("--input", help='JSON Lines of {"id", "claim", "source"}.')],
    corpus: Annotated[Path | None, typer.Option(help="Check claims against a paper of this corpus.")] = None,
    paper: Annotated[str | None, typer.Option(help="arXiv id of that paper (with --corpus).")] = None,
) -> None:
    """Label each claim VERIFIED / WEAK / UNSUPPORTED / CONTRADICTED with its support score and evidence sentence."""
    settings = Settings()
    if (corpus is None) != (paper is None):
        raise InputError("--corpus and --paper go together")
    from tasks.backends.factory import fit_term_weights, offline_models
    from tasks.models import Claim, Paper, content_id
    from tasks.sources.paper_source import CorpusSource
    from tasks.verify import verify_one

    if corpus is not None:
        rows = _read_jsonl(input, ("id", "claim"))
        source = CorpusSource.open(corpus, settings.search.cache_dir, settings.search.hybrid)
        row = source.index.row_of(paper)
        if row is None:
            raise InputError(f"paper {paper} is not in {corpus}")
        papers = {r["id"]: source.index.paper(row) for r in rows}
        _, weights = offline_models(source, [])
    else:
        rows = _read_jsonl(input, ("id", "claim", "source"))
        papers = {r["id"]: Paper(id=content_id(r["source"]), title="", abstract=str(r["source"])) for r in rows}
        weights = fit_term_weights(list(papers.values()))
    for row in rows:
        source_paper = papers[row["id"]]
        claim = Claim(
            id=str(row["id"]), text=str(row["claim"]), paper_id=source_paper.id, source_sentence="", start=0, end=0
        )
        checked = verify_one(claim, source_paper, settings.verify, weights)
        line = {
            "id": row["id"],
            "label": checked.label.value,
            "score": checked.support,
            "contradiction": checked.contradiction,
            "evidence": checked.evidence,
        }
        sys.stdout.write(json.dumps(line) + "\n")
