"""Which aspects of the goal a sentence addresses, and which aspects the verified evidence of a draft addresses."""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

from tasks.abbreviations import abbreviated, text_terms
from tasks.goal import (
    GENERIC_NAMES,
    QUANTITY_WORDS,
    bare_sizes,
    goal_words,
    head_index,
    in_size_range,
    is_magnitude,
    is_model_size,
    is_name,
    is_percentage,
    is_plain_noun,
    is_plural,
    size_range,
)
from tasks.index.text import content_terms, is_compound, joined_runs, joined_stem, numbers, ordered_runs
from tasks.models import Aspect, AspectKind, AspectVerdict, Claim, Label, Plan, RankedPaper

# Quantities that frame a question rather than name a measurement: any reported finding with a number or a
# comparison speaks to "the trade-offs" or "the effects" of the entity it is about.
GENERIC_QUANTITIES = frozenset(
    """trade-off trade-offs tradeoff tradeoffs performance effect effects impact benefits benefit drawbacks
    limitations advantages disadvantages gains improvement improvements results evaluation quality""".split()
)
# Nouns a generic measure may be of that say nothing in particular ("model performance", "task performance").
MEASURED_THINGS = frozenset("model models task tasks system systems method methods".split())
# Words that state the same measured quantity in other words ("inference latency" is addressed by "2x faster").
QUANTITY_SYNONYMS = {
    "latency": "latency faster slower speed speedup time seconds ms",
    "speed": "speed faster slower latency throughput speedup time",
    "throughput": "throughput tokens/s faster speedup speed",
    "memory": "memory gb vram footprint storage",
    "cost": "cost costs cheaper compute flops budget",
    "accuracy": "accuracy accurate score f1 error",
    "efficiency": "efficiency efficient faster cheaper fewer",
    "energy": "energy power consumption",
    "robustness": "robustness robust stable stability",
}
# Measures that their modifier makes one ("success rate" or "learning rate", "carbon footprint" or "memory
# footprint"): the modifier must be stated too.
QUALIFIED_HEADS = frozenset("rate rates score scores footprint consumption usage overhead time times emissions".split())
FINDING = re.compile(
    r"\b(?:outperform\w*|improv\w*|reduc\w*|increas\w*|decreas\w*|better|worse|faster|slower|fewer|lower|higher|"
    r"gain\w*|match(?:es|ed)?|comparabl\w*|trade-?offs?|at the cost|than|versus|compared|while|whereas|however)\b",
    re.IGNORECASE,
)
# A sentence that speaks of the paper's own method ("we", "our approach", "the proposed model") is about the entity
# the paper's title names.
SELF_REFERENCE = re.compile(
    r"\b(?:we|our|the proposed|this (?:paper|work|method|approach|model|framework|technique|system))\b", re.IGNORECASE
)
# A sentence stating what the work itself proposes or does ("In this paper, we propose Progressive Transformers, …"):
# not a finding, but what a question asking which work proposed or studied something is answered by.
CONTRIBUTION_CUES = re.compile(
    r"\b(?:we (?:propose|introduce|present|develop|design|study|investigate|explore|build|release)|"
    r"this (?:paper|work|study) (?:proposes|introduces|presents|develops|studies|investigates|explores))\b",
    re.IGNORECASE,
)
# What a contribution statement can support: what the question is about. A measured quantity or a comparison needs a
# finding, and a setting is where a finding was measured ("We release D4RL, …" measures nothing on it).
CONTRIBUTED = frozenset({AspectKind.ENTITY, AspectKind.TOPIC})
# Nouns of the verbs papers report with, which share their stem: "demonstrations" (in-context examples, robot
# demonstrations) or "suggestions" are stated by those nouns only, not by "demonstrates" or "suggests".
REPORTING_NOUNS = {
    f"{noun}{plural}": noun
    for noun in "demonstration suggestion expression presentation indication illustration proposal discussion".split()
    for plural in ("", "s")
}
# Aspects addressed only by papers on the central entity: what it is compared with, and where it was measured.
PAIRED_KINDS = frozenset({AspectKind.COMPARISON, AspectKind.SETTING})
# A suffix saying a thing is like the name before it ("Mamba-style", "Transformer-like"), stated by that name alone.
_LIKENESS = re.compile(r"(?<=\w)-(?:style|like)$", re.IGNORECASE)
# An aspect counts as stated when half of its content terms are in the sentence.
TERM_SHARE = 0.5
# The most words a hyphenated compound of an aspect runs to ("state-of-the-art").
LONGEST_COMPOUND = 5


