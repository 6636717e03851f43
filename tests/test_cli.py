"""The `sovereign` command line as a user meets it: clear errors, outputs printed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

PROJECT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
runner = CliRunner()

# Runs `sovereign ARGS…` in a fresh interpreter and writes the modules it had loaded at exit to the file named first.
LOADED_AT_EXIT = """
import atexit, json, sys
report, sys.argv[1:] = sys.argv[1], sys.argv[2:]
atexit.register(lambda: open(report, "w").write(json.dumps(sorted(sys.modules))))
from flows.cli import app
app()
"""
HEAVY = {"weasyprint", "langchain_nvidia_ai_endpoints", "langchain_core", "sklearn", "prefect", "onnxruntime", "torch"}


def loaded_by(tmp_path: Path, *args: str, **env: str) -> set[str]:
    """The heavy modules a `sovereign` command imports, run in its own process."""
    report = tmp_path / "modules.json"
    process = subprocess.run(
        [sys.executable, "-c", LOADED_AT_EXIT, str(report), *args],
        cwd=PROJECT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    return HEAVY & set(json.loads(report.read_text()))


def test_importing_the_cli_loads_no_heavy_module():
    code = f"import sys, flows.cli; print(sorted(m for m in {sorted(HEAVY)} if m in sys.modules))"
    process = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.strip() == "[]"


def test_help_loads_no_heavy_module(tmp_path):
    assert loaded_by(tmp_path, "--help") == set()
    assert loaded_by(tmp_path, "run", "--help") == set()


def test_ingest_and_verify_load_only_what_they_use(tmp_path):
    cache = str(tmp_path / "cache")
    # indexing fits the LSA model (scikit-learn); it needs no Prefect, no PDF renderer, no LLM client, no MiniLM
    ingest = loaded_by(tmp_path, "corpus", "ingest", str(FIXTURE), "--cache-dir", cache)
    assert ingest == {"sklearn"}
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"id": "a", "claim": "LoRA cuts memory.", "source": "LoRA cuts GPU memory."}) + "\n")
    # lexical verification: the stage's own modules (a Prefect task using scikit-learn), never the renderer or an LLM
    verify = loaded_by(tmp_path, "verify", "--input", str(pairs), SOVEREIGN_VERIFY__SEMANTIC_SUPPORT="false")
    assert verify == {"sklearn", "prefect"}


# A command standing in for `app` that registers an exit hook (as Prefect's log and event queues do) and prints.
MAIN_WITH_HOOK = """
import atexit, sys
from flows import cli
report = sys.argv[1]

def command():
    atexit.register(lambda: open(report, "w").write("hook ran"))
    print("output of the command", end="")  # no newline: flushed only at exit
    raise SystemExit(3)

cli.app = command
cli.main()
"""


def test_main_keeps_the_exit_code_the_output_and_the_exit_hooks_registered_while_the_command_ran(tmp_path):
    report = tmp_path / "hook.txt"
    process = subprocess.run(
        [sys.executable, "-c", MAIN_WITH_HOOK, str(report)], cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    assert process.returncode == 3 and process.stdout == "output of the command"
    assert report.read_text() == "hook ran"
    mistake = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "   ", "--corpus", str(FIXTURE)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert mistake.returncode == 2 and "goal is empty" in mistake.stderr


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


def test_corpus_ingest_append_adds_papers_and_reports_skips(tmp_path):
    new = tmp_path / "new.jsonl"
    rows = [{"id": "2501.00001", "title": "Ocean Waves", "abstract": "Swell."}, {"id": "2106.09685", "title": "x"}]
    new.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    ingest = ["corpus", "ingest", str(FIXTURE), "--cache-dir", str(tmp_path / "cache"), "--append"]
    result = runner.invoke(app, [*ingest, str(new)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "(15 papers)" in output and "added 1;" in output and "1 without id/title/abstract, 1 malformed" in output
    assert "appended before" in runner.invoke(app, [*ingest, str(new)]).output
    missing = runner.invoke(app, [*ingest, str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "not found" in missing.output and "Traceback" not in missing.output


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
