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


def _parts(words: list[str], skip_small: bool) -> list[str]:
    """The run's words and hyphenated parts, lowercased, perhaps without its small words."""
    return [p.lower() for w in words for p in w.split("-") if p and not (skip_small and p.lower() in _SMALL_WORDS)]


def _in_order(letters: str, word: str) -> bool:
    """Whether the letters occur in the word in this order."""
    rest = iter(word)
    return all(letter in rest for letter in letters)


def _spells(parts: list[str], letters: str) -> bool:
    """Whether the letters are the parts' initials, each part perhaps giving more of its letters after its first:
    "chain of thought" spells CoT, "sparse autoencoder" SAE, "vision transformer" ViT."""
    if len(parts) > len(letters) or not parts:
        return not parts and not letters
    head, rest = parts[0], parts[1:]
    if letters[0] != head[0]:
        return False
    return any(
        _in_order(letters[1:taken], head[1:]) and _spells(rest, letters[taken:])
        for taken in range(1, len(letters) - len(rest) + 1)
    )


def _spelled_by(words: list[str], letters: str) -> bool:
    """Whether the run of words spells the letters, with or without its small words ("of", "the")."""
    return any(_spells(parts, letters) for parts in _readings(words))


def _readings(words: list[str]) -> list[list[str]]:
    """The run's parts with its small words and without."""
    return [_parts(words, False), _parts(words, True)]


def _long_form(before: str, letters: str) -> str | None:
    """The shortest run of words ending `before` that spells `letters`, with or without its small words."""
    words = before.split()
    for n in range(1, min(len(words), len(letters) + 3) + 1):
        candidate = words[-n:]
        if _spelled_by(candidate, letters):
            return " ".join(candidate).lower().replace("-", " ")  # "chain-of-thought" and "chain of thought" alike
    return None


def _mentions(texts: list[str]) -> dict[str, list[str]]:
    """Each acronym the texts put in parentheses, as written, with the text just before each such mention."""
    before: dict[str, list[str]] = {}
    for text in texts:
        for match in _PARENTHESISED.finditer(text):
            window = 40 * (len(singular(match[1])) + 3)  # enough for its long form's words
            before.setdefault(match[1], []).append(text[max(0, match.start() - window) : match.start()])
    return before


def definition(acronym: str, mentions: dict[str, list[str]], min_count: int) -> str | None:
    """The long form the texts give the acronym (or its plural) most often ("chain-of-thought (CoT)"), if at least
    `min_count` do; `mentions` as `_mentions` finds them."""
    short = singular(acronym)
    words_before = re.compile(rf"(?:[A-Za-z][\w-]*\s+){{1,{len(short) + 3}}}$")
    forms = Counter(
        form
        for written in (short, f"{short}s")
        for window in mentions.get(written, [])
        if (before := words_before.search(window)) and (form := _long_form(before[0], short.lower()))
    )
    form, count = forms.most_common(1)[0] if forms else ("", 0)
    return form if count >= min_count else None


def spell_out(goal: str, texts: list[str], min_count: int) -> dict[str, str]:
    """Each acronym of the goal that the goal or the texts define, with its long form, and each acronym the texts
    define for a phrase the goal writes out ("direct preference optimization (DPO)"), so that either form states the
    other."""
    used, mentions = goal_acronyms(goal), _mentions(texts)
    acronyms = dict.fromkeys(used + _acronyms_of_phrases(goal, list(mentions)))
    spelled = {a: definition(a, mentions, min_count) for a in acronyms}
    # what the goal itself defines ("Sign Language Production (SLP)") needs no paper to confirm it
    own = _mentions([goal])
    spelled |= {a: form for a in own if (form := definition(a, own, 1))}
    goal_terms = content_terms(goal)
    return {
        a: form for a, form in spelled.items() if form and (a in used or states_run(goal_terms, content_terms(form)))
    }


def _acronyms_of_phrases(goal: str, acronyms: list[str]) -> list[str]:
    """The acronyms (not the goal's own) that a run of the goal's words spells."""
    words = [w for w in goal_words(goal) if w[:1].isalpha()]
    readings: dict[str, list[list[str]]] = {}  # of each run of words, by its first letter
    for i, word in enumerate(words):
        for j in range(i + 2, min(len(words), i + 8) + 1):
            readings.setdefault(word[0].lower(), []).extend(_readings(words[i:j]))
    own = set(goal_words(goal))
    return sorted(
        a
        for a in acronyms
        if a not in own and any(_spells(parts, singular(a).lower()) for parts in readings.get(a[0].lower(), []))
    )


def text_terms(text: str, spelled: dict[str, str]) -> set[str]:
    """The text's content terms, an acronym counted where its long form is written out and the long form where the
    acronym is ("DPO" states "direct preference optimization")."""
    terms = content_terms(text)
    written = acronym_terms(terms, spelled)
    return set(terms) | written | {t for form in abbreviated(terms, spelled) for t in content_terms(form)}


def acronym_terms(terms: list[str], spelled: dict[str, str]) -> set[str]:
    """The terms of the acronyms whose long form the terms write out ("SD" of "speculative decoding")."""
    return {t for a, form in spelled.items() if states_run(terms, content_terms(form)) for t in content_terms(a)}


def abbreviated(terms: list[str], spelled: dict[str, str]) -> list[str]:
    """The long forms of the acronyms among the content terms ("DPO" → "direct preference optimization")."""
    present = set(terms)
    return [form for a, form in spelled.items() if present >= set(content_terms(a)) > set()]
