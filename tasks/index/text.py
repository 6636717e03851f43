"""Text helpers shared by the stages: sentences with offsets, stemmed terms, numbers, names."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# Question scaffolding carries no topic: "what are the papers that study X" is about X.
QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how are is was were do does did can could would should
    papers paper studies study works work research researches literature articles article approaches
    existing known some any tell give provide show list find mention explore explored explores discuss
    discusses discussed examine examined investigate investigated propose proposed proposes specify
    help resources information recent prior previous related regarding about compared comparison versus
    vs using used use uses based via there been has have also such e.g i.e""".split()
)
STOP_WORDS = ENGLISH_STOP_WORDS | QUESTION_WORDS

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*|\d+(?:\.\d+)?%?")
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "etc.", "vs.", "cf.", "Fig.", "Eq.", "approx.", "resp.")
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z0-9(\[\"'])")
# not the digits of a hyphenated name (COVID-19, GPT-4o, SARS-CoV-2)
_NUMBER = re.compile(r"(?<![\w.])(?<!\w-)\d+(?:[.,]\d+)*(?:\s?%|x\b|×)?")
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|neither|nor|without|cannot|fail(?:s|ed)?\s+to|unable|lack(?:s|ed)?)\b|n't\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"\b(?:[A-Z][a-z]*[A-Z][A-Za-z0-9-]*|[A-Z]{2,}[A-Za-z0-9-]*|[A-Za-z]+-?\d+[A-Za-z0-9-]*)\b")


_TERM_CACHE: dict[str, tuple[str, ...]] = {}


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Word tokens of the text, case kept."""
    return _WORD.findall(text)


def states_run(words: list[str], run: list[str]) -> bool:
    """Whether the run occurs among the words side by side, in order (an empty run never does)."""
    n = len(run)
    return n > 0 and any(words[i : i + n] == run for i in range(len(words) - n + 1))


def term_pairs(terms: list[str]) -> set[tuple[str, str]]:
    """Adjacent pairs of terms, in order: what a phrase states that its words alone do not."""
    return set(zip(terms, terms[1:]))


def content_terms(text: str) -> list[str]:
    """Stemmed content terms in order; hyphenated words count by their parts, stop words dropped."""
    return list(_text_terms(text))


# A run reads each candidate's text several times (each query's feedback and LSA channel, merge_rank's coverage
# and phrase checks): a long goal's 4-8 queries share most candidates.
@lru_cache(maxsize=4096)
def _text_terms(text: str) -> tuple[str, ...]:
    terms = []
    for w in _WORD.findall(text.lower()):
        cached = _TERM_CACHE.get(w)
        if cached is None:
            parts = [p for p in w.split("-") if len(p) > 1 and p not in STOP_WORDS]
            cached = _TERM_CACHE[w] = tuple(_stemmer().stemWords(parts)) if w not in STOP_WORDS else ()
        terms.extend(cached)
    return tuple(terms)


def is_compound(word: str) -> bool:
    """Whether the hyphenated word's order is its meaning: its last part is a content word ("few-shot",
    "retrieval-augmented"), not a suffix such as "-based" or "-free" that leaves the rest's meaning alone."""
    parts = word.strip("-").split("-")
    return len(parts) > 1 and content_terms(parts[-1]) != [] and bool(content_terms(word))


def joined_stem(words: str) -> str:
    """The words run together and stemmed, hyphens and spaces dropped: "fine-tuning", "fine tuning" and "finetuning"
    all give "finetun"; "generation-augmented" is not "augmented generation"."""
    return _stemmer().stemWord("".join(re.findall(r"[a-z0-9]+", words.lower())))


def ordered_runs(terms: list[str], longest: int) -> set[str]:
    """Runs of two to `longest` of the terms, space-joined, in their order, each at most one term after the one before:
    how a phrase's terms are stated in order ("mixture of LoRA experts" states "mixtur expert", not "expert mixtur")."""
    runs: set[str] = set()
    frontier = [(i, terms[i]) for i in range(len(terms))]
    for _ in range(longest - 1):
        frontier = [(j, f"{run} {terms[j]}") for i, run in frontier for j in (i + 1, i + 2) if j < len(terms)]
        runs |= {run for _, run in frontier}
    return runs


def joined_runs(text: str, longest: int) -> set[str]:
    """`joined_stem` of every run of two to `longest` adjacent words of the text, hyphenated parts counted as words."""
    parts = re.findall(r"[a-z0-9]+", text.lower())
    runs = {"".join(parts[i : i + n]) for n in range(2, longest + 1) for i in range(len(parts) - n + 1)}
    return set(_stemmer().stemWords(list(runs)))


def term_set(text: str) -> set[str]:
    """Content terms of the text as a set."""
    return set(content_terms(text))


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each sentence; never splits inside abbreviations or decimals."""
    masked = text
    for abbr in _ABBREVIATIONS:
        masked = masked.replace(abbr, abbr.replace(".", "\x00"))
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(masked):
        end = m.end()
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def sentence_texts(text: str) -> list[str]:
    """The text's sentences, whitespace normalised; the whole text when it has none."""
    return [normalize_space(text[s:e]) for s, e in split_sentences(text)] or [normalize_space(text)]


def normalize_space(text: str) -> str:
    """Collapse hard line wraps and runs of spaces."""
    return " ".join(text.split())


def numbers(text: str) -> set[str]:
    """Numbers and percentages stated in the text, normalised ("12 %" -> "12%")."""
    return {m.group(0).replace(" ", "").replace(",", "") for m in _NUMBER.finditer(text)}


def negations(text: str) -> int:
    """How many negation cues the text holds."""
    return len(_NEGATION.findall(text))


def named_entities(text: str) -> set[str]:
    """Method, model and dataset names: acronyms, CamelCase, names with digits."""
    return {m.group(0) for m in _NAME.finditer(text) if not m.group(0).isdigit()}
