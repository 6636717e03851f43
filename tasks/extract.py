"""extract_claims: the sentences of relevant abstracts that state findings about the goal."""

from __future__ import annotations

import re

from prefect import task

from tasks.backends import prompts
from tasks.backends.llm import ChatModel, ask
from tasks.common import STAGE_CACHE
from tasks.coverage import CONTRIBUTED, CONTRIBUTION_CUES, aspects_addressed
from tasks.index.text import normalize_space, numbers, split_sentences, term_set
from tasks.models import Claim, Plan, RankedPaper, content_id
from tasks.progress import STAGE_HOOKS
from tasks.settings import ExtractSettings

FINDING_CUES = re.compile(
    r"\b(?:outperform\w*|achiev\w*|improv\w*|reduc\w*|increas\w*|decreas\w*|surpass\w*|exceed\w*|"
    r"show(?:s|ed|n)?|demonstrat\w*|find|found|finds|reveal\w*|yield\w*|match(?:es|ed)?|comparabl\w*|"
    r"better|worse|faster|slower|fewer|lower|higher|gain\w*|speed-?up\w*|state-of-the-art|significant\w*|"
    r"competitive|superior|while|whereas|trade-?offs?|at the cost|compared|than|versus|only)\b",
    re.IGNORECASE,
)
# Sentences that frame the work rather than report what it found, or say what it expects or plans to find.
FRAMING_CUES = re.compile(
    r"\b(?:in this (?:paper|work)|this paper|we (?:propose|introduce|present|release|study|explore)|"
    r"recent(?:ly)? (?:studies|work|advances)|have emerged|has emerged|have revolutionized|remains? (?:a )?challeng|"
    r"we hypothesi[sz]e|will|we (?:plan|intend|aim) to)\b",
    re.IGNORECASE,
)
# The sentence that opens what this work did; the sentences before it set the scene ("PEFT methods such as LoRA reduce
# the number of trainable parameters"), restating the field's findings, not the paper's.
OPENING_CUES = re.compile(
    rf"{CONTRIBUTION_CUES.pattern}|\b(?:in this (?:paper|work|study)|to this end|here,? we)\b", re.IGNORECASE
)
# A sentence in the first person speaks of this work, wherever it stands ("Going to many shots, we observe …").
FIRST_PERSON = re.compile(r"\b(?:we|our|us)\b", re.IGNORECASE)
# Markers that a sentence reports this work's evidence rather than restating the field's.
EVIDENCE_CUES = re.compile(
    r"\b(?:experiments?|results?|evaluations?|empirical(?:ly)?|we (?:find|found|show|observe|demonstrate)|"
    r"our (?:method|approach|model|analysis|results?)|ablations?|benchmarks?)\b",
    re.IGNORECASE,
)


# A candidate sentence: its score, its offsets in the abstract, and the goal aspects it addresses.
Scored = tuple[float, int, int, list[str]]


def sentence_score(sentence: str, goal_terms: set[str], background: bool, min_finding: float) -> float:
    """0..1: states a finding (cues, numbers) and relates to the goal's terms; 0 without a finding cue."""
    cues = len(FINDING_CUES.findall(sentence))
    evidence = 0.3 if EVIDENCE_CUES.search(sentence) else 0.0
    finding = min(1.0, 0.2 * cues + evidence + (0.3 if numbers(sentence) else 0.0))
    if FRAMING_CUES.search(sentence):
        finding *= 0.4
    if background:
        finding *= 0.3
    if not cues or finding < min_finding:
        return 0.0
    overlap = len(goal_terms & term_set(sentence)) / max(1, len(goal_terms))
    return round(0.5 * finding + 0.5 * min(1.0, 2 * overlap), 4)


def _pick_sentences(scored: list[Scored], settings: ExtractSettings, in_brief: set[str]) -> list[Scored]:
    """The best finding sentences, each next one preferred for the goal aspects the chosen ones do not yet address,
    and more for those no paper before it in the brief addresses (`in_brief`)."""
    left, chosen, covered = list(scored), [], set()

    def value(s: Scored) -> float:
        new = set(s[3]) - covered
        return s[0] + settings.aspect_bonus * len(new) + settings.unaddressed_bonus * len(new - in_brief)

    while left and len(chosen) < settings.claims_per_paper:
        best = max(left, key=lambda s: (value(s), -s[1]))
        left.remove(best)
        chosen.append(best)
        covered.update(best[3])
    return chosen


