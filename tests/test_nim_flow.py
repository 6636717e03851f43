"""The whole flow through the CLI with --llm nim --embedder nim against the loopback NIM: it publishes, traces
what the models cost, reuses every paid call on a re-run, and writes the key nowhere."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from typer.testing import CliRunner

from flows.cli import app
from tests.openai_server import Fault, OpenAIServer, prompt

KEY = "nvapi-DUMMY-flow-key-1111-loopback"
FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
GOAL = "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?"
LLM_STAGES = {"plan_queries", "extract_claims", "verify_claims", "review", "compose_draft"}

pytestmark = pytest.mark.usefixtures("prefect_harness")
runner = CliRunner()


@pytest.fixture
def nim_env(monkeypatch):
    with OpenAIServer() as server:
        monkeypatch.setenv("SOVEREIGN_NIM_BASE_URL", server.base_url)
        monkeypatch.setenv("NVIDIA_API_KEY", KEY)
        monkeypatch.setenv("SOVEREIGN_LLM__REQUESTS_PER_MINUTE", "6000")
        monkeypatch.setenv("SOVEREIGN_LLM__RETRY_BASE_SECONDS", "0.01")
        yield server


def files_holding(key: str, *roots: Path) -> list[Path]:
    """Every file under the roots whose bytes contain the key."""
    return [p for root in roots for p in root.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]


def test_flow_with_nim_publishes_traces_costs_and_never_writes_the_key(nim_env, tmp_path):
    server = nim_env
    server.inject("review", Fault(status=500))
    args = ["run", GOAL, "--corpus", str(FIXTURE), "--out", str(tmp_path), "--llm", "nim", "--embedder", "nim"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report_path = next(tmp_path.glob("*/report.json"))
    report = json.loads(report_path.read_text())
    assert report["chat_model"] == "meta/llama-3.3-70b-instruct"
    assert report["embedding_model"] == "nvidia/nv-embedqa-e5-v5"
    assert report["decision"]["policy"] in result.output and (report_path.parent / "report.pdf").exists()
    usage = report["llm_usage"]
    assert LLM_STAGES <= set(usage) and {"merge_rank", "embed"} & set(usage)
    assert all(usage[s]["calls"] >= 1 and usage[s]["prompt_tokens"] > 0 for s in LLM_STAGES)
    assert usage["review"]["retries"] >= 1 and usage["review"]["calls"] == 3
    papers = pd.read_parquet(report_path.parent / "papers.parquet")
    assert {len(v) for v in papers["vector"].dropna()} == {1024}
    assert set(papers["embedding_model"]) == {"nvidia/nv-embedqa-e5-v5"}
    assert "Model calls per stage" in (report_path.parent / "report.md").read_text()
    input_types = {r.body["input_type"] for r in server.sent("embeddings")}
    assert input_types == {"query", "passage"}
    extract = [prompt(r.body) for r in server.sent("extract_claims")]
    assert extract and all('<untrusted-data label="abstract"' in text for text in extract)
    cited = {c["claim_id"] for c in report["draft"]["citations"]}
    assert cited and all(c["judge"] for c in report["draft"]["claims"] if c["id"] in cited)

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["llm-usage"])))
    assert artifacts and "verify_claims" in json.dumps(artifacts[0].data)

    paid = len([r for r in server.requests if r.stage != "models"])
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert len([r for r in server.requests if r.stage != "models"]) == paid  # nothing paid twice

    home = Path(os.environ["PREFECT_HOME"])
    cache = Path(os.environ["SOVEREIGN_SEARCH__CACHE_DIR"])
    assert KEY not in result.output + again.output
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in server.requests)  # it was used …
    assert files_holding(KEY, tmp_path, cache, home) == []  # … and written nowhere


def test_explicit_nim_that_is_unreachable_exits_non_zero_and_says_so(monkeypatch, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("SOVEREIGN_NIM_BASE_URL", f"http://127.0.0.1:{closed}/v1")
    monkeypatch.setenv("NVIDIA_API_KEY", KEY)
    monkeypatch.setenv("SOVEREIGN_LLM__RETRY_BASE_SECONDS", "0")
    result = runner.invoke(app, ["run", GOAL, "--corpus", str(FIXTURE), "--out", str(tmp_path), "--llm", "nim"])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "--llm nim was chosen but NIM unreachable" in text and "Traceback" not in text
    assert KEY not in result.output and not list(tmp_path.iterdir())


def test_unknown_backend_is_a_user_error():
    result = runner.invoke(app, ["run", GOAL, "--corpus", str(FIXTURE), "--llm", "gpt"])
    assert result.exit_code == 2 and "unknown --llm 'gpt'" in result.output
