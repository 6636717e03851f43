"""`sovereign search` and `sovereign verify` on the fixture corpus."""

from __future__ import annotations

import json
from pathlib import Path

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
    moe, reef = lines(result.output)
    assert moe["qid"] == "moe" and len(moe["ids"]) == 3
    assert set(moe["ids"]) <= {"2404.90001", "2405.90002", "2406.90003", "2407.90004", "2408.90005"}
    assert reef["ids"][0] == "2305.80005"


def test_single_search_json_marks_the_gate():
    result = runner.invoke(app, ["search", "mixture of LoRA experts trade-offs", "--corpus", str(FIXTURE), "--json"])
    papers = json.loads(result.output)["papers"]
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
    same, changed = lines(result.output)
    assert same["label"] == "VERIFIED" and same["evidence"] == source and 0 < same["score"] <= 1
    assert changed["label"] != "VERIFIED"


def test_verify_against_a_corpus_paper(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"id": 1, "claim": "MoLA improves average accuracy by 4.2% over dense LoRA."}) + "\n")
    args = ["verify", "--input", str(pairs), "--corpus", str(FIXTURE), "--paper", "2404.90001"]
    (row,) = lines(runner.invoke(app, args).output)
    assert row["label"] == "VERIFIED" and "4.2%" in row["evidence"]
    missing = runner.invoke(app, [*args[:-1], "9999.99999"])
    assert missing.exit_code == 2 and "not in" in missing.output


def test_malformed_input_line_is_named(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"id": 1, "claim": "x", "source": "y"}\nnot json\n')
    result = runner.invoke(app, ["verify", "--input", str(pairs)])
    assert result.exit_code == 2 and "pairs.jsonl:2 is not JSON" in " ".join(result.output.split())
