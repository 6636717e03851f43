"""`sovereign` command line: run research, manage corpora."""

from __future__ import annotations

import atexit
import logging
import os
import sys

# Prefect's INFO lines would bury the stage board; they still reach the API and the UI.
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import wraps
from pathlib import Path
from threading import Lock
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from flows.lookup import InputError, search_command, verify_command
from flows.server import (
    LocalServer,
    ServerError,
    ensure_server,
    ensure_worker,
    prefect_api_url,
    running_server,
    running_worker,
    server_for_command,
    stop_server,
)
from tasks.progress import subscribe
from tasks.settings import CorpusIndexSettings, LocalServerSettings, NimCredentials, RunParameters, Settings

app = typer.Typer(
    help="SOVEREIGN research kernel: a question in, a reviewed and cited brief out.", no_args_is_help=True
)
corpus_app = typer.Typer(help="Build and inspect local corpus indexes.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
server_app = typer.Typer(
    help="The local Prefect server that run and sweep share when PREFECT_API_URL is unset.", no_args_is_help=True
)
app.add_typer(server_app, name="server")
console = Console()
err = Console(stderr=True)
NO_CORPUS = "no corpus given: pass --corpus PATH, or --source arxiv to search arXiv live"


def user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean a user's mistake: a goal, a corpus, a source, a model choice."""
    # imported when needed, not at the top: their modules load prefect and scikit-learn, which `--help` does without
    from tasks.backends.llm import ModelUnavailable
    from tasks.goal_form import GoalError
    from tasks.index.corpus import CorpusError
    from tasks.sources.paper_source import SourceUnavailable

    return GoalError, CorpusError, SourceUnavailable, ModelUnavailable


class StageBoard:
    """Live table of stages: state, how many task runs, seconds since first start."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}
        self.lock = Lock()

    def update(self, stage: str, state: str) -> None:
        with self.lock:
            row = self.rows.setdefault(stage, {"runs": 0, "done": 0, "state": state, "start": time.perf_counter()})
            if state == "Running":
                row["runs"] += 1
            elif state in ("Completed", "Cached"):
                row["done"] += 1
            row["state"] = state
            row["end"] = time.perf_counter()

    def render(self) -> Table:
        table = Table(title="SOVEREIGN research run", expand=False)
        for column in ("stage", "state", "runs", "seconds"):
            table.add_column(column)
        with self.lock:
            for stage, row in self.rows.items():
                colour = {"Failed": "red", "Completed": "green", "Cached": "cyan"}.get(row["state"], "yellow")
                seconds = f"{row['end'] - row['start']:.2f}"
                table.add_row(stage, f"[{colour}]{row['state']}[/]", f"{row['done']}/{row['runs']}", seconds)
        return table


def _fail(message: str, code: int = 2) -> None:
    # a goal or path may hold "[/]", which is not markup; soft wrap keeps the message one line in a log file too
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _invalid(error: ValidationError, prefix: str = "SOVEREIGN_") -> str:
    """One line naming each bad setting and its variable; the value is not echoed (it may be a secret)."""
    problems = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"])
        problems.append(f"{path} ({prefix}{path.upper().replace('.', '__')}): {item['msg']}")
    return "invalid option " + "; ".join(problems)


def _server_settings() -> LocalServerSettings:
    """The local server's settings; a bad SOVEREIGN_SERVER__* value is one clear line."""
    try:
        return LocalServerSettings()
    except ValidationError as exc:
        _fail(_invalid(exc, "SOVEREIGN_SERVER__"))


def _announce(server: LocalServer) -> None:
    """Say once, when it starts, where the local server and its UI are."""
    console.print(
        f"Started a local Prefect server for sovereign commands: API {server.api_url}, UI {server.ui_url} "
        "(`sovereign server stop` stops it)",
        soft_wrap=True,
    )


@contextmanager
def _local_prefect(start: bool = True) -> Iterator[LocalServer | None]:
    """This command's Prefect API: PREFECT_API_URL when configured, else the shared local server (started if none),
    which it yields (None for a configured API)."""
    try:
        server, started = server_for_command(_server_settings(), start)
    except ServerError as exc:
        _fail(str(exc), 1)
    if started:
        _announce(server)
    with prefect_api_url(server.api_url) if server else nullcontext():
        yield server


@app.command()
def run(
    goal: Annotated[str, typer.Argument(help="The research question.")],
    corpus: Annotated[Path | None, typer.Option(help="Local corpus (.jsonl, .jsonl.gz, .parquet).")] = None,
    source: Annotated[str, typer.Option(help="Paper source: corpus or arxiv.")] = "corpus",
    out: Annotated[Path | None, typer.Option(help="Output directory (default: ./runs).")] = None,
    max_papers: Annotated[int | None, typer.Option(help="Most papers kept after the relevance gate.")] = None,
    max_revision_rounds: Annotated[int | None, typer.Option(help="Revision rounds when the score is low.")] = None,
    llm: Annotated[
        str | None, typer.Option(help="LLM stages: nim or offline (default: nim when NVIDIA_API_KEY is set).")
    ] = None,
    embedder: Annotated[
        str | None, typer.Option(help="Embedder: nim or offline (default: nim when NVIDIA_API_KEY is set).")
    ] = None,
) -> None:
    """Research GOAL and publish a brief (PDF, Markdown, JSON, Parquet)."""
    if source not in ("corpus", "arxiv"):
        _fail(f"unknown source '{source}': use corpus or arxiv")
    for option, value in (("--llm", llm), ("--embedder", embedder)):
        if value not in (None, "nim", "offline", "auto"):
            _fail(f"unknown {option} '{value}': use nim or offline")
    try:
        settings = Settings().with_overrides(
            source=source,
            corpus=corpus,
            max_papers=max_papers,
            max_revision_rounds=max_revision_rounds,
            out_dir=out,
            llm=llm,
            embedder=embedder,
        )
    except ValidationError as exc:  # an out-of-range option or SOVEREIGN_* value
        _fail(_invalid(exc))
    server_settings = _server_settings()
    if server_settings.warm_worker and _offline(settings) and _run_warm(goal, settings, server_settings):
        return

    from tasks.index.corpus import CorpusError, ingest_corpus
    from tasks.plan import clean_goal

    try:
        goal = clean_goal(goal, settings.max_goal_chars)
        if settings.search.source == "corpus":
            if settings.search.corpus is None:
                raise CorpusError(NO_CORPUS)
            with console.status("Loading corpus index (built once per corpus file)…"):
                ingest_corpus(settings.search.corpus, settings.search.cache_dir)
    except user_errors() as exc:
        _fail(str(exc))

    from flows.research import research_flow
    from tasks.publish import PublishError

    with _local_prefect():
        board = StageBoard()
        unsubscribe = subscribe(board.update)
        try:
            with Live(board.render(), console=console, refresh_per_second=4) as live:
                unsubscribe_live = subscribe(lambda *_: live.update(board.render()))
                try:
                    published = research_flow(goal=goal, **RunParameters.of(settings).model_dump())
                finally:
                    unsubscribe_live()
                    live.update(board.render())
        except (*user_errors(), PublishError) as exc:
            _fail(str(exc))
        except Exception as exc:
            _fail(f"research run failed: {type(exc).__name__}: {exc} (see the run in the Prefect UI to retry)", 1)
        finally:
            unsubscribe()
    _print_published(goal, published.policy, published.score, published.files())


def _print_published(goal: str, policy: str, score: float, files: dict[str, Path | str]) -> None:
    """The run's decision and score, then the path of every file of its brief."""
    console.print(f"\n[bold]{policy}[/] (score {score:.2f}) — {escape(goal)}", soft_wrap=True)
    for label, path in files.items():
        console.print(f"  {label:<15} {escape(str(path))}", soft_wrap=True)


def _offline(settings: Settings) -> bool:
    """Whether both the LLM stages and the embedder are the offline ones."""
    credentials = NimCredentials()
    return all(credentials.resolves_offline(choice) for choice in (settings.llm.backend, settings.llm.embedder))


def _run_warm(goal: str, settings: Settings, server_settings: LocalServerSettings) -> bool:
    """Run on the warm worker beside the local server; False when the run must go ahead in-process instead.

    False, with a one-line note, when the worker cannot be started or does not take the run up; a user's mistake or a
    failed run exits as in-process.
    """
    from tasks.goal_form import GoalError, tidy_goal

    try:
        # the form here; whether the goal has searchable words, the worker's planner says (same message, same exit)
        goal = tidy_goal(goal, settings.max_goal_chars)
    except GoalError as exc:
        _fail(str(exc))
    corpus = settings.search.corpus
    if settings.search.source == "corpus":
        if corpus is None:
            _fail(NO_CORPUS)
        if not corpus.is_file():
            _fail(f"corpus not found: {corpus} (give a .jsonl, .jsonl.gz or .parquet file)")
    # explicit and absolute: the worker's own environment and working directory change nothing of the run
    parameters = RunParameters.of(settings).model_copy(
        update={
            "corpus": str(corpus.resolve()) if corpus else None,
            "out_dir": str(settings.out_dir.resolve()),
            "llm_backend": "offline",
            "embedder_backend": "offline",
        }
    )
    with _local_prefect() as server:
        if server is None:  # PREFECT_API_URL is configured: the worker serves the local server only
            return False
        try:
            worker, _ = ensure_worker(server_settings, server)
        except OSError as exc:
            _note(f"the warm worker could not be started ({exc}); running in-process")
            return False
        if worker is None:
            _note("the warm worker is busy with runs of other kernel code or SOVEREIGN_* settings; running in-process")
            return False
        from flows.warm import WarmRunFailed, WorkerUnavailable, run_warm

        started = time.perf_counter()
        try:
            with console.status("Research run in the warm worker…") as status:

                def show(state: str) -> None:
                    status.update(
                        f"Research run in the warm worker (pid {worker.pid}): {state}, "
                        f"{time.perf_counter() - started:.0f} s"
                    )

                result = run_warm(
                    goal,
                    parameters,
                    server_settings.home,
                    worker,
                    server_settings.worker_pickup_timeout_seconds,
                    show,
                )
        except WarmRunFailed as exc:
            _fail(exc.message, exc.code)
        except WorkerUnavailable as exc:
            _note(f"{exc}; running in-process (its log: {server_settings.home / 'worker.log'})")
            return False
        except Exception as exc:  # the API failed the submission or the wait: as an in-process run's failure
            _fail(f"research run failed: {type(exc).__name__}: {exc} (see the run in the Prefect UI to retry)", 1)
    _print_published(goal, result["policy"], result["score"], result["files"])
    return True


def _note(message: str) -> None:
    """One line on stderr that does not stop the command."""
    err.print(f"[yellow]note:[/] {escape(message)}", soft_wrap=True)


@app.command()
def approve(
    run_id: Annotated[str, typer.Argument(help="The paused research run: its flow run id or name.")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject the draft instead of approving it.")] = False,
    comment: Annotated[str, typer.Option(help="Why; published with the brief.")] = "",
    reviewer: Annotated[str | None, typer.Option(help="Who decides (default: your user name).")] = None,
) -> None:
    """Approve (or --reject) a run held for owner review, through the Prefect API (PREFECT_API_URL)."""
    import httpx
    from prefect.exceptions import FlowPauseTimeout, NotPausedError, ObjectNotFound

    from tasks.approval import find_flow_run, submit_owner_decision

    # the held run lives on the local server when run or sweep started one; approving starts none
    with _local_prefect(start=False):
        try:
            flow_run_id = find_flow_run(run_id)
            submit_owner_decision(flow_run_id, approve=not reject, comment=comment, reviewer=reviewer)
        except ObjectNotFound:
            _fail(f"no flow run {run_id} on this Prefect API")
        except NotPausedError:
            _fail(f"flow run {run_id} is not paused for owner review")
        except FlowPauseTimeout:
            _fail(f"flow run {run_id} waited past its review timeout; it was published as a draft")
        except (LookupError, RuntimeError) as exc:
            _fail(str(exc))
        except httpx.HTTPError as exc:
            _fail(f"cannot reach the Prefect API: {exc} (is PREFECT_API_URL set to a running server?)")
    console.print(f"{'Rejected' if reject else 'Approved'} flow run {flow_run_id}; it resumes and publishes.")


def _one_line_errors(command: Callable[..., None]) -> Callable[..., None]:
    """The command with a user's mistake (input, corpus, query, a SOVEREIGN_* value) as one line and exit 2."""

    @wraps(command)  # typer reads the options from the wrapped signature
    def checked(*args: object, **kwargs: object) -> None:
        try:
            command(*args, **kwargs)
        except InputError as exc:
            _fail(str(exc))
        except ValidationError as exc:
            _fail(_invalid(exc))
        except user_errors() as exc:
            _fail(str(exc))

    return checked


app.command("search")(_one_line_errors(search_command))
app.command("verify")(_one_line_errors(verify_command))


@app.command()
def sweep(
    questions_file: Annotated[Path | None, typer.Argument(help="Standing questions, one a line.")] = None,
    goal: Annotated[list[str] | None, typer.Option(help="A standing question; repeat for more.")] = None,
    corpus: Annotated[Path | None, typer.Option(help="Local corpus (.jsonl, .jsonl.gz, .parquet).")] = None,
    source: Annotated[str, typer.Option(help="Paper source: corpus or arxiv.")] = "corpus",
    out: Annotated[Path, typer.Option(help="Output directory; the sweep ledgers live there too.")] = Path("runs"),
    max_concurrent_goals: Annotated[int, typer.Option(help="Most goals researched at the same time.")] = 2,
    task_runner: Annotated[str, typer.Option(help="threads, or dask (a local Dask cluster).")] = "threads",
    llm: Annotated[str | None, typer.Option(help="LLM stages: nim or offline (default as for run).")] = None,
    embedder: Annotated[str | None, typer.Option(help="Embedder: nim or offline (default as for run).")] = None,
) -> None:
    """Research every standing question again and publish what changed (the nightly sweep, run now)."""
    if task_runner not in ("threads", "dask"):
        _fail(f"unknown task runner '{task_runner}': use threads or dask")
    if not questions_file and not goal:
        _fail("no questions: pass a questions file or --goal")
    from flows.sweep import sweep_on

    with _local_prefect():
        rows = sweep_on(task_runner, max_concurrent_goals)(
            goals=goal,
            questions_file=str(questions_file) if questions_file else None,
            source=source,
            corpus=str(corpus) if corpus else None,
            out_dir=str(out),
            max_concurrent_goals=max_concurrent_goals,
            llm_backend=llm,
            embedder_backend=embedder,
        )
    table = Table(title="SOVEREIGN sweep")
    for column in ("goal", "status", "policy", "score", "new papers", "changes"):
        table.add_column(column)
    for row in rows:
        score = "" if row.score is None else f"{row.score:.2f}"
        table.add_row(row.goal, row.status, row.policy, score, str(row.new_papers), row.changes or row.error)
    console.print(table)


@corpus_app.command("ingest")
def corpus_ingest(
    path: Annotated[Path, typer.Argument(help="Corpus file (.jsonl, .jsonl.gz, .parquet).")],
    cache_dir: Annotated[Path | None, typer.Option(help="Index cache directory.")] = None,
    append: Annotated[
        Path | None, typer.Option(help="Add this file's papers to PATH's index in place, without a rebuild.")
    ] = None,
) -> None:
    """Build the cached index of a corpus ahead of time (later runs reuse it), or append new papers to it."""
    from tasks.index.corpus import CorpusError, CorpusStats, append_papers, ingest_corpus

    try:
        cache = cache_dir or Settings().search.cache_dir
        index_settings = CorpusIndexSettings()
    except ValidationError as exc:
        _fail(_invalid(exc))
    started = time.perf_counter()
    try:
        with console.status(f"Indexing {path}…"):
            target, built = ingest_corpus(path, cache, index_settings)
        if append is not None:
            verb = "built, then appended to" if built else "appended to"
            with console.status(f"Appending {append}…"):
                target, stats = append_papers(path, append, cache, index_settings)
    except CorpusError as exc:
        _fail(str(exc))
    meta = json.loads((target / "meta.json").read_text())
    total = sum(part["papers"] for part in meta["parts"])
    if append is None:
        stats = CorpusStats.model_validate(meta["stats"])
        verb = "built" if built else "already cached"
    elif stats is None:
        console.print(f"{append} was appended before: {target} ({total:,} papers)")
        return
    console.print(f"Index {verb} in {time.perf_counter() - started:.1f}s: {target} ({total:,} papers)")
    console.print(
        f"  {'added' if append else 'papers'} {stats.papers:,}; skipped: {stats.skipped_missing_fields:,} without "
        f"id/title/abstract, {stats.skipped_malformed:,} malformed, {stats.duplicates:,} duplicate ids"
    )


@corpus_app.command("embed")
def corpus_embed(
    path: Annotated[Path, typer.Argument(help="Corpus file (.jsonl, .jsonl.gz, .parquet).")],
    cache_dir: Annotated[Path | None, typer.Option(help="Index cache directory.")] = None,
    embedder: Annotated[
        str, typer.Option(help="offline (all-MiniLM-L6-v2, what the dense search channel uses) or nim.")
    ] = "offline",
    task_runner: Annotated[
        str, typer.Option(help="processes (a local process pool) or dask (the Dask cluster at --address).")
    ] = "processes",
    address: Annotated[str | None, typer.Option(help="Dask scheduler, tcp://HOST:PORT (--task-runner dask).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes of the local pool (default: one per core).")
    ] = None,
) -> None:
    """Build a corpus's dense vectors as a Prefect flow over chunks of papers: resumable, reused across corpora."""
    from tasks.ml.dense import dense_installed

    if embedder not in ("offline", "nim"):
        _fail(f"unknown --embedder '{embedder}': use offline or nim")
    if task_runner not in ("processes", "dask"):
        _fail(f"unknown task runner '{task_runner}': use processes or dask")
    if (task_runner == "dask") != bool(address):
        _fail("--address tcp://HOST:PORT goes with --task-runner dask, and dask needs it")
    if embedder == "offline" and not dense_installed():
        _fail("the dense extra is not installed: pip install 'sovereign[dense]'")
    try:
        cache = cache_dir or Settings().search.cache_dir
    except ValidationError as exc:
        _fail(_invalid(exc))
    from flows.embed import EmbedFailed, embed_flow_on

    started = time.perf_counter()
    with _local_prefect(), console.status("Embedding papers…") as status:
        unsubscribe = subscribe(lambda stage, state: status.update(f"Embedding papers: {state}"))
        try:
            summary = embed_flow_on(task_runner, address, workers)(
                corpus=str(path), cache_dir=str(cache), embedder=embedder
            )
        except ValidationError as exc:
            _fail(_invalid(exc))
        except user_errors() as exc:
            _fail(str(exc))
        except EmbedFailed as exc:
            _fail(str(exc), 1)
        except OSError as exc:  # a Dask scheduler not reached, a cache that cannot be written
            _fail(f"corpus embed failed: {exc}", 1)
        finally:
            unsubscribe()
    seconds = time.perf_counter() - started
    if not summary.built:
        console.print(f"Dense vectors already built ({summary.papers:,} papers): {summary.vectors_file}")
        return
    reused = summary.papers - summary.embedded_papers - summary.migrated_papers
    console.print(
        f"Dense vectors built in {seconds:.1f}s: {summary.vectors_file}\n  {summary.papers:,} papers: "
        f"{summary.embedded_papers:,} embedded now, {summary.migrated_papers:,} taken from an earlier version's "
        f"files, {reused:,} already in the {summary.model} store",
        soft_wrap=True,
    )


@server_app.command("start")
def server_start() -> None:
    """Start the local Prefect server and its warm worker now (run and sweep start them themselves when needed)."""
    settings = _server_settings()
    try:
        server, started = ensure_server(settings)
    except ServerError as exc:
        _fail(str(exc), 1)
    if started:
        _announce(server)
    else:
        console.print(f"The local Prefect server is already running: API {server.api_url}, UI {server.ui_url}")
    if settings.warm_worker:
        try:
            worker, _ = ensure_worker(settings, server)
            if worker is None:
                console.print("The warm worker is busy with runs of other kernel code or settings; it stays as it is.")
            else:
                console.print(f"The warm worker is running: pid {worker.pid}, log {settings.home / 'worker.log'}")
        except OSError as exc:
            _note(f"the warm worker could not be started ({exc}); runs go ahead in-process")
    if os.environ.get("PREFECT_API_URL"):
        console.print(f"Note: PREFECT_API_URL is set ({os.environ['PREFECT_API_URL']}); commands use that API instead.")


@server_app.command("status")
def server_status() -> None:
    """Say whether the local Prefect server and its warm worker run, where, and on which database (exit 1 when the
    server does not)."""
    settings = _server_settings()
    server = running_server(settings)
    if server is None:
        console.print(
            "The local Prefect server is not running; the next `sovereign run` or `sweep` starts it.", soft_wrap=True
        )
    else:
        console.print(
            f"The local Prefect server is running: API {server.api_url}, UI {server.ui_url}, pid {server.pid}",
            soft_wrap=True,
        )
        console.print(f"  database {settings.home / 'prefect.db'}, log {settings.home / 'server.log'}", soft_wrap=True)
        worker = running_worker(settings)
        if worker:
            console.print(
                f"The warm worker is running: pid {worker.pid}, log {settings.home / 'worker.log'}", soft_wrap=True
            )
        else:
            console.print("The warm worker is not running; the next offline `sovereign run` starts it.")
    if os.environ.get("PREFECT_API_URL"):
        console.print(f"PREFECT_API_URL is set ({os.environ['PREFECT_API_URL']}): commands use that API instead.")
    if server is None:
        raise typer.Exit(1)


@server_app.command("stop")
def server_stop() -> None:
    """Stop the local Prefect server and its warm worker; the next `sovereign run` or `sweep` starts a new one on the
    same database."""
    settings = _server_settings()
    worker = running_worker(settings)
    server = stop_server(settings)
    if worker:
        console.print(f"Stopped the warm worker (pid {worker.pid}).")
    if server is None:
        console.print("No local Prefect server was running.")
    else:
        console.print(f"Stopped the local Prefect server (pid {server.pid}, {server.ui_url}).")


def main() -> None:
    """The `sovereign` command, left without the interpreter's teardown (freeing a run's index and models: ~1 s CPU)."""
    code = 0

    # registered before Prefect's own exit hooks, so it runs after them: its queued logs and events are sent first
    def leave() -> None:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    atexit.register(leave)
    try:
        app()
    except SystemExit as done:  # typer ends by raising it; a message given as its code is printed before exit hooks
        code = done.code if isinstance(done.code, int) else int(done.code is not None)
        raise


if __name__ == "__main__":  # `python -m flows.cli`, as the `sovereign` script does, for the code on PYTHONPATH
    main()