def _keys(text: str, spelled_out: dict[str, str]) -> set[str]:
    """Stemmed content terms (an acronym of the goal where its long form is written out), plus words with digits kept
    whole and lowercased (7b, gpt-4o, llama-2), the model size a name ends with (70b of LLaMA-3.3-70B), and the runs
    of words a hyphenated compound may be written as: run together, or its terms in order (an acronym's long form's
    runs too), and the reporting nouns in their own right ("demonstration")."""
    text = bare_sizes(text)
    whole = {part.lower() for w in goal_words(text) if any(c.isdigit() for c in w) for part in w.split("/")}
    sizes = {part for word in whole for part in word.split("-")[1:] if is_model_size(part)}
    forms = [text, *abbreviated(content_terms(text), spelled_out)]
    compounds = {run for form in forms for run in joined_runs(form, LONGEST_COMPOUND)}
    compounds |= {run for form in forms for run in ordered_runs(content_terms(form), LONGEST_COMPOUND)}
    nouns = {REPORTING_NOUNS[w.lower()] for w in goal_words(text) if w.lower() in REPORTING_NOUNS}
    return text_terms(text, spelled_out) | whole | sizes | compounds | nouns


class _Compound(NamedTuple):
    """A hyphenated word of an aspect: stated run together ("fine-tuning", "finetuning") or, of two or more terms, by
    its terms in their order, a term perhaps between ("mixture of LoRA experts" states "mixture-of-experts";
    "retrieval-augmented generation" does not state "generation-augmented")."""

    joined: str
    terms: tuple[str, ...]

    def stated(self, keys: set[str]) -> bool:
        return self.joined in keys or (len(self.terms) > 1 and " ".join(self.terms) in keys)


def _aspect_keys(text: str, weights: dict[str, float]) -> dict[str | _Compound, float]:
    """An aspect's keys with their corpus IDF: words with digits whole and lowercased, a hyphenated compound as one
    key weighing what its terms weigh ("few-shot" is not stated by "zero-shot"), a reporting noun as itself, the
    other words' stemmed terms."""
    keys: dict[str | _Compound, float] = {}
    for word in bare_sizes(text).split():
        word = _LIKENESS.sub("", word)  # "Mamba-style models" are stated as Mamba's
        if any(c.isdigit() for c in word):
            keys |= {part.lower(): _weight(part.lower(), weights) for part in word.split("/")}
        elif is_compound(word):
            terms = tuple(content_terms(word))
            keys[_Compound(joined_stem(word), terms)] = sum(_weight(t, weights) for t in set(terms))
        elif word.lower() in REPORTING_NOUNS:
            keys[REPORTING_NOUNS[word.lower()]] = sum(_weight(t, weights) for t in content_terms(word))
        else:
            keys |= {t: _weight(t, weights) for t in content_terms(word)}
    return keys


def _has(key: str | _Compound, keys: set[str]) -> bool:
    """Whether a text of these keys states the aspect's key."""
    return key.stated(keys) if isinstance(key, _Compound) else key in keys


def _weight(key: str, weights: dict[str, float]) -> float:
    """A key's corpus IDF; a name kept whole counts as its rarest term ("resnet-50" as "resnet"), a bare size 1."""
    return weights.get(key) or max((weights.get(t, 1.0) for t in content_terms(key)), default=1.0)


