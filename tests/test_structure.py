"""The code's shape: tasks/ has no import cycles, and the run parameters are stated once and checked everywhere."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import yaml

from flows import cli
from flows.research import research_flow
from flows.sweep import sweep_flow
from tasks.settings import RunParameters, Settings

TASKS = Path(__file__).resolve().parent.parent / "tasks"


def module_name(path: Path) -> str:
    """A module's dotted name under tasks/ (a package by its own name)."""
    parts = path.relative_to(TASKS).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(module: Path) -> set[str]:
    """The tasks modules one module imports (dotted, under tasks/), at top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tasks":
            package = node.module.removeprefix("tasks").removeprefix(".")
            for alias in node.names:
                name = f"{package}.{alias.name}" if package else alias.name
                is_module = (TASKS / name.replace(".", "/")).with_suffix(".py").is_file()
                found.add(name if is_module else package)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("tasks.") for a in node.names if a.name.startswith("tasks.")}
    return found - {""}


def test_tasks_modules_import_each_other_without_cycles():
    graph = {module_name(path): imports_of(path) for path in TASKS.rglob("*.py")}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None


def test_the_live_sources_and_models_do_not_import_the_corpus_index():
    for name in ("sources/arxiv", "backends/nim", "backends/llm", "backends/prompts"):
        assert not imports_of(TASKS / f"{name}.py") & {"index.corpus", "sources.arxiv"}, name


# The CLI's shorter option names, and Settings.with_overrides's, for the run parameters they differ on.
CLI_NAMES = {"out": "out_dir", "llm": "llm_backend", "embedder": "embedder_backend"}
OVERRIDE_NAMES = {"llm": "llm_backend", "embedder": "embedder_backend"}
FIELDS = RunParameters.model_fields


def defaults(function: Callable[..., object]) -> dict[str, object]:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()}


def test_the_flows_take_the_run_parameters_with_their_defaults():
    research = defaults(research_flow.fn)
    assert research == {"goal": inspect.Parameter.empty, **{name: f.default for name, f in FIELDS.items()}}
    sweep = defaults(sweep_flow.fn)
    # a sweep's goals wait for the owner as configured (SOVEREIGN_APPROVAL__TIMEOUT_SECONDS)
    assert {
        name: f.default for name, f in FIELDS.items() if name != "approval_timeout_seconds"
    }.items() <= sweep.items()


def test_settings_overrides_and_the_cli_name_the_run_parameters():
    overrides = {OVERRIDE_NAMES.get(name, name) for name in defaults(Settings.with_overrides)} - {"self"}
    assert overrides == set(FIELDS)
    for command, own in (
        (cli.run, {"goal"}),
        (cli.sweep, {"questions_file", "goal", "max_concurrent_goals", "task_runner"}),
    ):
        assert {CLI_NAMES.get(name, name) for name in defaults(command)} - own <= set(FIELDS), command.__name__


def test_run_parameters_give_back_the_settings_they_came_from():
    configured = Settings().with_overrides(source="arxiv", max_papers=5, out_dir="elsewhere", llm="offline")
    assert RunParameters.of(configured).settings() == configured


def test_a_run_without_its_own_limits_uses_the_configured_ones(monkeypatch):
    # deployments and sweeps pass only what the owner set: the environment's settings decide the rest
    monkeypatch.setenv("SOVEREIGN_RANK__MAX_PAPERS", "3")
    monkeypatch.setenv("SOVEREIGN_TRIBUNAL__MAX_REVISION_ROUNDS", "0")
    settings = RunParameters().settings()
    assert (settings.rank.max_papers, settings.tribunal.max_revision_rounds) == (3, 0)
    assert RunParameters(max_papers=5).settings().rank.max_papers == 5


def test_prefect_yaml_gives_valid_run_parameters():
    config = yaml.safe_load((TASKS.parent / "prefect.yaml").read_text(encoding="utf-8"))
    for deployment in config["deployments"]:
        given = {name: value for name, value in deployment["parameters"].items() if name in FIELDS}
        assert set(given) == set(config["definitions"]["research_parameters"]) | (
            {"approval_timeout_seconds"} & set(deployment["parameters"])
        )
        RunParameters.model_validate(given)
