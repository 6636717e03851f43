"""The goal's abbreviations spelled out as the retrieved papers define them: "CoT" → "chain of thought"."""

from __future__ import annotations

import re
from collections import Counter

from tasks.goal import defines_acronym, goal_words
from tasks.index.text import content_terms, states_run

# Two or more capitals among letters only, an optional plural "s": CoT, RAG, VLMs, MoE; not GPT-4o or 7B.
_ACRONYM = re.compile(r"[A-Za-z]*[A-Z][a-z]*[A-Z][A-Za-z]*")
_PARENTHESISED = re.compile(r"\(\s*([A-Za-z]*[A-Z][a-z]*[A-Z][A-Za-z]*)\s*\)")
_SMALL_WORDS = frozenset({"of", "and", "the", "for", "to", "in", "on", "a", "an", "with", "via", "by"})


def goal_acronyms(goal: str) -> list[str]:
    """Acronyms the goal uses without spelling them out ("CoT prompting"; not "Mixture of Experts (MoE)")."""
    words = goal_words(goal)
    defined = {w for i, w in enumerate(words) if defines_acronym(words, i)}
    found = [w for w in words if _ACRONYM.fullmatch(w) and 2 <= len(singular(w)) <= 8 and w not in defined]
    return list(dict.fromkeys(found))


def singular(acronym: str) -> str:
    """The acronym without a plural "s": VLMs → VLM, but not a word's own final capital-S."""
    return acronym[:-1] if acronym.endswith("s") and len(acronym) > 2 and acronym[-2].isupper() else acronym


def _initials(words: list[str], skip_small: bool) -> str:
    parts = [p for w in words for p in w.split("-") if p and not (skip_small and p.lower() in _SMALL_WORDS)]
    return "".join(p[0] for p in parts).lower()


def _long_form(before: str, letters: str) -> str | None:
    """The shortest run of words ending `before` whose initials spell `letters`, with or without its small words."""
    words = before.split()
    for n in range(1, min(len(words), len(letters) + 3) + 1):
        candidate = words[-n:]
        if _initials(candidate, False) == letters or _initials(candidate, True) == letters:
            return " ".join(candidate).lower().replace("-", " ")  # "chain-of-thought" and "chain of thought" alike
    return None


def definition(acronym: str, texts: list[str], min_count: int) -> str | None:
    """The long form the texts give the acronym most often ("chain-of-thought (CoT)"), if at least `min_count` do."""
    short = singular(acronym)
    mention = re.compile(rf"\(\s*{re.escape(short)}s?\s*\)")
    words_before = re.compile(rf"(?:[A-Za-z][\w-]*\s+){{1,{len(short) + 3}}}$")
    # the parenthesis is found first and the words before it read from a short window: one regex matching both
    # backtracks at every word of every candidate (0.7 s an acronym on a long goal's 1,500 candidates)
    window = 40 * (len(short) + 3)
    forms = Counter(
        form
        for text in texts
        for match in mention.finditer(text)
        if (before := words_before.search(text, max(0, match.start() - window), match.start()))
        and (form := _long_form(before[0], short.lower()))
    )
    form, count = forms.most_common(1)[0] if forms else ("", 0)
    return form if count >= min_count else None


def spell_out(goal: str, texts: list[str], min_count: int) -> dict[str, str]:
    """Each acronym of the goal that the texts define, with its long form, and each acronym the texts define for a
    phrase the goal writes out ("direct preference optimization (DPO)"), so that either form states the other."""
    used = goal_acronyms(goal)
    spelled = {a: definition(a, texts, min_count) for a in dict.fromkeys(used + _acronyms_of_phrases(goal, texts))}
    goal_terms = content_terms(goal)
    return {
        a: form for a, form in spelled.items() if form and (a in used or states_run(goal_terms, content_terms(form)))
    }


def _acronyms_of_phrases(goal: str, texts: list[str]) -> list[str]:
    """Acronyms in parentheses in the texts whose letters are the initials of a run of the goal's words."""
    words = [w for w in goal_words(goal) if w[:1].isalpha()]
    runs = {
        _initials(words[i:j], skip_small)
        for i in range(len(words))
        for j in range(i + 2, min(len(words), i + 8) + 1)
        for skip_small in (False, True)
    }
    defined = {m[1] for text in texts for m in _PARENTHESISED.finditer(text)}
    return sorted(a for a in defined if singular(a).lower() in runs and a not in goal_words(goal))


def text_terms(text: str, spelled: dict[str, str]) -> set[str]:
    """The text's content terms, an acronym counted where its long form is written out and the long form where the
    acronym is ("DPO" states "direct preference optimization")."""
    terms = content_terms(text)
    written = {t for a, form in spelled.items() if states_run(terms, content_terms(form)) for t in content_terms(a)}
    present = set(terms)
    abbreviated = {
        t for a, form in spelled.items() if present >= set(content_terms(a)) > set() for t in content_terms(form)
    }
    return present | written | abbreviated
