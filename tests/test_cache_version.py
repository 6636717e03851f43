"""Stage caches are keyed on the code under tasks/: a changed helper constant recomputes, unchanged code is Cached."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from prefect import flow

from tasks import common
from tasks.plan import plan_queries

GOAL = "How do mixture-of-experts LoRA adapters compare with dense LoRA fine-tuning?"


@pytest.fixture
def tasks_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of tasks/ that the code fingerprint reads instead of the real one."""
    copy = tmp_path / "tasks"
    shutil.copytree(common.TASKS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(common, "TASKS_DIR", copy)
    common.code_fingerprint.cache_clear()
    yield copy
    common.code_fingerprint.cache_clear()


def _edit_constant(tasks_dir: Path) -> None:
    """Change a tuned constant in a helper module, not in any task's own body."""
    coverage = tasks_dir / "coverage.py"
    source = coverage.read_text()
    assert "GENERIC_QUANTITIES = frozenset(" in source
    coverage.write_text(source.replace('"""trade-off ', '"""outcome trade-off ', 1))


def test_fingerprint_changes_with_any_tasks_source(tasks_copy: Path):
    before = common.code_fingerprint()
    common.code_fingerprint.cache_clear()
    assert common.code_fingerprint() == before  # stable for the same code
    _edit_constant(tasks_copy)
    common.code_fingerprint.cache_clear()
    edited = common.code_fingerprint()
    assert edited != before
    head = next(tasks_copy.rglob("entailment_head.npz"))  # a fitted array is code too
    head.write_bytes(head.read_bytes() + b"\0")
    common.code_fingerprint.cache_clear()
    assert common.code_fingerprint() != edited


def test_changed_helper_constant_recomputes_stage(prefect_harness, tasks_copy: Path, tmp_path: Path):
    @flow(result_storage=tmp_path / "results")
    def plan_twice() -> list[str]:
        first = plan_queries(GOAL, return_state=True)
        second = plan_queries(GOAL, return_state=True)
        common.code_fingerprint.cache_clear()
        _edit_constant(tasks_copy)
        third = plan_queries(GOAL, return_state=True)
        return [first.name, second.name, third.name]

    assert plan_twice() == ["Completed", "Cached", "Completed"]
