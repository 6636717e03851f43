"""merge_rank: dedupe, fuse the per-query rankings, rerank by the goal, gate on relevance."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from prefect import task

from tasks.abbreviations import abbreviated, text_terms
from tasks.common import STAGE_CACHE
from tasks.goal import QUANTITY_WORDS, goal_words, is_name, is_phrasing, word_idf
from tasks.index.text import content_terms, is_compound, split_sentences, states_run, term_pairs, term_set, words
from tasks.ml.dense import dense_installed, token_maxima, token_states, token_words
from tasks.ml.embedders import Embedder, TermWeights
from tasks.models import AspectKind, Paper, Plan, RankedPaper, SearchResult, normalize_id, paper_text
from tasks.progress import STAGE_HOOKS
from tasks.settings import RankSettings


def fuse(
    results: list[SearchResult], settings: RankSettings
) -> tuple[dict[str, Paper], dict[str, float], dict[str, list[str]]]:
    """Reciprocal rank fusion over the queries (the full question counts most), deduplicating arXiv versions."""
    k = settings.rrf_k
    papers: dict[str, Paper] = {}
    scores: dict[str, float] = {}
    queries: dict[str, list[str]] = {}
    for position, result in enumerate(results):
        weight = settings.full_question_weight if position == 0 else 1.0
        for rank, paper in enumerate(result.papers):
            pid = normalize_id(paper.id)
            papers.setdefault(pid, paper.model_copy(update={"id": pid}))
            scores[pid] = scores.get(pid, 0.0) + weight / (k + rank + 1)
            if result.query not in queries.setdefault(pid, []):
                queries[pid].append(result.query)
    return papers, scores, queries


# Words by which a question asks for the paper that introduced something, not for papers about it.
ORIGIN_CUES = frozenset(
    "introduced introduce introduces introducing first pioneered pioneering original originally coined invented".split()
)


def asks_for_origin(goal: str) -> bool:
    """Whether the goal asks which paper introduced its subject ("which work first proposed …")."""
    return bool(ORIGIN_CUES & {w.lower() for w in goal_words(goal)})  # whole words: not first-order


def earliest(papers: list[Paper]) -> set[str]:
    """The id of the earliest submitted of the papers (none of none)."""
    return {min(papers, key=lambda p: (p.submitted, p.id)).id} if papers else set()


def goal_term_weights(plan: Plan, weights: TermWeights, settings: RankSettings) -> dict[str, float]:
    """IDF of each goal term; words naming a measured quantity ("trade-offs") count less than the topic's."""
    lens_terms = set(content_terms(" ".join(w for w in words(plan.goal) if w.lower() in QUANTITY_WORDS)))
    factor = settings.quantity_term_weight
    return {t: weights.weight(t) * (factor if t in lens_terms else 1.0) for t in plan.key_terms}


def phrase_pairs(plan: Plan) -> set[tuple[str, str]]:
    """Adjacent term pairs inside the goal's key phrases ("visual instruction tuning" → two pairs)."""
    return {pair for aspect in plan.aspect_texts for pair in term_pairs(content_terms(aspect))}


def phrase_coverage(pairs: set[tuple[str, str]], text: str) -> float:
    """Share of the goal's phrase pairs the text states in the same order, side by side."""
    return len(pairs & term_pairs(content_terms(text))) / len(pairs) if pairs else 0.0


def phrase_words(text: str) -> list[str]:
    """The text's words lower-cased, split at hyphens, without a plural s: how a title states a phrase."""
    return [re.sub(r"(?<=\w{3})s$", "", w) for w in re.findall(r"[a-z0-9]+", text.lower())]


def states_phrase(phrase: list[str], text: str) -> bool:
    """Whether the text states the phrase's words side by side ("Many-shot In-context Learning", not "Zero-shot …")."""
    return states_run(phrase_words(text), phrase)


def add_rank_channel(fused: dict[str, float], ids: list[str], values: np.ndarray, weight: float, k: int) -> None:
    """Add a reciprocal-rank-fusion channel that orders the candidates by `values`, highest first."""
    for rank, index in enumerate(np.argsort(-values, kind="stable")):
        fused[ids[index]] += weight / (k + rank + 1)


def goal_token_weights(goal: str, weights: TermWeights) -> np.ndarray:
    """Each goal token's share in the MaxSim: its word's IDF; how the request is phrased ("could you …") weighs 0."""
    token_weights = np.array([0.0 if is_phrasing(w) else word_idf(w, weights) for w in token_words(goal)])
    # a goal of one-letter names ("X and Y") has no weighted word: every token then counts alike
    return token_weights if token_weights.any() else np.ones_like(token_weights)


