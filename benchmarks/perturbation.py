"""Perturbation: real abstract sentences as faithful claims, and four ways to corrupt them.

Acceptance = VERIFIED for the project's verifier, TF-IDF cosine ≥ 0.15 for the replaced product's rule.
Run: .venv/bin/python -m benchmarks.perturbation [--papers 400]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re

from benchmarks.common import DATA, require_data, write_results
from tasks.backends.factory import fit_term_weights
from tasks.index.corpus import paper_from_row
from tasks.index.text import named_entities, normalize_space, numbers, split_sentences
from tasks.models import Claim, Label, Paper
from tasks.settings import Settings
from tasks.verify import verify_one

CATALOG = DATA / "arxiv" / "llm_papers_catalog.jsonl.gz"
AUXILIARY = re.compile(r"\b(is|are|was|were|can|does|do|will|could|should)\b")
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")


def sample_papers(count: int, seed: int) -> list[Paper]:
    """A fixed random sample of catalogue papers with usable abstracts."""
    require_data(CATALOG)
    with gzip.open(CATALOG, "rt") as fh:
        papers = [p for p in (paper_from_row(json.loads(line)) for line in fh) if p and len(p.abstract) > 400]
    return random.Random(seed).sample(papers, count)


def change_number(sentence: str, rng: random.Random) -> str | None:
    found = list(NUMBER.finditer(sentence))
    if not found:
        return None
    m = rng.choice(found)
    value = float(m.group(0))
    changed = value * rng.choice([2, 3, 0.5]) + rng.choice([1, 3, 7])
    text = f"{changed:.{len(m.group(0).split('.')[1]) if '.' in m.group(0) else 0}f}"
    return sentence[: m.start()] + text + sentence[m.end() :]


def flip_negation(sentence: str) -> str | None:
    if " not " in sentence:
        return sentence.replace(" not ", " ", 1)
    m = AUXILIARY.search(sentence)
    return sentence[: m.end()] + " not" + sentence[m.end() :] if m else None


def swap_name(sentence: str, other_names: list[str], rng: random.Random) -> str | None:
    names = sorted(n for n in named_entities(sentence) if len(n) > 2)
    candidates = [n for n in other_names if n not in sentence]
    if not names or not candidates:
        return None
    return re.sub(rf"\b{re.escape(rng.choice(names))}\b", rng.choice(candidates), sentence)


def build_cases(papers: list[Paper], seed: int) -> list[dict]:
    """(kind, claim, source paper) cases; one finding sentence per paper with a number."""
    rng = random.Random(seed)
    all_names = sorted({n for p in papers for n in named_entities(p.abstract) if len(n) > 2})
    cases = []
    for index, paper in enumerate(papers):
        sentences = [normalize_space(paper.abstract[s:e]) for s, e in split_sentences(paper.abstract)]
        usable = [s for s in sentences[1:] if 60 <= len(s) <= 400 and numbers(s)]
        if not usable:
            continue
        sentence = rng.choice(usable)
        other = papers[(index + 1 + rng.randrange(len(papers) - 1)) % len(papers)]
        other_sentences = [normalize_space(other.abstract[s:e]) for s, e in split_sentences(other.abstract)]
        variants = {
            "faithful": sentence,
            "changed_number": change_number(sentence, rng),
            "flipped_negation": flip_negation(sentence),
            "swapped_name": swap_name(sentence, all_names, rng),
            "other_paper": rng.choice(other_sentences[1:] or other_sentences),
        }
        cases += [
            {"kind": k, "claim": v, "paper": paper}
            for k, v in variants.items()
            if v and v != sentence or k == "faithful"
        ]
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--papers", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = Settings()
    papers = sample_papers(args.papers, args.seed)
    weights = fit_term_weights(papers)
    accepted: dict[str, dict[str, list[bool]]] = {}
    for case in build_cases(papers, args.seed):
        claim = Claim(id="c", text=case["claim"], paper_id=case["paper"].id, source_sentence="", start=0, end=0)
        checked = verify_one(claim, case["paper"], settings.verify, weights)
        bucket = accepted.setdefault(case["kind"], {"baseline": [], "sovereign": []})
        bucket["baseline"].append(checked.baseline_verified)
        bucket["sovereign"].append(checked.label is Label.VERIFIED)
    summary = {
        kind: {"cases": len(v["sovereign"])} | {m: round(sum(x) / len(x), 3) for m, x in v.items()}
        for kind, v in accepted.items()
    }
    lines = ["| claim kind | cases | baseline accepted | SOVEREIGN accepted |", "|---|---|---|---|"]
    for kind, row in summary.items():
        lines.append(f"| {kind} | {row['cases']} | {row['baseline']:.1%} | {row['sovereign']:.1%} |")
    corrupted = [k for k in summary if k != "faithful"]
    rejected = sum((1 - summary[k]["sovereign"]) * summary[k]["cases"] for k in corrupted) / sum(
        summary[k]["cases"] for k in corrupted
    )
    lines.append(
        f"\nSOVEREIGN rejects {rejected:.1%} of perturbed claims and accepts "
        f"{summary['faithful']['sovereign']:.1%} of faithful ones."
    )
    write_results(
        "perturbation",
        {"papers": args.papers, "seed": args.seed, "results": summary, "perturbed_rejected": round(rejected, 3)},
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()
