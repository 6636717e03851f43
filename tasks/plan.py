"""plan_queries: up to four distinct searches built from the goal's own words."""

from __future__ import annotations

from prefect import task

from tasks.backends import prompts
from tasks.backends.llm import ChatModel, ask
from tasks.common import STAGE_CACHE
from tasks.goal import QUANTITY_WORDS, goal_words, is_model_size, parse_goal, singles_out, specificity, word_idf
from tasks.goal_form import GoalError, tidy_goal
from tasks.index.text import content_terms
from tasks.ml.embedders import TermWeights
from tasks.models import Aspect, AspectKind, Plan
from tasks.progress import STAGE_HOOKS
from tasks.settings import PlanSettings

# Searches a plan runs; a plan with fewer specific queries searches each deeper (tasks/retrieve.py `search_depth`).
PLAN_QUERIES = 4


def _rarest_words(aspects: list[Aspect], weights: TermWeights, settings: PlanSettings) -> str:
    """The goal's words of highest corpus IDF (settings.rarest_words), in its order; measured quantities count less."""
    # settings (benchmarks, model sizes) are rare words too, but they name where the topic was measured
    topic = [a for a in aspects if a.kind is not AspectKind.SETTING] or aspects
    # once each, whatever its case: "domain-specific knowledge in Knowledge Graphs" searches "knowledge" once
    firsts: dict[str, str] = {}
    for word in (w for a in topic for w in a.text.split() if not is_model_size(w)):
        firsts.setdefault(word.lower(), word)
    goal_words = list(firsts.values())

    def rarity(word: str) -> float:
        return word_idf(word, weights) * (settings.quantity_word_factor if word.lower() in QUANTITY_WORDS else 1.0)

    rarest = set(sorted(goal_words, key=rarity, reverse=True)[: settings.rarest_words])
    return " ".join(w for w in goal_words if w in rarest)


def _dedupe_words(parts: list[str]) -> str:
    seen, out = set(), []
    for w in " ".join(parts).split():
        if w.lower() not in seen:
            seen.add(w.lower())
            out.append(w)
    return " ".join(out)


def search_key(query: str) -> frozenset[str]:
    """What a query searches for, whatever its word order: its stemmed content terms."""
    return frozenset(content_terms(query))


def clean_goal(goal: str, max_chars: int) -> str:
    """The goal with whitespace and control characters normalised, or a GoalError saying what is wrong."""
    cleaned = tidy_goal(goal, max_chars)
    if not parse_goal(cleaned):
        raise GoalError("the research goal has no searchable words; ask a question about a topic")
    return cleaned


@task(name="plan_queries", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def plan_queries(
    goal: str, chat: ChatModel | None = None, weights: TermWeights | None = None, settings: PlanSettings | None = None
) -> Plan:
    """The goal's typed aspects and up to four distinct queries: key phrases, central entity, its measured quantity,
    and its rarest words (or, without a corpus, its settings and comparison); never one common word alone."""
    settings = settings or PlanSettings()
    aspects = parse_goal(goal, weights, settings)
    if not aspects:
        raise GoalError("the goal has no searchable words; ask a question about a topic")
    texts = [a.text for a in aspects]
    central = next((a.text for a in aspects if a.kind is AspectKind.ENTITY), texts[0])
    of = {kind: [a.text for a in aspects if a.kind is kind] for kind in AspectKind}
    others = [t for t in texts if t != central]
    candidates = [
        _dedupe_words(texts),
        central,
        _dedupe_words([*(of[AspectKind.QUANTITY] or others[:1]), central]),
        _rarest_words(aspects, weights, settings) if weights is not None else "",
        _dedupe_words([central, *of[AspectKind.SETTING], *of[AspectKind.COMPARISON]]),
    ]
    # Short goals: fill up with the goal's own sub-phrases and words, never with invented topics.
    candidates += texts + [_dedupe_words([a, b]) for a in texts for b in texts if a < b]
    candidates += sorted((w for t in texts for w in t.split()), key=lambda w: -specificity([w], weights, settings))
    queries: list[str] = []
    for q in candidates:
        if q and q.lower() not in {x.lower() for x in queries} and (q == central or singles_out(q, weights, settings)):
            queries.append(q)
    key_terms = sorted(set(content_terms(" ".join(texts))))
    plan = Plan(
        goal=goal,
        queries=queries[:PLAN_QUERIES],
        aspects=aspects,
        central=central,
        key_terms=key_terms,
        term_weights={t: round(weights.weight(t), 4) for t in key_terms} if weights is not None else {},
    )
    return plan if chat is None else model_queries(plan, chat)


def grounded_aspects(goal: str, proposed: list[prompts.ProposedAspect]) -> list[Aspect]:
    """The model's aspects whose every word is a word of the goal, or none unless exactly one is the entity."""
    allowed = {w.lower() for w in goal_words(goal)}
    aspects = []
    for item in proposed:
        text = " ".join(item.text.split())
        if (
            text
            and {w.lower() for w in goal_words(text)} <= allowed
            and text.lower() not in {a.text.lower() for a in aspects}
        ):
            aspects.append(Aspect(text=text, kind=AspectKind(item.kind)))
    return aspects if sum(a.kind is AspectKind.ENTITY for a in aspects) == 1 else []


def model_queries(plan: Plan, chat: ChatModel) -> Plan:
    """The model's queries, topped up to four with the offline ones; its aspects replace the parsed ones when every
    word of them is the goal's own and exactly one is the entity."""
    reply = ask(chat, prompts.plan_messages(plan.goal, plan.aspect_texts), prompts.PlanReply, "plan_queries")
    queries: list[str] = []
    for query in [*(" ".join(q.split())[:200] for q in reply.queries), *plan.queries]:
        if query and query.lower() not in {q.lower() for q in queries}:
            queries.append(query)
    aspects = grounded_aspects(plan.goal, reply.aspects)
    if not aspects:
        return plan.model_copy(update={"queries": queries[:PLAN_QUERIES]})
    central = next(a.text for a in aspects if a.kind is AspectKind.ENTITY)
    parsed = {a.text.lower(): a.example_of for a in plan.aspects}  # which are examples, the goal's words say
    aspects = [a.model_copy(update={"example_of": parsed.get(a.text.lower(), "")}) for a in aspects]
    return plan.model_copy(update={"queries": queries[:PLAN_QUERIES], "aspects": aspects, "central": central})
