"""The `sovereign` command line as a user meets it: clear errors, outputs printed."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
runner = CliRunner()


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "   ", "--corpus", str(FIXTURE)], "goal is empty"),
        (["run", "lora " * 400, "--corpus", str(FIXTURE)], "characters"),
        (["run", "Does LoRA help?", "--corpus", "/nonexistent/corpus.jsonl"], "corpus not found"),
        (["run", "Does LoRA help?"], "--corpus PATH"),
        (["run", "Does LoRA help?", "--corpus", str(FIXTURE), "--max-papers", "0"], "invalid option"),
        (["run", "Does LoRA help?", "--source", "scholar"], "unknown source"),
    ],
)
def test_user_mistakes_get_one_clear_line_and_exit_2(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_corpus_ingest_reports_what_it_skipped(tmp_path):
    result = runner.invoke(app, ["corpus", "ingest", str(FIXTURE), "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "papers 14" in result.output and "3 without id/title/abstract" in result.output
    again = runner.invoke(app, ["corpus", "ingest", str(FIXTURE), "--cache-dir", str(tmp_path)])
    assert "already cached" in again.output


@pytest.mark.usefixtures("prefect_harness")
def test_run_prints_decision_and_output_paths(tmp_path):
    result = runner.invoke(
        app, ["run", "Do sparse LoRA experts reduce GPU memory?", "--corpus", str(FIXTURE), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    report_path = next(tmp_path.glob("*/report.json"))
    report = json.loads(report_path.read_text())
    assert report["decision"]["policy"] in result.output
    assert str(report_path) in result.output


@pytest.mark.usefixtures("prefect_harness")
def test_unreachable_arxiv_says_so_and_suggests_a_corpus(tmp_path, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("SOVEREIGN_SEARCH__ARXIV_QUERY_URL", f"http://127.0.0.1:{closed_port}/api/query?{{}}")
    monkeypatch.setenv("SOVEREIGN_SEARCH__ARXIV_MIN_INTERVAL_SECONDS", "0")
    result = runner.invoke(app, ["run", "Does LoRA help?", "--source", "arxiv", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "arXiv unreachable" in text and "--corpus" in text
    assert not list(tmp_path.iterdir())
