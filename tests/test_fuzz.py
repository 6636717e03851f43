"""Bad input, fuzzed with hypothesis: goals, corpus rows and settings values never crash without a clear error.

Each property runs a few cases by default (profile "sovereign", tests/conftest.py) and hundreds in the `slow`
full run, which counts the cases it generated and asserts there were at least 1,000.
"""

from __future__ import annotations

import json
import string
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import annotated_types
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

import flows.research
from flows.cli import app
from tasks.index.corpus import CorpusError, ingest_corpus, load_papers
from tasks.io.latex import plain_text
from tasks.models import Policy
from tasks.plan import GoalError, clean_goal, plan_queries
from tasks.publish import PublishedBrief
from tasks.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
MAX_GOAL = Settings().max_goal_chars
CASES: Counter[str] = Counter()  # property → generated cases run in this session
runner = CliRunner()

# --- goals --------------------------------------------------------------------------------------------------

MARKUP = ["<script>alert(1)</script>", "<img src=http://127.0.0.1:9/x>", "**bold**", "[x](javascript:1)", "# H", "[/]"]
WORDS = ["LoRA", "mixture-of-experts", "latency", "低秩适配", "Трансформер", "تعلم", "🙂", "α=0.5", "1,000", "\u200b"]
goals = st.one_of(
    st.just(""),
    st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u2028", max_size=40),
    st.text(max_size=200),
    st.text(alphabet=st.characters(categories=("Cc", "Cf", "Zs", "Co")), max_size=40),
    st.lists(st.sampled_from(MARKUP + WORDS), max_size=25).map(" ".join),
    st.tuples(st.sampled_from(["lora ", "模型 ", "x"]), st.integers(1, 100_000 // 5)).map(lambda t: t[0] * t[1]),
)


def check_goal(goal: str) -> None:
    """clean_goal accepts or refuses in one line; an accepted goal always plans 1–4 distinct queries."""
    CASES["goal"] += 1
    try:
        cleaned = clean_goal(goal, MAX_GOAL)
    except GoalError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert cleaned == cleaned.strip() and 0 < len(cleaned) <= MAX_GOAL and cleaned.isprintable()
    plan = plan_queries.fn(cleaned)
    assert 1 <= len(plan.queries) <= 4 and all(q.strip() for q in plan.queries)
    assert len({q.lower() for q in plan.queries}) == len(plan.queries)


def _stub_flow(out_dir: str, **_: object) -> PublishedBrief:
    """Stands in for research_flow: the CLI's own handling of the goal is under test, not the flow."""
    directory = Path(out_dir) / "run"
    return PublishedBrief(
        directory=directory,
        policy=Policy.AUTO_APPROVE,
        score=9.0,
        pdf=directory / "report.pdf",
        markdown=directory / "report.md",
        json=directory / "report.json",
        claims_parquet=directory / "claims.parquet",
        papers_parquet=directory / "papers.parquet",
    )


def assert_user_error(result) -> str:
    """Exit code 2 and one `error:` message, never a traceback; the message with its wrapping undone."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.output.count("error:") == 1 and "Traceback" not in result.output, result.output
    return " ".join(result.output.split())


def check_cli_goal(goal: str) -> None:
    """`sovereign run GOAL`: exit 2 and one clear line for a goal it refuses, a printed decision otherwise."""
    CASES["cli goal"] += 1
    with tempfile.TemporaryDirectory() as out, pytest.MonkeyPatch.context() as patch:
        patch.setattr(flows.research, "research_flow", _stub_flow)
        result = runner.invoke(app, ["run", "--corpus", str(FIXTURE), "--out", out, "--", goal])
    try:
        clean_goal(goal, MAX_GOAL)
    except GoalError as error:
        assert str(error).split(";")[0] in assert_user_error(result)
        return
    assert result.exit_code == 0, (result.output, result.exception)
    assert "AUTO_APPROVE" in result.output


# --- corpus rows --------------------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=4), scalars, max_size=2))
ids = st.sampled_from(["2401.00001", "2401.00001v2", "arXiv:2401.00002", "v2", "arXiv:", " ", "abs/2401.00003v1", "1"])
texts = st.text(min_size=1, max_size=200)
gigantic = st.integers(100_000, 300_000).map(lambda n: "tokens of a gigantic abstract " * (n // 30))
rows = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(ids, values),
        "title": st.one_of(texts, values),
        "abstract": st.one_of(texts, values, gigantic),
        "authors": values,
        "categories": values,
        "published": values,
        "year": values,
    },
)
raw_lines = st.one_of(
    rows.map(lambda row: json.dumps(row).encode()),
    st.binary(max_size=60),  # mostly invalid UTF-8 and not JSON
    st.sampled_from(
        [
            b'{"id": "2402.1\\ud800", "title": "lone \\udfff surrogate", "abstract": "text \\ud800 here"}',
            b'{"id": "2402.2", "title": "bad \xff\xfe bytes", "abstract": "latin-1 caf\xe9 inside UTF-8"}',
            b"[1, 2]",
            b"null",
            b'"just a string"',
            b'{"id": "2402.3", "title": "ok", "abstract": "ok"',
        ]
    ),
)
corpora = st.lists(raw_lines, min_size=1, max_size=12)


def write_lines(directory: str, lines: list[bytes]) -> Path:
    """The lines as a JSON Lines corpus file."""
    path = Path(directory) / "corpus.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def check_load(lines: list[bytes]) -> None:
    """load_papers keeps usable rows and counts every other one, or refuses the file in one line."""
    CASES["corpus load"] += 1
    with tempfile.TemporaryDirectory() as directory:
        try:
            papers, stats = load_papers(write_lines(directory, lines))
        except CorpusError as error:
            assert "\n" not in str(error)
            return
    skipped = stats.skipped_missing_fields + stats.skipped_malformed + stats.duplicates
    assert stats.rows_read == stats.papers + skipped and stats.papers == len(papers)
    assert len({p.id for p in papers}) == len(papers)
    assert all(p.id.strip() and p.title.strip() and p.abstract.strip() for p in papers)


def check_ingest(lines: list[bytes]) -> None:
    """ingest_corpus builds a loadable index from whatever rows are usable, or refuses in one line."""
    CASES["corpus ingest"] += 1
    with tempfile.TemporaryDirectory() as directory:
        corpus = write_lines(directory, lines)
        try:
            target, built = ingest_corpus(corpus, Path(directory) / "cache")
        except CorpusError as error:
            assert "\n" not in str(error)
            return
        meta = json.loads((target / "meta.json").read_text())
        assert built and meta["stats"] == load_papers(corpus)[1].model_dump()
        left = {p.name for p in target.parent.iterdir()}
        assert left == {target.name, f"{target.name}.lock"}, "no staging left behind"


# --- settings -----------------------------------------------------------------------------------------------


def _bound(metadata: list, kind: type, attribute: str) -> float | None:
    """The first bound of this kind among a field's constraints."""
    return next((getattr(m, attribute) for m in metadata if isinstance(m, kind)), None)


def bounded_settings() -> list[tuple[str, type, float | None, float | None]]:
    """(env variable, type, lowest, highest) of every numeric setting with a bound."""
    found = []
    for group, info in Settings.model_fields.items():
        model = info.annotation
        fields = model.model_fields.items() if isinstance(model, type) and issubclass(model, BaseModel) else []
        for name, field in fields:
            low = _bound(field.metadata, annotated_types.Ge, "ge")
            low = _bound(field.metadata, annotated_types.Gt, "gt") if low is None else low
            high = _bound(field.metadata, annotated_types.Le, "le")
            if low is not None or high is not None:
                found.append((f"SOVEREIGN_{group.upper()}__{name.upper()}", field.annotation, low, high))
    return found


BOUNDED = bounded_settings()
not_numbers = st.text(alphabet=string.ascii_letters + "-_ ,", min_size=1, max_size=12).filter(
    lambda text: text.strip().lower() not in ("inf", "infinity", "-inf", "-infinity", "nan")
)


@st.composite
def bad_settings(draw: st.DrawFn) -> tuple[str, str]:
    """An env variable and a value outside its range or not a number at all."""
    variable, kind, low, high = draw(st.sampled_from(BOUNDED))
    beyond = [] if low is None else [low - draw(st.integers(1, 10**6))]
    beyond += [] if high is None else [high + draw(st.integers(1, 10**6))]
    value = draw(st.one_of(st.sampled_from(beyond), not_numbers))
    return variable, str(int(value) if kind is int and not isinstance(value, str) else value)


def check_setting(case: tuple[str, str]) -> None:
    """An out-of-range SOVEREIGN_* value is a ValidationError, and on the CLI one line naming the variable."""
    CASES["settings"] += 1
    variable, value = case
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(variable, value)
        with pytest.raises(ValidationError):
            Settings()
        result = runner.invoke(app, ["run", "Does LoRA help?", "--corpus", str(FIXTURE)])
    assert variable in assert_user_error(result)


# --- LaTeX in abstracts --------------------------------------------------------------------------------------

latex_texts = st.lists(
    st.one_of(
        st.sampled_from([r"\href", r"\url", r"\textbf", r"\frac", r"\cite", r"\sqrt", r"\emph", r"\%", r"\\"]),
        st.text(alphabet=string.ascii_letters + string.digits + "{}[]$%^_&#~ .,()", max_size=8),
    ),
    max_size=12,
).map("".join)


def check_plain_text(text: str) -> None:
    """Whatever markup an abstract holds, plain_text gives text back and never raises (a brief must publish)."""
    CASES["latex"] += 1
    assert isinstance(plain_text(text), str)


# --- the runs -----------------------------------------------------------------------------------------------

PROPERTIES: list[tuple[Callable, st.SearchStrategy, int]] = [
    (check_goal, goals, 300),
    (check_cli_goal, goals, 250),
    (check_load, corpora, 300),
    (check_ingest, corpora, 60),
    (check_setting, bad_settings(), 200),
    (check_plain_text, latex_texts, 300),
]


@pytest.mark.parametrize(
    "check, strategy", [(c, s) for c, s, _ in PROPERTIES], ids=lambda x: getattr(x, "__name__", "")
)
def test_fuzz_quick(check: Callable, strategy: st.SearchStrategy) -> None:
    given(strategy)(check)()


@pytest.mark.slow
def test_fuzz_full_run_of_a_thousand_cases() -> None:
    before = sum(CASES.values())
    for check, strategy, examples in PROPERTIES:
        full = hypothesis_settings(
            hypothesis_settings.get_profile("sovereign-full"),
            max_examples=examples,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        full(given(strategy)(check))()
    assert sum(CASES.values()) - before >= 1000, CASES


@pytest.mark.parametrize(
    "lines",
    [
        [b'{"id": "2401.00001", "title": "0", "abstract": "0"}'],  # no searchable word: a CorpusError, not a crash
        [b'{"id": "2401.00001", "title": "0", "abstract": "LoRA adapters"}'],  # no title word: indexed all the same
        [b'{"id": "v2", "title": "t", "abstract": "a"}', b'{"id": "2402.1\\ud800", "title": "x", "abstract": "y"}'],
    ],
)
def test_corpus_cases_the_fuzzer_found(lines: list[bytes]) -> None:
    check_load(lines)
    check_ingest(lines)
