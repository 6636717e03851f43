"""Named quantities: claims counted on a quantity aspect that names a benchmark ("MMLU accuracy"), with the rule that
the sentence must name it too (tasks/coverage.py `_names`) and without it, on the long goals of speed_goals.py.

Retrieval, extraction and verification run in process on both arXiv files; each goal's claims are filed under its
aspects twice, the second time with `_names` patched to find no names (the rule off). Prints, per such aspect, the
claim counts and examples of what the rule drops and keeps (results/named_quantities.md).
Run: .venv/bin/python -m benchmarks.named_quantities
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from benchmarks.common import combined_corpus
from benchmarks.speed_goals import LONG_GOALS
from tasks import coverage
from tasks.extract import extract_claims
from tasks.models import AspectKind
from tasks.retrieve import IN_PROCESS, Retrieval, retrieve
from tasks.settings import Settings
from tasks.sources.paper_source import CorpusSource
from tasks.verify import verify_claims


def filed(found: Retrieval, settings: Settings) -> dict[str, list[str]]:
    """Each aspect's verified claims (their text) among the kept papers."""
    kept = [r for r in found.ranked if r.kept]
    extracted = extract_claims.fn(found.plan, kept, settings.extract)
    claims = verify_claims.fn(extracted, [r.paper for r in kept], settings.verify)
    text = {c.id: c.text for c in claims}
    return {v.aspect.text: [text[i] for i in v.claim_ids] for v in coverage.aspect_verdicts(found.plan, claims, kept)}


def main() -> None:
    settings = Settings()
    corpus = combined_corpus(Path.home() / ".cache" / "sovereign")
    source = CorpusSource.open(corpus, settings.search.cache_dir, settings.search.hybrid)
    for goal in LONG_GOALS:
        found = retrieve(goal, source, settings, IN_PROCESS)
        named = [a for a in found.plan.of_kind(AspectKind.QUANTITY) if coverage._names(a)]
        if not named:
            continue
        with_rule = filed(found, settings)
        with mock.patch.object(coverage, "_names", lambda aspect: []):
            without_rule = filed(found, settings)
        print(f"\n{goal}")
        for aspect in named:
            after, before = with_rule[aspect.text], without_rule[aspect.text]
            print(f"  {aspect.text}: {len(before)} -> {len(after)} claims")
            for text in [t for t in before if t not in after][:3]:
                print(f"    dropped: {text[:160]}")
            for text in after[:2]:
                print(f"    kept: {text[:160]}")


if __name__ == "__main__":
    main()
