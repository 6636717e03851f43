"""Contested findings on long questions: how many claim pairs the cross-paper check calls a disagreement, and why.

For 50 long questions on both arXiv files: the 22 long, specific goals of the speed benchmark (a method, quantities,
benchmarks, model sizes), then the longest covered PaSa AutoScholar questions (the tuning set; LitSearch stays held
out). In-process and offline: plan, search, rank, extract, verify, aspect check, cross-paper check, as research_flow
runs them (without the embed stage's merging of near-duplicate claims). Every contested claim is written
with the claim that contests it and the rule that fired (opposite direction, conflicting value), so that a person
can read them and say which are real disagreements.

Run: .venv/bin/python -m benchmarks.contested [--limit 50]
"""

from __future__ import annotations

import argparse
from collections import Counter

from benchmarks.common import combined_corpus, write_results
from benchmarks.retrieval import covered_queries
from benchmarks.speed_goals import LONG_GOALS
from tasks.aspect_support import check_aspects
from tasks.corroborate import corroborate
from tasks.extract import extract_claims
from tasks.models import CrossPaperStatus, Label
from tasks.retrieve import IN_PROCESS, retrieve
from tasks.settings import Settings
from tasks.sources.paper_source import CorpusSource
from tasks.verify import verify_claims

RULES = {"moving the other way": "direction", "not the value here": "value"}


def rule(detail: str) -> str:
    """Which rule of tasks.corroborate called the pair contested, from its stated reason."""
    return next((name for cue, name in RULES.items() if cue in detail), "other")


def contested_pairs(question: str, source: CorpusSource, settings: Settings) -> tuple[dict, list[dict]]:
    """The question's claim counts and its contested (claim, contesting claim) pairs."""
    found = retrieve(question, source, settings, IN_PROCESS)
    kept = [r for r in found.ranked if r.kept]
    claims = extract_claims.fn(found.plan, kept, settings.extract)
    claims = verify_claims.fn(claims, [r.paper for r in kept], settings.verify, None, found.weights)
    claims = corroborate(check_aspects(claims, found.plan, [r.paper for r in kept]), settings.verify)
    by_id = {c.id: c for c in claims}
    pairs = []
    for claim in claims:
        check = claim.cross_check
        if check is None or check.status is not CrossPaperStatus.CONTESTED:
            continue
        for other_id, reason in zip(check.claim_ids, check.detail.split("; ")):
            other = by_id[other_id]
            pairs.append(
                {
                    "question": question,
                    "claim": claim.text,
                    "paper": claim.paper_id,
                    "other": other.text,
                    "other_paper": other.paper_id,
                    "rule": rule(reason),
                    "detail": reason,
                }
            )
    verified = [c for c in claims if c.label is Label.VERIFIED]
    counts = {
        "papers_kept": len(kept),
        "claims": len(claims),
        "verified": len(verified),
        "contested_claims": sum(c.cross_check.status is CrossPaperStatus.CONTESTED for c in verified),
        "corroborated_claims": sum(c.cross_check.status is CrossPaperStatus.CORROBORATED for c in verified),
    }
    return counts, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=50)
    args = parser.parse_args()
    settings = Settings()
    source = CorpusSource.open(
        combined_corpus(settings.search.cache_dir), settings.search.cache_dir, settings.search.hybrid
    )
    scholar = sorted(covered_queries(None, "PASA_AutoScholar"), key=lambda row: -len(row["query"]))
    rows = [*LONG_GOALS, *(row["query"] for row in scholar)][: args.limit]
    per_question, pairs = [], []
    for question in rows:
        counts, found = contested_pairs(question, source, settings)
        per_question.append({"question": question, **counts, "contested_pairs": len(found)})
        pairs += found
        print(f"{len(per_question)}/{len(rows)} {counts} pairs {len(found)}", flush=True)
    totals = {key: sum(q[key] for q in per_question) for key in per_question[0] if key != "question"}
    rules = Counter(p["rule"] for p in pairs)
    with_pairs = sum(q["contested_pairs"] > 0 for q in per_question)
    lines = [
        f"# Contested findings on {len(rows)} long questions (offline, both arXiv files)",
        "",
        f"Questions with at least one contested pair: {with_pairs} of {len(rows)}. Totals: {totals}.",
        f"Contested pairs by rule: {dict(rules)}.",
        "",
        "| # | rule | claim | contested by |",
        "|---|---|---|---|",
    ]
    for i, p in enumerate(pairs, 1):
        lines.append(f"| {i} | {p['rule']} | {p['claim']} ({p['paper']}) | {p['other']} ({p['other_paper']}) |")
    write_results("contested", {"questions": per_question, "pairs": pairs, "rules": dict(rules)}, "\n".join(lines))


if __name__ == "__main__":
    main()
