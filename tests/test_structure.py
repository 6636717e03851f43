"""The code's shape: the import graph of tasks/ has no cycles, and sources and models do not import the index."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

TASKS = Path(__file__).resolve().parent.parent / "tasks"


def imports_of(module: Path) -> set[str]:
    """The tasks modules one module imports, at top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "tasks":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tasks."):
            found.add(node.module.split(".")[1])
    return found


def test_tasks_modules_import_each_other_without_cycles():
    graph = {path.stem: imports_of(path) for path in TASKS.glob("*.py")}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None


def test_the_live_sources_and_models_do_not_import_the_corpus_index():
    for name in ("arxiv_source", "nim", "llm", "prompts"):
        assert not imports_of(TASKS / f"{name}.py") & {"corpus", "arxiv_source"}, name