def _states(aspect: Aspect, keys: set[str], weights: dict[str, float]) -> bool:
    """Whether the text states the aspect: its keys, each counted by its corpus IDF, are half present; an entity needs
    two of its words stated, however rare one is ("distillation" alone is not "context distillation"), a compound
    counting its words and a name two ("GPTQ" states "GPTQ 3-bit", "Chinchilla" its "compute-optimal scaling")."""
    wanted = _aspect_keys(aspect.text, weights)
    present = [key for key in wanted if _has(key, keys)]
    if aspect.kind is AspectKind.ENTITY:
        named = [w for w in aspect.text.split() if (is_name(w) or w[:1].isupper()) and w.lower() not in GENERIC_NAMES]
        names = {key for word in named for key in _aspect_keys(word, {})}

        def words(key: str | _Compound) -> int:
            return len(key.terms) if isinstance(key, _Compound) else 2 if key in names else 1

        if sum(map(words, present)) < min(2, sum(map(words, wanted))):
            return False
    return bool(present) and sum(wanted[k] for k in present) / sum(wanted.values()) >= TERM_SHARE


def _distinctive(word: str) -> bool:
    """Whether the word names one thing: a name, or a compound with a name in it (Sheared-LLaMA, ImageNet-C), not a
    generic one (LLM, LLM-based) or a concept in capitals (Mixture-of-Experts)."""
    return any(is_name(part) and part.lower() not in GENERIC_NAMES for part in re.split(r"-(?!\d)", word))


def _names(aspect: Aspect) -> list[set[str]]:
    """The keys of each distinctive name in the aspect: MMLU in "MMLU accuracy", WikiText-2 in "WikiText-2 loss"."""
    names = [w for w in aspect.text.split() if _distinctive(w)]
    return [{k.joined if isinstance(k, _Compound) else k for k in _aspect_keys(name, {})} for name in names]


def _name_stated(aspect: Aspect, keys: set[str]) -> bool:
    """Whether the text states one of the names the aspect holds, if it holds any, with or without its hyphens (GPT3
    is GPT-3): "CIFAR-100-Corrupted" shares "corruptions" with "ImageNet-C corruptions" but is another benchmark."""
    names = _names(aspect)
    unhyphenated = {key.replace("-", "") for key in keys}
    return not names or any({key.replace("-", "") for key in name} & unhyphenated for name in names)


def measure_of(aspect: Aspect) -> Aspect | None:
    """What a generic measure is of, its nouns: "learning" of "learning gains", "accuracy" of "accuracy improvements";
    None for a measure that is not generic or is of nothing in particular ("the trade-offs", "strong results")."""
    words = aspect.text.split()
    if aspect.kind is not AspectKind.QUANTITY or words[-1].lower() not in GENERIC_QUANTITIES:
        return None
    own = [w for w in words[:-1] if w.lower() not in GENERIC_QUANTITIES | MEASURED_THINGS and is_plain_noun(w)]
    return Aspect(text=" ".join(own), kind=AspectKind.QUANTITY) if own else None


def _measures(aspect: Aspect, sentence: str, keys: set[str], weights: dict[str, float]) -> bool:
    """Whether the sentence reports the measured quantity, in the aspect's words or a synonym's, on the benchmark or
    model the aspect names if it names one (accuracy on another task is not "MMLU accuracy"), a rate or footprint
    with what it is of ("a learning rate" is not "success rates"), a measure per unit by what it counts ("energy per
    token", not "tokens per second"), a count with a number ("finds relevant documents" counts none)."""
    if not _name_stated(aspect, keys):
        return False
    words = aspect.text.split()
    at = head_index(words)  # "energy per token" measures energy
    head, modifier = words[at].lower(), words[:at] + words[at + 2 :]
    qualifier = Aspect(text=" ".join(modifier), kind=AspectKind.TOPIC)
    if modifier and head in QUALIFIED_HEADS and not _states(qualifier, keys, weights):
        return False
    if head in GENERIC_QUANTITIES:
        of = measure_of(aspect)
        if of is not None and not _measures(of, sentence, keys, weights):
            return False
        return bool(FINDING.search(sentence)) and bool(numbers(sentence) or re.search(r"\bthan\b|compar", sentence))
    # what is counted rather than a measure ("how many documents", "the number of timesteps") is stated by a number
    counted = is_plural(words[at]) and head not in QUANTITY_WORDS | QUANTITY_SYNONYMS.keys()
    if counted and not numbers(sentence):
        return False
    if head in REPORTING_NOUNS:
        synonyms = {REPORTING_NOUNS[head]}
    else:
        synonyms = set(content_terms(QUANTITY_SYNONYMS.get(head, head))) | set(content_terms(head))
    per_unit = at < len(words) - 1  # its unit alone ("tokens per second") measures something else
    return bool(synonyms & keys) or (not per_unit and _states(aspect, keys, weights))


