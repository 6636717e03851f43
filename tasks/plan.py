"""plan_queries: four distinct searches built from the goal's own words."""

from __future__ import annotations

import re

from prefect import task

from tasks import prompts
from tasks.common import STAGE_CACHE
from tasks.embedders import TermWeights
from tasks.llm import ChatModel, ask
from tasks.models import Plan
from tasks.progress import STAGE_HOOKS
from tasks.text import STOP_WORDS, content_terms, words

# Words naming what is measured; a chunk made of them is the "measured quantity" lens of a goal.
QUANTITY_WORDS = frozenset(
    """trade-off trade-offs tradeoff tradeoffs accuracy performance efficiency latency cost costs memory
    speed throughput robustness error errors f1 bleu rouge perplexity quality benefits benefit drawbacks
    limitations advantages disadvantages effect effects impact gains improvement improvements scaling
    benchmark benchmarks evaluation results energy runtime complexity""".split()
)
# How a request is phrased, not what it asks about: "could you recommend work that first introduced X" is about X.
# Matched as whole words: "demonstrated" is phrasing, "demonstrations" (in-context examples) may be the topic.
# AutoScholar recall@20, lexical channels: 0.246 → 0.252.
REQUEST_WORDS = frozenset(
    """introduced introduce introduces introducing focused focus focuses focusing demonstrated demonstrate
    demonstrates utilized utilize utilizes talk talks talked mentioned mentions researchers describes described
    describe suggest suggests suggested recommend recommended like recently various specific particular pertaining
    concerning looking interested want know first paper's""".split()
)
NOT_TOPIC = STOP_WORDS | REQUEST_WORDS
# "trade-offs" or "accuracy" frame the question; a paper need not use those words to address it.
QUANTITY_TERM_FACTOR = 0.3
# With the corpus's term IDF at hand, one query is the goal's rarest words: the terms that single out its papers.
# Recall@20 / @5 with the 3 rarest in place of each key phrase's last word: AutoScholar 0.287 → 0.290 / 0.161 → 0.176,
# LitSearch (held out) 0.500 → 0.522 / 0.347 → 0.334. The 2 rarest: AutoScholar 0.285 / 0.171; the 4 rarest: 0.282 /
# 0.163. Choosing the central phrase by IDF as well: 0.290 / 0.180; adding the 2 rarest phrases as a query: 0.282.
RAREST_WORDS = 3


def _chunks(goal: str) -> list[list[str]]:
    """Runs of consecutive content words: the goal's key phrases."""
    chunks, current = [], []
    for word in words(goal):
        if word.lower() in NOT_TOPIC or (len(word) < 2 and not word.isupper()):
            if current:
                chunks.append(current)
            current = []
        else:
            current.append(word)
    if current:
        chunks.append(current)
    return chunks


def _salience(chunk: list[str]) -> float:
    """How specific a phrase is: acronyms, compounds and names outrank plain words."""
    score = 0.0
    for w in chunk:
        score += 1.0
        if re.search(r"[A-Z].*[A-Z]|\d", w) or "-" in w:
            score += 1.5
        if w.lower() in QUANTITY_WORDS:
            score -= 0.8
    return score


def word_idf(word: str, weights: TermWeights) -> float:
    """The IDF of a word's rarest term ("LoRA-based" → "lora"); 0 for a word of stop words only."""
    return max((weights.weight(t) for t in content_terms(word)), default=0.0)


def _rarest_words(chunks: list[list[str]], weights: TermWeights) -> str:
    """The goal's RAREST_WORDS words of highest corpus IDF, in the goal's order; measured quantities count less."""
    goal_words = list(dict.fromkeys(w for c in chunks for w in c))

    def rarity(word: str) -> float:
        return word_idf(word, weights) * (QUANTITY_TERM_FACTOR if word.lower() in QUANTITY_WORDS else 1.0)

    rarest = set(sorted(goal_words, key=rarity, reverse=True)[:RAREST_WORDS])
    return " ".join(w for w in goal_words if w in rarest)


def _dedupe_words(parts: list[str]) -> str:
    seen, out = set(), []
    for w in " ".join(parts).split():
        if w.lower() not in seen:
            seen.add(w.lower())
            out.append(w)
    return " ".join(out)


def is_quantity(phrase: str) -> bool:
    """Whether the phrase only names a measured quantity (trade-offs, accuracy …)."""
    return all(w.lower() in QUANTITY_WORDS for w in phrase.split())


class GoalError(ValueError):
    """The research goal cannot be researched as given."""


def clean_goal(goal: str, max_chars: int) -> str:
    """The goal with whitespace and control characters normalised, or a GoalError saying what is wrong."""
    cleaned = " ".join("".join(ch if ch.isprintable() else " " for ch in goal or "").split())
    if not cleaned:
        raise GoalError('the research goal is empty; pass a question such as "How does X affect Y?"')
    if len(cleaned) > max_chars:
        raise GoalError(f"the research goal has {len(cleaned)} characters; keep it under {max_chars}")
    if not _chunks(cleaned):
        raise GoalError("the research goal has no searchable words; ask a question about a topic")
    return cleaned


@task(name="plan_queries", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def plan_queries(goal: str, chat: ChatModel | None = None, weights: TermWeights | None = None) -> Plan:
    """Up to four distinct queries: key terms, central entity, measured quantity, rarest words or broader framing."""
    chunks = _chunks(goal)
    if not chunks:
        raise GoalError("the goal has no searchable words; ask a question about a topic")
    phrases = [" ".join(c) for c in chunks]
    central = max(chunks, key=_salience)
    central_phrase = " ".join(central)
    quantity = [p for p in phrases if any(w.lower() in QUANTITY_WORDS for w in p.split())]
    others = [p for p in phrases if p != central_phrase]

    candidates = [
        _dedupe_words(phrases),
        central_phrase,
        _dedupe_words([*(quantity or others[:1]), central_phrase]),
        *([_rarest_words(chunks, weights)] if weights is not None else []),
        _dedupe_words([c[-1] for c in chunks] if len(chunks) > 1 else central[-2:]),
    ]
    # Short goals: fill up with the goal's own sub-phrases and words, never with invented topics.
    candidates += phrases + [_dedupe_words([a, b]) for a in phrases for b in phrases if a < b]
    candidates += [" ".join(c[i:j]) for c in chunks for i in range(len(c)) for j in range(len(c), i + 1, -1)]
    candidates += sorted((w for c in chunks for w in c), key=lambda w: -_salience([w]))
    queries: list[str] = []
    for q in candidates:
        if q and q.lower() not in {x.lower() for x in queries}:
            queries.append(q)
    plan = Plan(
        goal=goal,
        queries=queries[:4],
        aspects=phrases,
        central=central_phrase,
        key_terms=sorted(set(content_terms(" ".join(w for c in chunks for w in c)))),
    )
    return plan if chat is None else model_queries(plan, chat)


def model_queries(plan: Plan, chat: ChatModel) -> Plan:
    """The model's queries, topped up to four with the offline ones; aspects stay the goal's own phrases."""
    reply = ask(chat, prompts.plan_messages(plan.goal, plan.aspects), prompts.PlanReply, "plan_queries")
    queries: list[str] = []
    for query in [*(" ".join(q.split())[:200] for q in reply.queries), *plan.queries]:
        if query and query.lower() not in {q.lower() for q in queries}:
            queries.append(query)
    return plan.model_copy(update={"queries": queries[:4]})
