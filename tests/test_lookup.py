"""`sovereign search` and `sovereign verify` on the fixture corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
runner = CliRunner()


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_batch_search_writes_one_ranked_line_per_query(tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"qid": "moe", "query": "mixture of LoRA experts versus dense LoRA"})
        + "\n"
        + json.dumps({"qid": "reef", "query": "coral bleaching thresholds under heatwaves"})
        + "\n"
    )
    result = runner.invoke(app, ["search", "--queries", str(queries), "--corpus", str(FIXTURE), "-k", "3"])
    assert result.exit_code == 0, result.output
    moe, reef = lines(result.stdout)
    assert moe["qid"] == "moe" and len(moe["ids"]) == 3
    assert set(moe["ids"]) <= {"2404.90001", "2405.90002", "2406.90003", "2407.90004", "2408.90005"}
    assert reef["ids"][0] == "2305.80005"


def test_single_search_json_marks_the_gate():
    result = runner.invoke(app, ["search", "mixture of LoRA experts trade-offs", "--corpus", str(FIXTURE), "--json"])
    papers = json.loads(result.stdout)["papers"]
    kept = {p["id"] for p in papers if p["kept"]}
    assert "2404.90001" in kept and "2301.80001" not in kept


def test_verify_labels_pairs_and_rejects_a_changed_number(tmp_path):
    source = "Compared to GPT-3 175B fine-tuned with Adam, LoRA reduces trainable parameters by 10,000 times."
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        json.dumps({"id": "same", "claim": "LoRA reduces trainable parameters by 10,000 times.", "source": source})
        + "\n"
        + json.dumps({"id": "changed", "claim": "LoRA reduces trainable parameters by 500 times.", "source": source})
        + "\n"
    )
    result = runner.invoke(app, ["verify", "--input", str(pairs)])
    assert result.exit_code == 0, result.output
    same, changed = lines(result.stdout)
    assert same["label"] == "VERIFIED" and same["evidence"] == source and 0 < same["score"] <= 1
    assert changed["label"] != "VERIFIED"


def test_verify_against_a_corpus_paper(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"id": 1, "claim": "MoLA improves average accuracy by 4.2% over dense LoRA."}) + "\n")
    args = ["verify", "--input", str(pairs), "--corpus", str(FIXTURE), "--paper", "2404.90001"]
    (row,) = lines(runner.invoke(app, args).stdout)
    assert row["label"] == "VERIFIED" and "4.2%" in row["evidence"]
    missing = runner.invoke(app, [*args[:-1], "9999.99999"])
    assert missing.exit_code == 2 and "not in" in missing.output


def test_malformed_input_line_is_named(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"id": 1, "claim": "x", "source": "y"}\nnot json\n')
    result = runner.invoke(app, ["verify", "--input", str(pairs)])
    assert result.exit_code == 2 and "pairs.jsonl:2 is not JSON" in " ".join(result.output.split())


# --- user mistakes: one line on stderr, exit 2, no traceback ----------------------------------------------


def one_error_line(result) -> str:
    """The single stderr line of a command that refused its input; fails unless that is all it printed."""
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.stderr, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


PAIR = json.dumps({"id": 1, "claim": "LoRA helps.", "source": "LoRA helps a lot."}) + "\n"


@pytest.mark.parametrize(
    "variable, value, named",
    [
        ("SOVEREIGN_RANK__MAX_PAPERS", "0", "rank.max_papers (SOVEREIGN_RANK__MAX_PAPERS)"),
        ("SOVEREIGN_SEARCH__PER_QUERY_LIMIT", "many", "search.per_query_limit (SOVEREIGN_SEARCH__PER_QUERY_LIMIT)"),
        ("SOVEREIGN_VERIFY__WEAK_THRESHOLD", "1.5", "verify.weak_threshold (SOVEREIGN_VERIFY__WEAK_THRESHOLD)"),
    ],
)
@pytest.mark.parametrize("command", ["search", "verify"])
def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path, monkeypatch, variable, value, named, command):
    monkeypatch.setenv(variable, value)
    args = {
        "search": ["search", "mixture of LoRA experts", "--corpus", str(FIXTURE)],
        "verify": ["verify", "--input", str(write(tmp_path / "pairs.jsonl", PAIR))],
    }[command]

    line = one_error_line(runner.invoke(app, args))

    assert line.startswith("error: invalid option") and named in line
    assert f": {value}" not in line.split(")", 1)[1], "the value is not echoed (it may be a secret)"


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("missing.jsonl", None, "input not found: {path}"),
        ("empty.jsonl", "\n\n", "{path} holds no rows"),
        ("prose.jsonl", PAIR + "claims, one a line\n", "{path}:2 is not JSON"),
        ("list.jsonl", "[1, 2]\n", "{path}:1 needs the fields id, claim, source"),
        ("short.jsonl", json.dumps({"id": 1, "claim": "LoRA helps."}) + "\n", "{path}:1 needs the fields"),
        ("[bold]x[/].jsonl", None, "input not found: {path}"),  # a path that looks like rich markup
    ],
)
def test_a_missing_or_malformed_verify_input_is_one_line(tmp_path, name, text, message):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)

    line = one_error_line(runner.invoke(app, ["verify", "--input", str(path)]))

    assert message.format(path=path) in line


def test_a_directory_or_unreadable_input_is_one_line(tmp_path, monkeypatch):
    assert "is not a file" in one_error_line(runner.invoke(app, ["verify", "--input", str(tmp_path)]))

    pairs = write(tmp_path / "pairs.jsonl", PAIR)

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)  # root reads every file, so chmod cannot stage this
    line = one_error_line(runner.invoke(app, ["verify", "--input", str(pairs)]))
    assert f"cannot read {pairs}: Permission denied" in line


@pytest.mark.parametrize(
    "args, message",
    [
        (["search", "--corpus", str(FIXTURE)], "give either a QUERY or --queries FILE"),
        (["search", "?!", "--corpus", str(FIXTURE)], "no searchable words"),
        (["search", "LoRA", "--corpus", "/nonexistent/corpus.jsonl"], "corpus not found"),
        (["search", "--queries", "/nonexistent/q.jsonl", "--corpus", str(FIXTURE)], "input not found"),
        (["verify", "--input", "{pairs}", "--corpus", str(FIXTURE)], "--corpus and --paper go together"),
        (["verify", "--input", "{pairs}", "--corpus", "/nonexistent/c.jsonl", "--paper", "1"], "corpus not found"),
    ],
)
def test_other_search_and_verify_mistakes_are_one_line(tmp_path, args, message):
    pairs = write(tmp_path / "pairs.jsonl", PAIR)

    line = one_error_line(runner.invoke(app, [a.format(pairs=pairs) for a in args]))

    assert message in line


def test_a_queries_row_without_a_query_is_named(tmp_path):
    queries = write(tmp_path / "q.jsonl", json.dumps({"qid": "a", "query": "LoRA"}) + "\n" + '{"qid": "b"}\n')

    line = one_error_line(runner.invoke(app, ["search", "--queries", str(queries), "--corpus", str(FIXTURE)]))

    assert f"{queries}:2 needs the fields qid, query" in line


def test_k_below_one_is_refused_before_any_search():
    result = runner.invoke(app, ["search", "LoRA", "--corpus", str(FIXTURE), "-k", "-3"])

    assert result.exit_code == 2 and "Invalid value for '-k'" in result.stderr
    assert result.stdout == ""