def speaks_of(sentence: str, title: str) -> bool:
    """Whether the sentence is about the paper's own method: "we", "our model", or a name its title gives."""
    title_names = {w.lower() for w in goal_words(title) if is_name(w)}
    return bool(SELF_REFERENCE.search(sentence)) or bool(title_names & {w.lower() for w in goal_words(sentence)})


def title_name(title: str) -> str:
    """The method a title names: its words before a colon, at most three (MixLoRA: …, Switch Transformers: …), else
    ""."""
    head = title.split(":")[0].strip()
    return head if ":" in title and len(head.split()) <= 3 else ""


def names_paper(aspect: Aspect, title: str, spelled_out: dict[str, str]) -> bool:
    """Whether the aspect is the method the paper's title names ("ByT5" of "ByT5: Towards a Token-free Future …"):
    the paper's "we" and "our model" then speak of it."""
    name = title_name(title)
    keys = _keys(name, spelled_out) if name else set()
    wanted = _aspect_keys(aspect.text, {})
    return bool(wanted) and all(_has(key, keys) for key in wanted)


def _head(text: str) -> str:
    """The stemmed term a phrase ends with ("quantiz" of "binary quantization"), "" for one word."""
    words = text.split()
    return (content_terms(words[-1]) or [""])[-1] if len(words) > 1 else ""


def _shared_heads(plan: Plan) -> set[str]:
    """Heads that two of the goal's phrases end with ("binary quantization" and "product quantization", "position
    bias" and "verbosity bias"): such a head tells neither phrase apart from the other."""
    heads = Counter(_head(a.text) for a in plan.aspects if a.kind is not AspectKind.QUANTITY)
    return {head for head, count in heads.items() if head and count > 1}


def _own_words_stated(aspect: Aspect, keys: set[str], shared: set[str]) -> bool:
    """Whether a phrase whose head another phrase shares has its own words stated too: a sentence on quantization
    alone addresses neither "binary quantization" nor "product quantization"."""
    if _head(aspect.text) not in shared:
        return True
    own = [key for word in aspect.text.split()[:-1] for key in _aspect_keys(word, {})]
    return any(_has(key, keys) for key in own)


