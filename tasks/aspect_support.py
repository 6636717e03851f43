"""Whether a claim's evidence sentence reports a finding on each aspect it is filed under.

Naming an aspect is not evidence for it: "LoRA is widely used for fine-tuning" names LoRA and reports nothing, and a
verbatim quote matches its source by construction. An aspect is supported when a finding (a number, a comparison, a
direction of effect) stands within FINDING_WINDOW words of the aspect's own words in the evidence sentence, or of
the paper's self-reference ("we", "our model") when its title names the entity or names the aspect as its method
("ByT5: Towards a Token-free Future …"), anywhere in the sentence when the title states all of the entity's words.
A setting (benchmark, dataset, model) is supported by a finding anywhere in a sentence that names it: it is where
that finding was measured. A contribution statement ("we propose X …") supports the entity or topic it names: that
the work proposes or studies it is what it shows.
"""

from __future__ import annotations

import re

from tasks.abbreviations import acronym_terms
from tasks.compare import values
from tasks.coverage import (
    CONTRIBUTED,
    CONTRIBUTION_CUES,
    FINDING,
    GENERIC_QUANTITIES,
    QUANTITY_SYNONYMS,
    SELF_REFERENCE,
    measure_of,
    names_paper,
    speaks_of,
)
from tasks.goal import bare_sizes, in_size_range, size_range
from tasks.index.text import content_terms
from tasks.models import Aspect, AspectKind, Claim, Paper, Plan
from tasks.verify import DIRECTION_CUES

# How many words from an aspect's own words a finding may stand and still be about it: about a clause ("MixLoRA
# improves accuracy by 9%"), set by hand, not tuned.
FINDING_WINDOW = 8
# A word of the sentence; a cut-off metric stays whole (NDCG@10, Recall@1), as the goal's aspects keep it.
_WORD = re.compile(r"[\w%.+@-]*\w%?|%")
# Verbs and adjectives of a reported result beyond the comparison and direction cues coverage and verify know.
RESULT = re.compile(r"(?:boost|surpass|exceed|superior|achiev|attain|accelerat|speed|yield|beat)\w*")


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _is_finding(word: str) -> bool:
    lowered = word.lower()
    return (
        bool(values(word))  # a reported value, not the digits of a name, a version or a link (7B, GPT-2, 67cbf…)
        or bool(FINDING.fullmatch(lowered))
        or any(p.fullmatch(lowered) for p in DIRECTION_CUES.values())
        or bool(RESULT.fullmatch(lowered))
    )


def _aspect_terms(aspect: Aspect) -> set[str]:
    """The aspect's stemmed terms (words with digits kept whole), with a measured quantity's synonyms."""
    terms = set()
    for word in bare_sizes(aspect.text).split():
        terms |= {word.lower()} if any(c.isdigit() for c in word) else set(content_terms(word))
    if aspect.kind is AspectKind.QUANTITY:
        head = aspect.text.split()[-1].lower()
        terms |= set(content_terms(QUANTITY_SYNONYMS.get(head, "")))
    return terms


def _mentions(words: list[str], aspect: Aspect, self_named: bool, spelled_out: dict[str, str]) -> list[int]:
    """Positions of the sentence's words that state the aspect, or an acronym of it the papers define ("SD",
    "Mirror-SD" for speculative decoding), or (when the paper is on it) its self-reference."""
    terms = _aspect_terms(aspect) | acronym_terms(content_terms(aspect.text), spelled_out)
    # a name with or without its hyphens: "Super-NaturalInstructions" states "SuperNaturalInstructions"
    hits = [
        i
        for i, w in enumerate(words)
        if w.lower() in terms or set(content_terms(w) + content_terms(w.replace("-", ""))) & terms
    ]
    spans = [span for word in aspect.text.split() if (span := size_range(word))]
    hits += [i for i, w in enumerate(words) if any(in_size_range(w, span) for span in spans)]
    if self_named:
        hits += [i for i, w in enumerate(words) if SELF_REFERENCE.fullmatch(w)]
    return hits


def supports_aspect(sentence: str, aspect: Aspect, title: str = "", spelled_out: dict[str, str] | None = None) -> bool:
    """Whether the sentence reports a finding on the aspect, within FINDING_WINDOW words of where it states it;
    `spelled_out` as the plan's, the acronyms the papers define for the goal's phrases."""
    spelled_out = spelled_out or {}
    words = _words(bare_sizes(sentence))
    findings = [i for i, w in enumerate(words) if _is_finding(w)]
    if aspect.kind is AspectKind.QUANTITY and aspect.text.split()[-1].lower() in GENERIC_QUANTITIES:
        # "the trade-offs" of a method: any reported finding on it; "learning gains": a finding near "learning"
        of = measure_of(aspect)
        return bool(findings) and (of is None or supports_aspect(sentence, of, title, spelled_out))
    # the paper whose title names the aspect ("ByT5: …") calls it "we" or "our model" in its abstract
    own = aspect.kind is not AspectKind.QUANTITY and names_paper(aspect, title, {}) and speaks_of(sentence, title)
    if aspect.kind is AspectKind.SETTING and findings:
        # a benchmark or model the sentence names is where its finding was measured, wherever the sentence puts it
        # ("Through experiments on Robomimic and D4RL, we show that … achieves superior performance")
        return bool(_mentions(words, aspect, own, spelled_out))
    if aspect.kind in CONTRIBUTED and CONTRIBUTION_CUES.search(sentence):
        # "we propose Progressive Transformers, a novel architecture …": the work proposes or studies what it names
        return bool(_mentions(words, aspect, own, spelled_out))
    title_states_entity = bool(set(content_terms(title)) & _aspect_terms(aspect))
    title_states_all = _aspect_terms(aspect) <= set(content_terms(title))
    if aspect.kind is AspectKind.ENTITY and title_states_all and findings and SELF_REFERENCE.search(sentence):
        # the paper is on the entity its title states in full: what it reports of "our approach", however long the
        # clause ("Our approach enables … sequences up to device count times longer than …"), is of the entity
        return True
    entity_named = aspect.kind is AspectKind.ENTITY and title_states_entity and speaks_of(sentence, title)
    mentions = _mentions(words, aspect, own or entity_named, spelled_out)
    return any(abs(m - f) <= FINDING_WINDOW for m in mentions for f in findings)


def check_aspects(claims: list[Claim], plan: Plan, papers: list[Paper]) -> list[Claim]:
    """Each claim filed only under the aspects its evidence sentence reports a finding on; the others set aside."""
    by_text = {a.text: a for a in plan.aspects}
    titles = {p.id: p.title for p in papers}
    checked = []
    for claim in claims:
        sentence = claim.evidence or claim.source_sentence
        title = titles.get(claim.paper_id, "")
        kept = [
            a
            for a in claim.aspects
            if a not in by_text or supports_aspect(sentence, by_text[a], title, plan.spelled_out)
        ]
        dropped = [a for a in claim.aspects if a not in kept]
        checked.append(claim.model_copy(update={"aspects": kept, "unsupported_aspects": dropped}))
    return checked