@task(name="extract_claims", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def extract_claims(
    plan: Plan, papers: list[RankedPaper], settings: ExtractSettings, chat: ChatModel | None = None
) -> list[Claim]:
    """Up to `claims_per_paper` sentences from each kept paper, interleaved by paper relevance: its findings, and its
    contribution statement when that states the entity or a topic its findings do not."""
    goal_terms = set(plan.key_terms)
    contributed = {a.text for a in plan.aspects if a.kind in CONTRIBUTED}
    per_paper: list[list[Claim]] = []
    in_brief: set[str] = set()  # the aspects the papers before this one address
    for ranked in (r for r in papers if r.kept):
        if chat is not None:
            per_paper.append(model_claims(plan, ranked, settings.claims_per_paper, chat))
            continue
        abstract = ranked.paper.abstract
        spans = split_sentences(abstract)
        # before what the work did, an abstract sets the scene, unless it speaks of the work; without such a
        # statement, its first sentence sets the scene
        opening = next((i for i, (start, end) in enumerate(spans) if OPENING_CUES.search(abstract[start:end])), 1)
        scored = []
        for position, (start, end) in enumerate(spans):
            sentence = abstract[start:end]
            if not settings.min_chars <= len(sentence) <= settings.max_chars:
                continue
            background = position == 0 or (position < opening and not FIRST_PERSON.search(sentence))
            score = sentence_score(sentence, goal_terms, background, settings.min_finding)
            if score >= settings.min_sentence_score:
                aspects = aspects_addressed(plan, normalize_space(sentence), ranked.paper.title)
                scored.append((score, start, end, aspects))
        chosen = _pick_sentences(scored, settings, in_brief)
        # what a paper proposes or studies is evidence on the entity or topics its findings do not speak to
        covered = {a for *_, aspects in chosen for a in aspects}
        in_brief |= covered
        proposal = contribution(plan, ranked, settings, contributed - covered)
        if proposal:
            chosen, proposal = with_contribution(chosen, proposal, settings.claims_per_paper)
        proposed_at = {proposal[1:3]} if proposal else set()
        claims = [
            Claim(
                id=content_id(ranked.paper.id, start, end, normalize_space(abstract[start:end])),
                text=normalize_space(abstract[start:end]),
                paper_id=ranked.paper.id,
                source_sentence=abstract[start:end],
                start=start,
                end=end,
                aspects=aspects,
                contribution=(start, end) in proposed_at,
            )
            for _, start, end, aspects in sorted(chosen, key=lambda s: s[1])
        ]
        if claims:
            per_paper.append(claims)
    per_paper = [claims for claims in per_paper if claims]
    # Round-robin so the brief rests on several papers, not the first one's every sentence.
    interleaved = [
        c for i in range(settings.claims_per_paper) for claims in per_paper if i < len(claims) for c in [claims[i]]
    ]
    return interleaved[: settings.max_claims]


def with_contribution(chosen: list[Scored], proposal: Scored, limit: int) -> tuple[list[Scored], Scored | None]:
    """The chosen findings with the proposal added (and the proposal), in place of a finding whose aspects the other
    findings state when the paper has no room left; without such a finding, the findings alone (and None): a proposal
    never costs an aspect a finding addresses."""
    if len(chosen) < limit:
        return [proposal, *chosen], proposal
    for spare in reversed(range(len(chosen))):
        others = {a for i, (*_, aspects) in enumerate(chosen) if i != spare for a in aspects}
        if set(chosen[spare][3]) <= others:
            return [proposal, *chosen[:spare], *chosen[spare + 1 :]], proposal
    return chosen, None


def contribution(plan: Plan, ranked: RankedPaper, settings: ExtractSettings, wanted: set[str]) -> Scored | None:
    """The abstract's contribution statement that states the most of the `wanted` aspects (the earliest of equals)."""
    abstract, best, most = ranked.paper.abstract, None, 0
    for start, end in split_sentences(abstract):
        sentence = abstract[start:end]
        if settings.min_chars <= len(sentence) <= settings.max_chars and CONTRIBUTION_CUES.search(sentence):
            aspects = aspects_addressed(plan, normalize_space(sentence), ranked.paper.title)
            if len(wanted & set(aspects)) > most:
                best, most = (0.0, start, end, aspects), len(wanted & set(aspects))
    return best


def model_claims(plan: Plan, ranked: RankedPaper, limit: int, chat: ChatModel) -> list[Claim]:
    """The model's paraphrased findings of one abstract, each tied by number to the exact sentence behind it."""
    paper = ranked.paper
    spans = split_sentences(paper.abstract)
    sentences = [normalize_space(paper.abstract[s:e]) for s, e in spans]

    def check(reply: prompts.ExtractReply) -> str | None:
        wrong = [c.sentence for c in reply.claims if c.sentence > len(spans)]
        return f"sentence numbers {wrong} do not exist; the abstract has {len(spans)} sentences" if wrong else None

    messages = prompts.extract_messages(plan.goal, paper.title, paper.id, sentences, limit)
    reply = ask(chat, messages, prompts.ExtractReply, "extract_claims", check=check)
    claims: dict[tuple[int, int], Claim] = {}
    for item in reply.claims:
        start, end = spans[item.sentence - 1]
        text, sentence = normalize_space(item.claim), paper.abstract[start:end]
        if (start, end) in claims or len(claims) >= limit:
            continue
        claims[(start, end)] = Claim(
            id=content_id(paper.id, start, end, text),
            text=text,
            paper_id=paper.id,
            source_sentence=sentence,
            start=start,
            end=end,
            aspects=aspects_addressed(plan, f"{text} {sentence}", paper.title),
        )
    return sorted(claims.values(), key=lambda c: c.start)