def aspects_addressed(plan: Plan, sentence: str, title: str = "") -> list[str]:
    """The goal aspects the sentence itself addresses; the title only tells which entity or named setting "we" or
    "our" names (the Switch Transformers paper's "we design models …" is about Switch Transformer)."""
    keys, weights = _keys(sentence, plan.spelled_out), plan.term_weights
    title_keys = _keys(title, plan.spelled_out) if speaks_of(sentence, title) else set()
    shared = _shared_heads(plan)

    def states(aspect: Aspect, text_keys: set[str]) -> bool:
        stated = _states(aspect, text_keys, weights) and _own_words_stated(aspect, text_keys, shared)
        return stated and (aspect.kind is AspectKind.ENTITY or _name_stated(aspect, text_keys))

    def own(aspect: Aspect) -> bool:
        return bool(title_keys) and names_paper(aspect, title, plan.spelled_out)

    addressed = []
    for aspect in plan.aspects:
        if aspect.kind is AspectKind.QUANTITY:
            hit = _measures(aspect, sentence, keys, weights)
        elif aspect.kind is AspectKind.SETTING:
            sizes = {w.lower() for w in aspect.text.split() if is_model_size(w) or is_magnitude(w)}
            spans = [span for size in sizes if (span := size_range(size))]
            # a range ("1B-3B") is stated by any size within it ("Mamba-3B", "2.7B")
            named = any(s in keys for size in sizes for s in size.split("/")) or any(
                in_size_range(key, span) for key in keys for span in spans
            )
            # a size or magnitude is the setting's point: "Vicuna 33B" is not "Vicuna 7B", "7B models" is "LLaMA 7B"'s
            # size, and "at 20x compression ratios" is not "compression ratios of 2x-5x"
            hit = named if sizes else (states(aspect, keys) or states(aspect, title_keys))
            # a share held fixed is the setting's point too: "at 50% sparsity" is not "at 70% sparsity"
            hit = hit and {w for w in aspect.text.split() if is_percentage(w)} <= keys
        else:
            entity = aspect.kind is AspectKind.ENTITY
            hit = states(aspect, keys) or (entity and states(aspect, title_keys)) or own(aspect)
        if hit:
            addressed.append(aspect.text)
    return addressed


def first_author(ranked: RankedPaper) -> str:
    """The first author's surname, or the paper id when the paper lists none."""
    return ranked.paper.first_surname.lower() or ranked.paper.id


def aspect_verdicts(plan: Plan, claims: list[Claim], papers: list[RankedPaper]) -> list[AspectVerdict]:
    """For each aspect, the verified claims that address it and the independent papers whose findings do; a
    comparison or a setting only from papers on the central entity, by their evidence, title or abstract (a paper on
    the baseline alone compares nothing with the entity, and another method's result on a benchmark is no result of
    the entity's there)."""
    by_id = {r.paper.id: r for r in papers}
    verified = [c for c in claims if c.label is Label.VERIFIED and c.paper_id in by_id]
    # a finding on an example the goal gives of a phrase ("methods such as YaRN", "gradient-boosted trees such as
    # XGBoost") is a finding on the phrase
    examples: dict[str, set[str]] = {}
    for a in plan.aspects:
        if a.example_of:
            examples.setdefault(a.example_of, set()).add(a.text)
    entity = [a for a in plan.aspects if a.text == plan.central or a.text in examples.get(plan.central, set())]
    # only a comparison or a setting asks which papers are on the entity: their abstracts are read for it alone
    paired = [a for a in plan.aspects if a.kind in PAIRED_KINDS and a not in entity] if entity else []
    described = {
        pid
        for pid, r in by_id.items()
        if paired
        and any(
            _states(a, _keys(f"{r.paper.title}. {r.paper.abstract}", plan.spelled_out), plan.term_weights)
            for a in entity
        )
    }

    def states(claim: Claim, aspect: str) -> bool:
        return aspect in claim.aspects or bool(examples.get(aspect, set()) & set(claim.aspects))

    on_entity = described | {c.paper_id for c in verified if states(c, plan.central)}
    verdicts = []
    for aspect in plan.aspects:
        backing = [c for c in verified if states(c, aspect.text)]
        unpaired = []
        if aspect in paired:
            unpaired = list(dict.fromkeys(c.paper_id for c in backing if c.paper_id not in on_entity))
            backing = [c for c in backing if c.paper_id in on_entity]
        paper_ids = list(dict.fromkeys(c.paper_id for c in backing))
        # corroboration is independent findings: a paper stating only what it proposes corroborates nothing
        authors = {first_author(by_id[c.paper_id]) for c in backing if not c.contribution}
        verdicts.append(
            AspectVerdict(
                aspect=aspect,
                claim_ids=[c.id for c in backing],
                paper_ids=paper_ids,
                independent_papers=len(authors),
                unpaired_paper_ids=unpaired,
            )
        )
    return verdicts
