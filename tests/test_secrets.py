"""NVIDIA_API_KEY set but the offline backends chosen: the key is in no file the run wrote and in nothing the
API holds (artifacts, logs, flow run parameters). tests/test_nim_flow.py covers the NIM path."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, PREFECT_SERVER_DATABASE_CONNECTION_URL
from typer.testing import CliRunner

from flows.cli import app

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
# A goal of its own, so every stage runs and persists its result instead of reusing another test's.
GOAL = "How do mixture-of-experts LoRA adapters trade accuracy against memory compared with dense LoRA?"

pytestmark = pytest.mark.usefixtures("prefect_harness")


def scan(key: str, *roots: Path) -> tuple[int, list[Path]]:
    """How many files under the roots were read, and those whose bytes hold the key."""
    files = sorted({p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()})
    return len(files), [p for p in files if key.encode() in p.read_bytes()]


def test_offline_run_writes_the_key_nowhere(tmp_path, monkeypatch, caplog):
    key = f"nvapi-DUMMY-{uuid.uuid4().hex}"
    monkeypatch.setenv("NVIDIA_API_KEY", key)
    monkeypatch.setenv("SOVEREIGN_LLM__BACKEND", "offline")
    monkeypatch.setenv("SOVEREIGN_LLM__EMBEDDER", "offline")
    out = tmp_path / "runs"
    result = CliRunner().invoke(app, ["run", GOAL, "--corpus", str(FIXTURE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(next(out.glob("*/report.json")).read_text())
    assert report["chat_model"] == "" and "offline" in report["embedding_model"].lower()

    database = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().removeprefix("sqlite+aiosqlite:///")).parent
    roots = (
        out,
        Path(os.environ["SOVEREIGN_SEARCH__CACHE_DIR"]),
        Path(os.environ["PREFECT_HOME"]),
        PREFECT_LOCAL_STORAGE_PATH.value(),
        database,  # the test server's SQLite database with its WAL: logs, states, artifacts
    )
    checked, holding = scan(key, *roots)
    assert holding == [] and checked >= 20, (checked, holding)
    assert key not in result.output + caplog.text

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
        prefix = report["run_id"].rsplit("-", 1)[-1]  # the run id ends in the flow run id's first 8 characters
        (run,) = [r for r in client.read_flow_runs(limit=200) if str(r.id).startswith(prefix)]
        deadline = time.monotonic() + 20
        while not (logs := client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))):
            assert time.monotonic() < deadline, "the run's logs never reached the API"
            time.sleep(0.2)  # logs reach the API in batches, after the run returns
    assert artifacts and logs and run.parameters["goal"] == GOAL
    api_text = json.dumps([a.model_dump(mode="json") for a in artifacts]) + json.dumps(
        [log.model_dump(mode="json") for log in logs]
    )
    assert key not in api_text + json.dumps(run.model_dump(mode="json"))

    canary = tmp_path / "canary" / "leak.txt"  # the scan does find a key that was written
    canary.parent.mkdir()
    canary.write_text(f"token={key}")
    assert scan(key, canary.parent) == (1, [canary])
