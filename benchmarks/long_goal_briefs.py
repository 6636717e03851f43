"""The briefs long, specific goals get: policy, score and which aspects verified evidence addresses, whole flow.

Runs research_flow, offline, on the 96k corpus (both arXiv files) for the 22 long goals of `speed_goals.py` and the
18 method-paper goals of `method_papers.py` (36 distinct goals), against one local Prefect server. Both sets shaped
the goal-parsing rules (benchmarks/results/planner_history.md), so this is a tuning figure: it shows what a change
does to whole briefs on many long questions (the per-goal verdicts are in the JSON), not how the kernel does on
unseen goals.
Run: .venv/bin/python -m benchmarks.long_goal_briefs [--goals-file FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

from benchmarks.answerability import commits, offline_runs
from benchmarks.common import combined_corpus, write_results
from benchmarks.method_papers import GOALS as METHOD_GOALS
from benchmarks.speed_goals import LONG_GOALS
from tasks.settings import Settings

POLICIES = ("AUTO_APPROVE", "SOFT_APPROVE", "HUMAN_REVIEW", "REJECT")


def brief_record(report: dict) -> dict:
    """What a person reads first: the policy, the score and each aspect's verdict (papers behind it)."""
    return {
        "goal": report["goal"],
        "policy": report["decision"]["policy"],
        "score": round(report["decision"]["score"], 2),
        "central": report["plan"]["central"],
        "aspects": [
            {"kind": v["aspect"]["kind"], "text": v["aspect"]["text"], "papers": len(v["paper_ids"])}
            for v in report["draft"]["coverage"]
        ],
        "kept": [p["paper"]["id"] for p in report["draft"]["papers"]],
        "evidence_rows": evidence_rows(report),
    }


def evidence_rows(report: dict) -> list[dict]:
    """Each cited claim's row of the Answer's evidence tables once (a claim may be filed under several aspects),
    with its sentence, so that what the tables name can be read against what the paper wrote."""
    claims = {c["id"]: c["text"] for c in report["draft"]["claims"]}
    rows = {r["claim_id"]: r for table in report["draft"]["tables"] for r in table["rows"]}
    fields = ("number", "method", "setting", "value", "direction")
    return [{**{f: row[f] for f in fields}, "sentence": claims[cid]} for cid, row in rows.items()]


def summary_table(rows: list[dict]) -> str:
    """Policy counts, the share of aspects addressed, and one line per goal."""
    policies = Counter(r["policy"] for r in rows)
    aspects = [a for r in rows for a in r["aspects"]]
    entity = [a for r in rows for a in r["aspects"] if a["kind"] == "entity"]
    evidence = [e for r in rows for e in r["evidence_rows"]]

    def filled(field: str) -> int:
        return sum(bool(e[field]) for e in evidence)

    lines = [
        f"Whole flow on {len(rows)} long goals (offline, 96k corpus): "
        + ", ".join(f"{p} {policies[p]}" for p in POLICIES)
        + f"; aspects addressed {sum(a['papers'] > 0 for a in aspects)} of {len(aspects)}, "
        f"central entity addressed in {sum(a['papers'] > 0 for a in entity)} of {len(entity)} goals.",
        f"Evidence table rows (one per cited claim): {len(evidence)}, naming a method {filled('method')}, a setting "
        f"{filled('setting')}, a reported value {filled('value')}, a direction {filled('direction')}.",
        "",
        "| policy | score | addressed | central entity | goal |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        addressed = sum(a["papers"] > 0 for a in r["aspects"])
        goal = r["goal"] if len(r["goal"]) <= 90 else r["goal"][:89] + "…"
        lines.append(
            f"| {r['policy']} | {r['score']:.2f} | {addressed} / {len(r['aspects'])} | {r['central']} | {goal} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--goals-file", type=Path, default=None, help="one goal a line, instead of the built-in sets")
    args = parser.parse_args()
    goals = (
        [g.strip() for g in args.goals_file.read_text().splitlines() if g.strip()]
        if args.goals_file
        else list(dict.fromkeys([*LONG_GOALS, *(goal for goal, _ in METHOD_GOALS)]))  # four goals are in both
    )
    measured = commits(Path(__file__).resolve().parents[1])
    corpus = combined_corpus(Settings().search.cache_dir)
    rows = []
    with tempfile.TemporaryDirectory(prefix="long-goal-briefs-") as tmp, offline_runs(Path(tmp)) as run:
        for number, goal in enumerate(goals, 1):
            rows.append(brief_record(json.loads(run(goal, corpus))))
            print(f"{number}/{len(goals)} {rows[-1]['policy']} {rows[-1]['score']:.2f} {goal[:80]}", flush=True)
    table = summary_table(rows)
    name = "long_goal_briefs" if args.goals_file is None else f"long_goal_briefs_{args.goals_file.stem}"
    write_results(
        name,
        {**measured, "corpus": str(corpus), "rows": rows},
        table + f"\n\nKernel at {measured['kernel_commit'][:12]}.",
    )


if __name__ == "__main__":
    main()