def goal_closeness(
    goal: str, texts: list[str], weights: TermWeights, quantized: bool = False, max_pieces: int = 0
) -> np.ndarray:
    """Each text's MaxSim with the goal, its tokens weighted by `goal_token_weights`; tokens weighing 0 skipped."""
    token_weights = goal_token_weights(goal, weights)
    weighted = np.flatnonzero(token_weights)
    (goal_vectors,) = token_states([goal], quantized)
    text_vectors = token_states(texts, quantized, max_pieces)
    return token_maxima(goal_vectors[weighted], text_vectors) @ token_weights[weighted] / token_weights.sum()


def unordered_terms(plan: Plan, text: str) -> set[str]:
    """The terms of the central entity's hyphenated compounds that the text puts side by side the other way round: a
    paper on retrieval-augmented generation states no part of "Generation-Augmented Retrieval"'s compound. (Coverage,
    which reads one sentence at a time, asks for the order itself; here a title runs into its abstract.)"""
    compounds = [parts for w in plan.central.split() if is_compound(w) and len(parts := content_terms(w)) > 1]
    if not compounds:
        return set()
    terms = content_terms(text)
    forms = [terms, *(content_terms(form) for form in abbreviated(terms, plan.spelled_out))]
    pairs = {pair for form in forms for pair in term_pairs(form)}
    return {t for parts in compounds if {(b, a) for a, b in term_pairs(parts)} & pairs for t in parts}


def goal_passage(paper: Paper, goal_weights: dict[str, float], max_words: int) -> str:
    """The paper's title and abstract, or (given `max_words`) its title and the abstract's sentences that state the
    most goal term weight, in their order, within that many words: what the MaxSim reranking encodes."""
    if not max_words:
        return paper_text(paper)
    sentences = [paper.abstract[start:end] for start, end in split_sentences(paper.abstract)]
    weight = [sum(goal_weights.get(t, 0.0) for t in term_set(sentence)) for sentence in sentences]
    chosen, length = set(), len(paper.title.split())
    for i in sorted(range(len(sentences)), key=lambda i: -weight[i]):
        if length + len(sentences[i].split()) <= max_words:
            chosen.add(i)
            length += len(sentences[i].split())
    return " ".join([f"{paper.title}.", *(sentences[i] for i in sorted(chosen))])


def term_coverage(goal_weights: dict[str, float], present: set[str]) -> float:
    """Weighted share of the goal's terms among a text's terms."""
    total = sum(goal_weights.values())
    if not total:
        return 0.0
    return sum(w for t, w in goal_weights.items() if t in present) / total


