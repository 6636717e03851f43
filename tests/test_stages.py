"""Each stage through `.fn()` on the project's own fixture corpus."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from tasks.backends.factory import offline_models, source_term_weights
from tasks.backends.prompts import JudgeReply
from tasks.coverage import aspect_verdicts
from tasks.draft import compose_draft, verdict_line
from tasks.embed import embed
from tasks.extract import extract_claims
from tasks.index.text import content_terms
from tasks.judge import combine
from tasks.models import (
    Aspect,
    AspectKind,
    AspectVerdict,
    Claim,
    ClaimIssue,
    FindingKind,
    IssueKind,
    Label,
    Paper,
    Policy,
    RankedPaper,
    SearchResult,
    paper_text,
)
from tasks.plan import GoalError, clean_goal, plan_queries
from tasks.policy import decide_policy
from tasks.rank import goal_passage, merge_rank
from tasks.retrieve import IN_PROCESS, rank_again, retrieve
from tasks.revise import revise
from tasks.search import search
from tasks.settings import PlanSettings, RankSettings, Settings
from tasks.sources.arxiv import ArxivSource
from tasks.sources.paper_source import CorpusSource
from tasks.tribunal import ROLES, aggregate, review
from tasks.verify import verify_claims, verify_one
from tests.factories import MOE_LORA_PAPER

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
GOAL = "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?"
OFF_TOPIC_GOAL = "How does quantum error correction scale on superconducting qubits?"
SETTINGS = Settings()


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> CorpusSource:
    return CorpusSource.open(FIXTURE, tmp_path_factory.mktemp("cache"))


def run_until_draft(goal: str, source: CorpusSource):
    found = retrieve(goal, source, SETTINGS, IN_PROCESS)
    plan, ranked, embedder = found.plan, found.ranked, found.embedder
    kept = [r for r in ranked if r.kept]
    claims = verify_claims.fn(extract_claims.fn(plan, kept, SETTINGS.extract), [r.paper for r in kept], SETTINGS.verify)
    _, claims = embed.fn([r.paper for r in kept], claims, embedder, SETTINGS.verify.duplicate_similarity)
    return plan, ranked, compose_draft.fn(plan, ranked, claims)


def convene(draft):
    return aggregate([review.fn(draft, role, SETTINGS.tribunal) for role in ROLES], 0)


def test_plan_gives_four_distinct_queries_from_the_goals_words():
    plan = plan_queries.fn(GOAL)
    assert len(plan.queries) == 4 and len({q.lower() for q in plan.queries}) == 4
    goal_words = {w.lower() for w in GOAL.replace("?", "").split()}
    for query in plan.queries:
        assert {w.lower() for w in query.split()} <= goal_words, query
    assert "mixture-of-experts LoRA adapters" in plan.aspect_texts


def test_plan_searches_the_topic_not_how_the_request_is_phrased():
    plan = plan_queries.fn("Could you recommend work that first introduced visual instruction tuning?")
    assert plan.aspect_texts == ["visual instruction tuning"]
    assert all(w not in q for q in plan.queries for w in ("recommend", "first", "introduced"))
    assert "introduc" not in plan.key_terms
    # whole words only: "demonstrations" is a topic even though "demonstrated" is phrasing
    assert "demonstrations" in plan_queries.fn("Which papers demonstrated how to pick demonstrations?").central


def test_plan_with_corpus_weights_searches_the_goals_rarest_words(source):
    goal = "What is the accuracy of graph neural network models for forecasting urban traffic?"
    weights = source_term_weights(source)
    plan = plan_queries.fn(goal, weights=weights)
    without = plan_queries.fn(goal)
    assert plan.queries[:3] == without.queries[:3] and plan.aspects == without.aspects
    (rarest,) = set(plan.queries) - set(without.queries)

    def idf(word: str) -> float:
        return weights.weight(content_terms(word)[0])

    # "models" is in most fixture papers, and "accuracy" only frames the question
    assert len(rarest.split()) == 3 and not {"models", "accuracy"} & set(rarest.split())
    assert min(idf(w) for w in rarest.split()) >= idf("models")


def test_plan_searches_a_word_the_goal_writes_in_two_cases_once(source):
    goal = "Can you provide scholarly works that discuss domain-specific knowledge in Knowledge Graphs?"
    plan = plan_queries.fn(goal, weights=source_term_weights(source))
    for query in plan.queries:
        words = [w.lower() for w in query.split()]
        assert len(words) == len(set(words)), query


def test_plan_never_searches_one_common_word_alone_and_searches_fewer_queries_deeper(source):
    goal = "Which papers discuss dense LoRA fine-tuning?"
    weights = source_term_weights(source)
    plan = plan_queries.fn(goal, weights=weights)
    unfiltered = plan_queries.fn(goal, weights=weights, settings=PlanSettings(max_query_paper_share=1.0))
    # every word of the goal is in more than 4% of the 14 fixture papers: alone, each would fetch papers on anything
    assert plan.queries == ["dense LoRA fine-tuning"] and len(unfiltered.queries) == 4
    assert {len(q.split()) for q in unfiltered.queries[1:]} == {1}
    asked: list[int] = []

    def searches(queries, source, settings):
        asked.extend(settings.search.per_query_limit for _ in queries)
        return IN_PROCESS.search(queries, source, settings)

    retrieve(goal, source, SETTINGS, replace(IN_PROCESS, search=searches))
    assert asked[0] == 4 * SETTINGS.search.per_query_limit  # one query searches as many papers as four would


@pytest.mark.parametrize("goal", ["", "   \n\t", "what is the"])
def test_goal_without_topic_is_rejected(goal):
    with pytest.raises(GoalError):
        clean_goal(goal, 1000)


def test_overlong_goal_is_rejected_and_control_characters_are_removed():
    with pytest.raises(GoalError, match="characters"):
        clean_goal("lora " * 500, 1000)
    assert clean_goal("LoRA\x00 experts\x1b", 1000) == "LoRA experts"


def test_merge_rank_dedupes_versions_and_gates_off_topic_papers(source):
    plan = plan_queries.fn(GOAL)
    paper = source.index.paper(0)
    versioned = paper.model_copy(update={"id": paper.id + "v3"})
    results = [search.fn(q, source, 20) for q in plan.queries] + [SearchResult(query="x", papers=[versioned])]
    embedder, weights = offline_models(source, results)
    ranked = merge_rank.fn(plan, results, embedder, weights, SETTINGS.rank)
    ids = [r.paper.id for r in ranked]
    assert len(ids) == len(set(ids)) and paper.id in ids
    kept = {r.paper.id for r in ranked if r.kept}
    assert {"2404.90001", "2405.90002", "2406.90003"} <= kept
    assert not kept & {"2301.80001", "2302.80002", "2304.80004"}
    assert all(r.relevance >= SETTINGS.rank.relevance_threshold for r in ranked if r.kept)


def test_merge_rank_lifts_papers_stating_the_goals_phrase():
    scattered = [
        Paper(id=f"2401.{i:05d}", title=f"Tuning study {i}", abstract="Visual models need instruction data and tuning.")
        for i in range(10)
    ]
    phrased = Paper(id="2402.00001", title="Study", abstract="We scale visual instruction tuning to new models.")
    plan = plan_queries.fn("Which papers study visual instruction tuning?")
    results = [SearchResult(query=plan.queries[0], papers=[*scattered, phrased])]
    # not a corpus: the offline models are fitted on what was retrieved
    embedder, weights = offline_models(ArxivSource(query_url="http://127.0.0.1:9/?{}"), results)

    def position(phrase_rank_weight: float) -> int:
        # the phrase channel alone: the MaxSim rerank (dense extra) would reorder these near-identical texts too
        update = {"phrase_rank_weight": phrase_rank_weight, "maxsim_candidates": 0}
        settings = SETTINGS.rank.model_copy(update=update)
        ranked = merge_rank.fn(plan, results, embedder, weights, settings)
        return [r.paper.id for r in ranked].index(phrased.id)

    assert position(SETTINGS.rank.phrase_rank_weight) < position(0.0)


NO_MAXSIM = SETTINGS.rank.model_copy(update={"maxsim_candidates": 0})


def kept_ids(goal: str, papers: list[Paper], rank_settings: RankSettings = NO_MAXSIM) -> set[str]:
    """The papers merge_rank keeps for the goal among these search results, offline models fitted on them."""
    results = [SearchResult(query="search", papers=papers)]
    embedder, weights = offline_models(ArxivSource(query_url="http://127.0.0.1:9/?{}"), results)
    plan = plan_queries.fn(goal)
    return {r.paper.id for r in merge_rank.fn(plan, results, embedder, weights, rank_settings) if r.kept}


def test_the_earliest_paper_stating_the_entity_is_kept_when_the_goal_asks_who_introduced_it():
    later = [
        Paper(id=f"2305.{i:05d}", title=f"Sparse adapter routing study {i}", abstract="Sparse adapter routing helps.")
        for i in range(12)
    ]
    origin = Paper(id="2106.00042", title="A new layer", abstract="We propose sparse adapter routing for transformers.")
    off_topic = Paper(id="1901.00001", title="Old", abstract="Dense layers for vision.")
    papers = [*later, origin, off_topic]

    asked = "Which paper first introduced sparse adapter routing?"
    assert origin.id in kept_ids(asked, papers)  # the earliest that states it; the older off-topic paper does not
    assert origin.id not in kept_ids(asked, papers, NO_MAXSIM.model_copy(update={"keep_origin_paper": False}))
    assert origin.id not in kept_ids(
        "Which papers study sparse adapter routing?", papers
    )  # not asked who introduced it


def test_papers_on_the_same_words_in_another_order_are_less_relevant_to_the_goals_entity():
    reversed_order = later_papers(
        "2410", "Retrieval-augmented generation study", "Retrieval-augmented generation improves open-domain QA."
    )
    own = Paper(
        id="2009.08553",
        title="Generation-Augmented Retrieval for Open-domain Question Answering",
        abstract="We propose generation-augmented retrieval for open-domain question answering.",
    )
    results = [SearchResult(query="search", papers=[*reversed_order, own])]
    embedder, weights = offline_models(ArxivSource(query_url="http://127.0.0.1:9/?{}"), results)
    plan = plan_queries.fn("Which work proposed generation-augmented retrieval for question answering?")
    relevance = {r.paper.id: r.relevance for r in merge_rank.fn(plan, results, embedder, weights, NO_MAXSIM)}
    assert all(relevance[p.id] < 0.8 * relevance[own.id] for p in reversed_order)


def test_the_maxsim_passage_keeps_the_title_and_the_sentences_stating_the_goal_within_its_words():
    abstract = (
        "Language models are large. Ring attention spreads long context across devices. "
        "We thank the reviewers for many helpful comments on earlier drafts. Ring attention scales to 1M tokens."
    )
    paper = Paper(id="2310.01889", title="Ring Attention", abstract=abstract)
    weights = {"ring": 6.0, "attent": 2.0, "context": 3.0, "token": 1.0}
    assert goal_passage(paper, weights, 0) == paper_text(paper)
    assert goal_passage(paper, weights, 16) == (
        "Ring Attention. Ring attention spreads long context across devices. Ring attention scales to 1M tokens."
    )
    assert goal_passage(paper, weights, 10) == "Ring Attention. Ring attention spreads long context across devices."


def later_papers(month: str, title: str, abstract: str) -> list[Paper]:
    """Ten later papers on the topic, each titled by it: the crowd a paper kept first must stand out of."""
    return [Paper(id=f"{month}.{i:05d}", title=f"{title} {i}", abstract=abstract) for i in range(10)]


def test_the_earliest_paper_whose_title_names_the_topic_is_kept_first():
    later = later_papers(
        "2505",
        "Many-shot in-context learning for task",
        "Many-shot in-context learning with hundreds of examples beats fine-tuning on classification.",
    )
    origin = Paper(
        id="2404.11018", title="Many-shot In-context Learning", abstract="We study many-shot in-context learning."
    )
    # older, and its title has every content word of the topic, but says zero-shot
    apart = Paper(
        id="2305.15035", title="Zero-shot In-context Learning", abstract="Zero-shot in-context learning, many tasks."
    )
    goal, papers = (
        "Does many-shot in-context learning beat fine-tuning on classification tasks?",
        [*later, apart, origin],
    )
    kept = kept_ids(goal, papers)
    assert origin.id in kept and apart.id not in kept
    assert origin.id not in kept_ids(goal, papers, NO_MAXSIM.model_copy(update={"keep_titled_origin": False}))


def test_the_earliest_paper_titled_by_a_one_word_name_is_kept_first_but_not_by_a_common_word():
    later = later_papers("2505", "QLoRA fine-tuning for task", "QLoRA fine-tuning adapts quantized models to tasks.")
    origin = Paper(id="2305.14314", title="QLoRA: Efficient Finetuning", abstract="We present QLoRA for finetuning.")
    goal, papers = "Could you provide me some work where the concept of QLoRA is proposed?", [*later, origin]
    assert origin.id in kept_ids(goal, papers)
    assert origin.id not in kept_ids(goal, papers, NO_MAXSIM.model_copy(update={"keep_titled_origin": False}))
    # a plain word names no method: the earliest paper titled "adapters" is not kept first for it
    plain = later_papers("2505", "Adapters for task", "Adapters fine-tune quantized models on tasks.")
    first = Paper(id="2305.00001", title="Adapters: Efficient Finetuning", abstract="We present adapters again.")
    assert first.id not in kept_ids("Which works study adapters?", [*plain, first])


def test_the_own_paper_of_each_example_the_goal_gives_of_its_entity_is_kept():
    later = later_papers(
        "2405",
        "State space models for long sequences",
        "State space models handle long-range dependencies on the Long Range Arena.",
    )
    hyena = Paper(id="2302.10866", title="Hyena Hierarchy", abstract="Convolutions for long-range dependencies.")
    goal, papers = "How do state space models like Hyena handle long-range dependencies?", [*later, hyena]
    settings = NO_MAXSIM.model_copy(update={"method_name_idf_share": 0.5})
    assert hyena.id in kept_ids(goal, papers, settings)
    assert hyena.id not in kept_ids(goal, papers, settings.model_copy(update={"keep_example_papers": False}))
    # a benchmark listed after the entity is where it was measured, not an example of it
    board = Paper(id="2302.10867", title="LRArena Leaderboard", abstract="A leaderboard of long-range benchmarks.")
    goal = "How do state space models perform on LRArena?"
    assert board.id not in kept_ids(goal, [*later, board], settings)


def test_only_the_methods_own_paper_is_kept_ahead_of_the_gate_not_the_papers_applying_it():
    own = Paper(id="2301.00001", title="FooLoRA: a new layer", abstract="A layer for transformers.")
    applying = [
        Paper(
            id=f"2405.{i:05d}",
            title=f"FooLoRA fine-tuning for radiology reports {i}",
            abstract="We fine-tune a clinical model on hospital notes and report its agreement with radiologists.",
        )
        for i in range(3)
    ]
    on_topic = [
        Paper(
            id=f"2402.{i:05d}", title=f"Adapter routing {i}", abstract="Routing LoRA adapters cuts inference latency."
        )
        for i in range(8)
    ]
    results = [SearchResult(query="FooLoRA routing", papers=[*applying, *on_topic, own])]
    embedder, weights = offline_models(ArxivSource(query_url="http://127.0.0.1:9/?{}"), results)
    plan = plan_queries.fn("How does FooLoRA routing of LoRA adapters affect inference latency?")
    ranked = merge_rank.fn(plan, results, embedder, weights, SETTINGS.rank.model_copy(update={"maxsim_candidates": 0}))
    by_id = {r.paper.id: r for r in ranked}
    gate = SETTINGS.rank.relevance_threshold
    assert by_id[own.id].kept and by_id[own.id].relevance < gate  # kept first, whatever its relevance
    assert any(by_id[p.id].relevance < gate for p in applying)
    assert all(r.relevance >= gate for r in ranked if r.kept and r.paper.id != own.id)


def test_a_plan_or_hypothesis_scores_below_the_finding_it_would_be():
    from tasks.extract import sentence_score

    terms = {"reward", "model", "hallucin", "answer"}
    found = "Our reward model scores grounded answers 12% higher than hallucinated answers."
    planned = "The framework will train a reward model to score grounded answers 12% higher than hallucinated answers."
    hypothesis = "We hypothesize that a reward model scores grounded answers 12% higher than hallucinated answers."
    score = sentence_score(found, terms, False, SETTINGS.extract.min_finding)
    assert score > 0
    assert sentence_score(planned, terms, False, SETTINGS.extract.min_finding) < score
    assert sentence_score(hypothesis, terms, False, SETTINGS.extract.min_finding) < score


def test_a_paper_whose_findings_miss_aspects_of_the_goal_is_quoted_for_what_it_proposes():
    goal = "Which studies proposed a progressive transformer for sign language production?"
    plan = plan_queries.fn(goal)
    abstract = (
        "Sign language production translates spoken language to sign video. "
        "Previous work has shown the need for architectures suited to continuous sequences. "
        "In this paper, we propose Progressive Transformers, a novel architecture for sign language production. "
        "Experiments show gains of 4 BLEU over earlier models."
    )
    paper = Paper(
        id="2004.14874", title="Progressive Transformers for End-to-end Sign Language Production", abstract=abstract
    )
    ranked = RankedPaper(paper=paper, fused_score=1.0, relevance=0.45, term_coverage=0.5, similarity=0.5, kept=True)
    claims = extract_claims.fn(plan, [ranked], SETTINGS.extract)
    proposal = next(c for c in claims if c.text.startswith("In this paper, we propose"))
    assert "progressive transformer" in proposal.aspects and proposal.contribution
    assert not any(c.contribution for c in claims if c is not proposal)
    assert abstract[proposal.start : proposal.end] == proposal.source_sentence
    assert len(claims) <= SETTINGS.extract.claims_per_paper
    # a paper whose findings already speak to every aspect it proposes work on is quoted for them alone
    on_goal = ranked.model_copy(
        update={
            "paper": paper.model_copy(
                update={
                    "abstract": abstract.replace(
                        "Experiments show gains of 4 BLEU over earlier models",
                        "Progressive Transformers show gains of 4 BLEU in sign language production",
                    )
                }
            )
        }
    )
    assert not any(c.text.startswith("In this paper") for c in extract_claims.fn(plan, [on_goal], SETTINGS.extract))


def test_what_an_abstract_says_of_the_field_before_its_contribution_is_no_finding_of_the_paper():
    plan = plan_queries.fn("How does mixture-of-experts LoRA compare with dense LoRA fine-tuning in accuracy?")
    background = (
        "Parameter-efficient fine-tuning methods such as LoRA significantly reduce the number of trainable "
        "parameters and improve accuracy over prompt tuning."
    )
    result = "Experiments show that our mixture-of-experts LoRA improves accuracy by 3% over dense LoRA fine-tuning."
    abstract = f"Large language models keep growing. {background} To this end, we propose MoLA. {result}"
    paper = Paper(id="2401.00001", title="MoLA: Mixture of LoRA Experts", abstract=abstract)
    ranked = RankedPaper(paper=paper, fused_score=1.0, relevance=0.6, term_coverage=0.5, similarity=0.5, kept=True)
    texts = [c.text for c in extract_claims.fn(plan, [ranked], SETTINGS.extract)]
    assert result in texts and background not in texts
    # a finding in the first person is the paper's own, even before it says what else it did
    own = "Going to mixture-of-experts LoRA, we observe accuracy gains of 3% over dense LoRA fine-tuning."
    early = paper.model_copy(update={"abstract": abstract.replace(background, own)})
    assert own in [
        c.text for c in extract_claims.fn(plan, [ranked.model_copy(update={"paper": early})], SETTINGS.extract)
    ]
    # without a contribution statement only the first sentence sets the scene
    plain = paper.model_copy(update={"abstract": abstract.replace("To this end, we propose MoLA. ", "")})
    assert background in [
        c.text for c in extract_claims.fn(plan, [ranked.model_copy(update={"paper": plain})], SETTINGS.extract)
    ]


def test_a_proposal_takes_the_place_only_of_a_finding_whose_aspects_other_findings_state():
    from tasks.extract import with_contribution

    proposal = (0.0, 0, 10, ["progressive transformer"])
    unique = [(0.9, 20, 30, ["sign language production"]), (0.8, 40, 50, ["BLEU"])]
    assert with_contribution(unique, proposal, limit=2) == (unique, None), "each finding states its own aspect"
    assert with_contribution(unique, proposal, limit=3) == ([proposal, *unique], proposal), "room left"
    repeated = [(0.9, 20, 30, ["sign language production", "BLEU"]), (0.8, 40, 50, ["BLEU"])]
    assert with_contribution(repeated, proposal, limit=2) == ([proposal, repeated[0]], proposal)


def test_a_later_paper_is_quoted_for_an_aspect_no_paper_before_it_addresses():
    plan = plan_queries.fn("How much does Medusa speed up generation compared with speculative decoding?")
    scene = "Large language models decode one token at a time. "
    first = scene + "Medusa speeds up generation by 2.2x on Vicuna 7B with a 5% gain in quality."
    second = (
        scene + "Medusa speeds up generation by 2.8x on Vicuna 33B with a 7% accuracy gain. "
        "Compared with speculative decoding, it is 1.4x faster."
    )
    papers = [
        RankedPaper(
            paper=Paper(id=f"2401.0000{i}", title="Decoding heads", abstract=abstract),
            fused_score=1.0 - i / 10,
            relevance=0.8,
            term_coverage=0.5,
            similarity=0.5,
            kept=True,
        )
        for i, abstract in enumerate([first, second])
    ]

    def second_claim(unaddressed_bonus: float) -> list[str]:
        one = SETTINGS.extract.model_copy(update={"claims_per_paper": 1, "unaddressed_bonus": unaddressed_bonus})
        return next(c.aspects for c in extract_claims.fn(plan, papers, one) if c.paper_id == "2401.00001")

    assert "speculative decoding" not in second_claim(0.0)  # its strongest sentence repeats the first paper's aspect
    assert "speculative decoding" in second_claim(SETTINGS.extract.unaddressed_bonus)


def test_claims_come_from_several_papers_with_exact_offsets(source):
    _, ranked, draft = run_until_draft(GOAL, source)
    abstracts = {r.paper.id: r.paper.abstract for r in ranked}
    assert len({c.paper_id for c in draft.claims}) >= 3
    for claim in draft.claims:
        abstract = abstracts[claim.paper_id]
        assert abstract[claim.start : claim.end] == claim.source_sentence
        assert claim.start == 0 or not abstract[claim.start - 1].isalnum()
        assert claim.end == len(abstract) or not abstract[claim.end].isalnum()


def test_on_topic_draft_is_answered_and_approved(source):
    _, _, draft = run_until_draft(GOAL, source)
    tribunal = convene(draft)
    decision = decide_policy.fn(draft, tribunal, SETTINGS.tribunal)
    assert draft.answered and draft.citations
    assert tribunal.score >= SETTINGS.tribunal.approve_threshold, tribunal
    assert decision.policy is Policy.AUTO_APPROVE, decision


def test_aspects_backed_by_the_same_findings_share_one_table_and_one_summary(source):
    _, _, draft = run_until_draft(GOAL, source)
    row_sets = [tuple(r.claim_id for r in t.rows) for t in draft.tables]
    assert len(row_sets) == len(set(row_sets)), "no evidence table repeats another"
    shared = [t for t in draft.tables if t.also]
    assert shared, "on the fixture, every aspect's strongest findings are the same claims"
    for table in shared:
        for aspect in table.also:
            assert f"On {aspect}: The {len(table.rows)} findings counted on {table.aspect}" in draft.answer
    assert len(re.findall(r"Of \d+ findings from", draft.answer)) == len(draft.tables), "each table's counts said once"


def test_off_topic_goal_yields_insufficient_evidence_and_no_approval(source):
    _, ranked, draft = run_until_draft(OFF_TOPIC_GOAL, source)
    tribunal = convene(draft)
    decision = decide_policy.fn(draft, tribunal, SETTINGS.tribunal)
    assert not any(r.kept for r in ranked)
    assert not draft.answered and "does not answer" in draft.answer
    assert tribunal.score < 6.5
    assert decision.policy is not Policy.AUTO_APPROVE
    assert any(f.kind is FindingKind.NO_EVIDENCE for f in tribunal.findings)


SOURCE = MOE_LORA_PAPER


def claim(text: str) -> Claim:
    return Claim(id="c", text=text, paper_id=SOURCE.id, source_sentence=text, start=0, end=len(text))


def test_faithful_claim_is_verified_with_its_evidence_sentence():
    checked = verify_one(
        claim("dense LoRA matches MoE LoRA adapters on single-task fine-tuning at 30% lower inference latency"),
        SOURCE,
        SETTINGS.verify,
    )
    assert checked.label is Label.VERIFIED
    assert "30% lower inference latency" in checked.evidence


@pytest.mark.parametrize(
    "text, issue",
    [
        ("dense LoRA matches them on single-task fine-tuning at 45% lower inference latency", "number"),
        ("MoE LoRA adapters do not outperform dense LoRA on heterogeneous multi-task mixtures", "negation"),
        ("QLoRA adapters outperform dense LoRA on heterogeneous multi-task mixtures", "name"),
        ("dense LoRA matches them on single-task fine-tuning at 30% higher inference latency", "direction"),
    ],
)
def test_perturbed_claim_is_not_verified(text, issue):
    checked = verify_one(claim(text), SOURCE, SETTINGS.verify)
    assert checked.label is not Label.VERIFIED
    assert any(i.kind == issue for i in checked.issues), checked.issues


def test_claim_from_another_paper_is_unsupported_though_baseline_may_accept_it():
    checked = verify_one(
        claim("Bacterial diversity decreased by 22% after two dry seasons of drought."), SOURCE, SETTINGS.verify
    )
    assert checked.label is Label.UNSUPPORTED


def test_near_duplicate_claims_are_merged(source):
    embedder, _ = offline_models(source, [])
    a = claim("MoE LoRA adapters outperform dense LoRA on heterogeneous multi-task mixtures.").model_copy(
        update={"confidence": 0.9}
    )
    b = a.model_copy(update={"id": "d", "text": a.text + " ", "confidence": 0.1})
    c = claim("Dark matter halos are spherical.").model_copy(update={"id": "e"})
    embeddings, merged = embed.fn([SOURCE], [a, b, c], embedder, 0.92)
    assert [m.id for m in merged] == ["c", "e"] and merged[0].duplicates == ["d"]
    assert embeddings.dimension == len(embeddings.claim_vectors["c"]) > 0


def test_a_paper_a_revision_drops_stays_listed_as_dropped_and_is_never_kept(source):
    found = retrieve(GOAL, source, SETTINGS, IN_PROCESS)
    first = next(r.paper.id for r in found.ranked if r.kept)
    again = rank_again(found, [], [first], SETTINGS, IN_PROCESS)
    listed = [r for r in again.ranked if r.paper.id == first]
    assert len(listed) == 1 and listed[0].dropped and not listed[0].kept
    assert len(again.ranked) == len(found.ranked), "every candidate is still on the list"
    assert not any(r.dropped for r in again.ranked if r.paper.id != first)
    assert sum(r.kept for r in again.ranked) >= sum(r.kept for r in found.ranked) - 1


def test_revise_searches_for_missing_aspects_and_drops_unsupported_claims(source):
    _, _, draft = run_until_draft(GOAL, source)
    bad = claim("MoE LoRA adapters cut latency by 99%.").model_copy(
        update={
            "id": "bad",
            "label": Label.UNSUPPORTED,
            "issues": [ClaimIssue(kind=IssueKind.NUMBER, detail="not in evidence: 99%")],
        }
    )
    forgetting = Aspect(text="catastrophic forgetting", kind=AspectKind.QUANTITY)
    weak_plan = draft.plan.model_copy(update={"aspects": [*draft.plan.aspects, forgetting]})
    claims = [*draft.claims, bad]
    coverage = aspect_verdicts(weak_plan, claims, draft.papers)
    tribunal = convene(draft.model_copy(update={"claims": claims, "plan": weak_plan, "coverage": coverage}))
    plan = revise.fn(draft, tribunal, tried=[f"catastrophic forgetting {draft.plan.central}"])
    assert "bad" in plan.drop_claim_ids
    # the query with the central entity was already run (in another word order), so the aspect alone is searched
    assert plan.queries == ["catastrophic forgetting"]


def test_a_claim_demoted_from_verified_is_neither_cited_nor_evidence_for_its_aspect(source):
    plan, ranked, draft = run_until_draft(GOAL, source)
    cited = draft.citations[0].claim_id
    claims = [c.model_copy(update={"label": Label.WEAK}) if c.id == cited else c for c in draft.claims]
    redrafted = compose_draft.fn(plan, ranked, claims)
    assert cited not in {c.claim_id for c in redrafted.citations}
    assert all(cited not in v.claim_ids for v in redrafted.coverage)


def test_what_a_paper_proposes_is_quoted_as_such_and_answers_nothing_alone(source):
    plan, ranked, draft = run_until_draft(GOAL, source)
    proposal = draft.citations[0].claim_id
    claims = [c.model_copy(update={"contribution": c.id == proposal}) for c in draft.claims]
    redrafted = compose_draft.fn(plan, ranked, claims)
    text = next(c.text for c in claims if c.id == proposal)
    assert redrafted.answered and text in redrafted.answer.split("the papers propose or study (not findings):")[1]
    assert all(r.claim_id != proposal for t in redrafted.tables for r in t.rows), "not a row of an evidence table"
    proposals_only = compose_draft.fn(plan, ranked, [c.model_copy(update={"contribution": True}) for c in claims])
    assert not proposals_only.answered and "no verified finding addresses" in proposals_only.answer
    # the verdict says when an aspect has no finding, only a proposal
    topic = Aspect(text="progressive transformer", kind=AspectKind.TOPIC)
    proposed = AspectVerdict(aspect=topic, claim_ids=["c"], paper_ids=["p"], independent_papers=0)
    assert verdict_line(proposed, {"p": 3}).endswith("only what [3] propose or study addresses it, no finding")
    found = proposed.model_copy(update={"independent_papers": 1})
    assert verdict_line(found, {"p": 3}).endswith("addressed by [3]")


def test_judge_support_never_excuses_a_direction_flip():
    flipped = verify_one(
        claim("dense LoRA matches them on single-task fine-tuning at 30% higher inference latency"),
        SOURCE,
        SETTINGS.verify,
    )
    assert flipped.has_hard_issue and any(i.kind is IssueKind.DIRECTION for i in flipped.issues)
    judged = combine(flipped, JudgeReply(verdict="SUPPORTS", reason="the abstract says so"), SETTINGS.verify)
    assert judged.label is Label.UNSUPPORTED


def test_judge_share_weighs_the_verdict_against_the_offline_confidence():
    checked = verify_one(claim("MoLA reduces trainable parameters"), SOURCE, SETTINGS.verify)
    refuted = JudgeReply(verdict="REFUTES", reason="no")
    ignored = combine(checked, refuted, SETTINGS.verify.model_copy(update={"judge_share": 0.0}))
    assert ignored.confidence == round(checked.confidence, 4) > 0
    assert combine(checked, refuted, SETTINGS.verify).confidence == round(0.5 * checked.confidence, 4)


def test_a_draft_addressing_under_half_the_aspects_is_held_for_the_owner(source):
    _, _, draft = run_until_draft(GOAL, source)
    tribunal = convene(draft)
    addressed = [v for v in draft.coverage if v.addressed]
    off = [
        AspectVerdict(aspect=Aspect(text=text, kind=AspectKind.TOPIC), claim_ids=[], paper_ids=[], independent_papers=0)
        for text in ["protein folding", "quantum chemistry", "weather forecasting", "tax law", "poetry"][
            : len(addressed) + 1
        ]
    ]
    held = decide_policy.fn(draft.model_copy(update={"coverage": addressed + off}), tribunal, SETTINGS.tribunal)
    assert held.policy is Policy.HUMAN_REVIEW
    assert any(f"addresses only {len(addressed)} of the goal's" in gate for gate in held.failed_gates)
    # one aspect short of all is an incomplete answer, not an off-topic one
    soft = decide_policy.fn(draft.model_copy(update={"coverage": addressed + off[:1]}), tribunal, SETTINGS.tribunal)
    assert soft.policy is Policy.SOFT_APPROVE and not soft.failed_gates
