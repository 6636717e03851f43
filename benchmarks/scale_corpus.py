"""Synthetic scale corpus: N papers in the Kaggle arXiv snapshot's JSON Lines layout, for time and memory only.

SYNTHETIC: each paper recombines sentences of the shared 96k real abstracts of one category, under a new id
(2030-and-later arXiv numbers, never a real one), a title spliced from two real titles of that category (never
repeated), a date and made-up authors; categories are as frequent as among the real papers.
Its words and lengths look like arXiv's, its meaning does not: measure build time, memory and latency on it, never
retrieval quality (that stays on the real corpus, benchmarks/retrieval.py).

Deterministic: paper i depends only on (seed, i) and the titles drawn before it in the same file, so the first
500,000 lines of the 2.7M file are the 500k corpus, and `--start 2700000 -n 5000` gives 5,000 further papers to append
(titles are unique within one file).
Run: .venv/bin/python -m benchmarks.scale_corpus [-n 2700000] [--start 0] [--out PATH]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
from datetime import date, timedelta
from pathlib import Path

from benchmarks.common import ARXIV_FILES, require_data
from tasks.index.text import split_sentences
from tasks.io.atomic import staged_file

SCALE_DIR = Path.home() / ".cache" / "sovereign" / "scale"
DEFAULT_PAPERS = 2_700_000
FIRST_DAY, DAYS = date(2007, 4, 2), 7000
LLM_CATALOG_CATEGORY = "cs.CL"
TITLE_DRAWS = 20
PER_MONTH = 99_999  # arXiv numbers YYMM.NNNNN; month m of the synthetic series is 2030-01 + m


def synthetic_id(i: int) -> str:
    """The i-th synthetic arXiv id: 3001.00001, 3001.00002, … (no real paper has one)."""
    month, number = divmod(i, PER_MONTH)
    return f"{30 + month // 12:02d}{month % 12 + 1:02d}.{number + 1:05d}"


def donor_pools(files: list[Path]) -> tuple[list[str], dict[str, list[list[str]]], dict[str, list[list[str]]]]:
    """Each real paper's category (in file order), and per category its abstracts' sentences and titles' words."""
    donors: list[str] = []
    sentences: dict[str, list[list[str]]] = {}
    titles: dict[str, list[list[str]]] = {}
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                abstract, title = " ".join(str(row.get("abstract") or "").split()), str(row.get("title") or "").split()
                spans = [abstract[a:b].strip() for a, b in split_sentences(abstract)]
                if not title or not any(spans):
                    continue
                # the LLM catalog's rows carry tags, not arXiv categories: they are language-model papers
                cats = row.get("categories") or [LLM_CATALOG_CATEGORY]
                category = cats[0] if isinstance(cats, list) else str(cats).split()[0]
                donors.append(category)
                sentences.setdefault(category, []).append([s for s in spans if s])
                titles.setdefault(category, []).append(title)
    return donors, sentences, titles


class ScaleCorpus:
    """Synthetic papers from the real ones: paper i depends only on (seed, i); titles are never repeated."""

    def __init__(self, files: list[Path], seed: int = 0):
        self.donors, self.sentences, self.titles = donor_pools(files)
        self.seed = seed
        self._used_titles: set[bytes] = set()

    def _title(self, rng: random.Random, category: str) -> str:
        """A real title's head spliced to another's tail (same category), drawn again while already used."""
        pool = self.titles[category]
        for attempt in range(TITLE_DRAWS):
            head, tail = pool[rng.randrange(len(pool))], pool[rng.randrange(len(pool))]
            words = head[: rng.randint(1, len(head))] + tail[rng.randint(0, len(tail) - 1) :]
            if attempt == TITLE_DRAWS - 1:  # a tiny category used up: a part number keeps it unique
                words.append(f"(part {rng.randrange(10**9)})")
            title = " ".join(words)
            key = hashlib.blake2b(title.encode(), digest_size=8).digest()
            if key not in self._used_titles:
                self._used_titles.add(key)
                return title
        raise AssertionError("unreachable: the last draw is numbered")

    def paper(self, i: int) -> dict:
        """Paper i as a Kaggle snapshot row, in a category as frequent as among the real papers."""
        rng = random.Random(self.seed * 1_000_003 + i)
        category = self.donors[rng.randrange(len(self.donors))]
        pool = self.sentences[category]
        length = len(pool[rng.randrange(len(pool))])
        abstract = " ".join(rng.choice(pool[rng.randrange(len(pool))]) for _ in range(length))
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        authors = [f"A. Author{rng.randrange(200_000)}" for _ in range(rng.randint(1, 6))]
        other = self.donors[rng.randrange(len(self.donors))]
        return {
            "id": synthetic_id(i),
            "submitter": authors[0],
            "authors": ", ".join(authors),
            "title": self._title(rng, category),
            "comments": None,
            "journal-ref": None,
            "doi": None,
            "report-no": None,
            "categories": category if other == category else f"{category} {other}",
            "license": None,
            "abstract": abstract,
            "versions": [{"version": "v1", "created": day.strftime("%a, %d %b %Y 00:00:00 GMT")}],
            "update_date": day.isoformat(),
            "authors_parsed": [[a.split()[-1], a.split()[0], ""] for a in authors],
        }


def write_corpus(out: Path, papers: int, start: int = 0, seed: int = 0) -> Path:
    """Write papers start … start+papers-1 to `out` (.jsonl, or .jsonl.gz) in one rename."""
    require_data(*ARXIV_FILES)
    corpus = ScaleCorpus(ARXIV_FILES, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if out.suffix == ".gz" else open
    with staged_file(out) as staging, opener(staging, "wt", encoding="utf-8") as fh:
        for i in range(start, start + papers):
            fh.write(json.dumps(corpus.paper(i)) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--papers", type=int, default=DEFAULT_PAPERS)
    parser.add_argument("--start", type=int, default=0, help="index of the first paper (ids follow from it)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help=f"default {SCALE_DIR}/arxiv-scale-<start>-<n>.jsonl")
    args = parser.parse_args()
    out = args.out or SCALE_DIR / f"arxiv-scale-{args.start}-{args.papers}.jsonl"
    print(write_corpus(out, args.papers, args.start, args.seed))


if __name__ == "__main__":
    main()