@task(name="merge_rank", **STAGE_HOOKS, cache_policy=STAGE_CACHE, persist_result=True)
def merge_rank(
    plan: Plan,
    results: list[SearchResult],
    embedder: Embedder,
    weights: TermWeights,
    settings: RankSettings,
    exclude_ids: list[str] | None = None,
) -> list[RankedPaper]:
    """Every candidate in fused order, with `kept` set on the most relevant that pass the relevance gate."""
    papers, fused, queries = fuse(results, settings)
    for pid in exclude_ids or []:
        papers.pop(pid, None)
    if not papers:
        return []
    ids = list(papers)
    goal_weights = goal_term_weights(plan, weights, settings)
    central_terms = term_set(plan.central)
    central_weights = {t: w for t, w in goal_weights.items() if t in central_terms}
    texts = [paper_text(papers[i]) for i in ids]
    paper_terms = [text_terms(text, plan.spelled_out) for text in texts]
    vectors = embedder.embed(texts, kind="passage")
    goal_vector = embedder.embed([plan.goal], kind="query")[0]
    similarities = np.clip(vectors @ goal_vector, 0.0, 1.0)
    coverages = np.array([term_coverage(goal_weights, terms) for terms in paper_terms])
    pairs = phrase_pairs(plan)
    phrases = np.array([phrase_coverage(pairs, text) for text in texts])
    add_rank_channel(fused, ids, similarities, settings.similarity_rank_weight, settings.rrf_k)
    add_rank_channel(fused, ids, coverages, settings.coverage_rank_weight, settings.rrf_k)
    add_rank_channel(fused, ids, phrases, settings.phrase_rank_weight, settings.rrf_k)
    if settings.maxsim_candidates and dense_installed():
        leading = sorted(range(len(ids)), key=lambda i: (-fused[ids[i]], ids[i]))[: settings.maxsim_candidates]
        passages = [goal_passage(papers[ids[i]], goal_weights, settings.maxsim_words) for i in leading]
        closeness = goal_closeness(plan.goal, passages, weights, settings.maxsim_quantized, settings.maxsim_pieces)
        add_rank_channel(fused, [ids[i] for i in leading], closeness, settings.maxsim_rank_weight, settings.rrf_k)
    centrals = [
        term_coverage(central_weights, terms - unordered_terms(plan, text)) if central_weights else 1.0
        for text, terms in zip(texts, paper_terms)
    ]
    ranked, off_centre = [], set()
    for pid, sim, coverage, central in zip(ids, similarities, coverages, centrals):
        if not central:
            off_centre.add(pid)
        # A paper that misses the goal's central entity is at best half relevant, however many other terms match.
        lexical = settings.coverage_weight
        relevance = (lexical * coverage + (1 - lexical) * float(sim)) * (0.5 + 0.5 * central)
        ranked.append(
            RankedPaper(
                paper=papers[pid],
                fused_score=round(fused[pid], 6),
                relevance=round(relevance, 4),
                term_coverage=round(float(coverage), 4),
                similarity=round(float(sim), 4),
                matched_queries=queries[pid],
            )
        )
    # Keep, in the retrieval's own order, the papers that pass the gate and state some of the central entity. The
    # method's own paper is kept first whatever its relevance, since a long question matches few of its words: the
    # earliest paper named after the method (later ones apply it: "QLoRA fine-tuning for radiology reports").
    gate = settings.relevance_threshold
    kept_first = earliest([r.paper for r in ranked if names_method(plan, r.paper.title, weights, settings)])
    if settings.keep_origin_paper and asks_for_origin(plan.goal):
        # "which paper introduced X": the earliest candidate that states X in full is the likeliest answer
        kept_first |= earliest([r.paper for r, c in zip(ranked, centrals) if c == 1.0 and r.relevance >= gate])
    if settings.keep_example_papers:
        # each example of the entity the goal names ("like S4 and Hyena"): its own paper, the earliest titled by it
        for names in example_names(plan, weights, settings):
            kept_first |= earliest([r.paper for r in ranked if names & term_set(r.paper.title)])
    phrase = phrase_words(plan.central)
    if settings.keep_titled_origin and (len(phrase) > 1 or is_name(plan.central)):
        # the first paper whose title names the topic ("… Via Speculative Decoding") is where a reader starts
        kept_first |= earliest(
            [r.paper for r in ranked if states_phrase(phrase, r.paper.title) and r.relevance >= gate]
        )
    ordered = sorted(ranked, key=lambda r: (r.paper.id not in kept_first, -r.fused_score, r.paper.id))
    gated = [r for r in ordered if r.paper.id in kept_first or (r.relevance >= gate and r.paper.id not in off_centre)]
    for r in gated[: settings.max_papers]:
        r.kept = True
    return sorted(ranked, key=lambda r: (-r.fused_score, r.paper.id))


def method_names(plan: Plan, weights: TermWeights, settings: RankSettings) -> set[str]:
    """Terms of the goal's central entity that name a method: written as a name (MixLoRA, TinyBERT) and rare."""
    central = next((a.text for a in plan.aspects if a.kind is AspectKind.ENTITY), "")
    return _rare_names(central, weights, settings, is_name)


def _rare_names(text: str, weights: TermWeights, settings: RankSettings, named: Callable[[str], bool]) -> set[str]:
    """Terms of the text's words that `named` takes for a name and rare enough to name one method."""
    return {
        term
        for word in text.split()
        if named(word)
        for term in content_terms(word)
        if weights.weight(term) >= settings.method_name_idf_share * weights.max_weight
    }


def example_names(plan: Plan, weights: TermWeights, settings: RankSettings) -> list[set[str]]:
    """The rare names of the examples the goal gives of its central entity ("state space models like S4 and Hyena"),
    not of the benchmarks listed after it ("… on MMLU and AlpacaEval")."""
    examples = [a for a in plan.aspects if plan.central and a.example_of == plan.central]
    # capitalised is enough for an example: "like S4 and Hyena"
    named = (_rare_names(a.text, weights, settings, lambda word: word[:1].isupper()) for a in examples)
    return [names for names in named if names]


def names_method(plan: Plan, title: str, weights: TermWeights, settings: RankSettings) -> bool:
    """Whether the title names the goal's method: the method's own paper."""
    names = method_names(plan, weights, settings)
    return bool(names) and bool(names & term_set(title))
