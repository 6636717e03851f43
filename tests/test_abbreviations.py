"""A goal's acronyms are spelled out as retrieved papers define them, searched for, and counted where written out."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.abbreviations import goal_acronyms, spell_out, text_terms
from tasks.index.text import content_terms
from tasks.models import Paper, SearchResult
from tasks.plan import plan_queries
from tasks.retrieve import IN_PROCESS, retrieve, spell_out_plan
from tasks.settings import Settings
from tasks.sources.paper_source import CorpusSource

FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
COT_PAPER = "2201.90001"


def test_acronyms_the_goal_spells_out_itself_or_that_carry_digits_are_left_alone():
    goal = "Do VLMs with Mixture of Experts (MoE) routing beat GPT-4o and 7B models at CoT prompting?"
    assert goal_acronyms(goal) == ["VLMs", "CoT"]


def test_the_most_frequent_definition_wins_once_enough_papers_give_it():
    texts = [
        "We study chain-of-thought (CoT) prompting.",
        "Chain of Thought (CoT) reasoning helps small models.",
        "Vision-language models (VLMs) ground text in images.",
        "Cost of training (CoT) is high.",  # one paper's odd use: outvoted
    ]
    assert spell_out("Do VLMs gain from CoT?", texts, min_count=2) == {"CoT": "chain of thought"}
    assert spell_out("Do VLMs gain from CoT?", texts, min_count=1)["VLMs"] == "vision language models"
    assert spell_out("Do VLMs gain from CoT?", texts, min_count=3) == {}


def test_a_phrase_the_goal_writes_out_is_stated_by_the_acronym_the_papers_define_for_it():
    texts = [
        "We introduce Direct Preference Optimization (DPO), a stable alternative to RLHF.",
        "Direct preference optimization (DPO) trains on preference pairs.",
        "Proximal Policy Optimization (PPO) is used widely.",  # the goal writes no phrase it abbreviates
    ]
    spelled = spell_out("Does direct preference optimization match PPO on win rate?", texts, min_count=2)
    assert spelled == {"DPO": "direct preference optimization"}
    assert {"direct", "prefer", "optim"} <= text_terms("DPO exceeds PPO-based RLHF in win rate.", spelled)
    assert "direct" not in text_terms("PPO exceeds RLHF in win rate.", spelled)


def test_an_acronym_the_goal_defines_is_read_as_its_phrase_without_any_paper():
    goal = "Which studies proposed a progressive transformer for Sign Language Production (SLP)?"
    spelled = spell_out(goal, [], min_count=2)
    assert spelled == {"SLP": "sign language production"}
    assert set(content_terms("sign language production")) <= text_terms("Back translation helps SLP models.", spelled)


def test_a_text_writing_the_long_form_states_the_acronym():
    spelled = {"CoT": "chain of thought"}
    assert "cot" in text_terms("Chain-of-thought prompting elicits reasoning.", spelled)
    assert "cot" not in text_terms("A chain of custody for thought experiments", spelled)  # not side by side
    assert "cot" not in text_terms("Prompting elicits reasoning.", spelled)


def test_run_searches_the_long_form_and_ranks_the_paper_that_only_writes_it_out(tmp_path: Path):
    papers = [
        {
            "id": COT_PAPER,
            "title": "Chain-of-Thought Prompting Elicits Reasoning in Large Language Models",
            "abstract": "We explore how generating a chain of thought, a series of intermediate reasoning steps, "
            "improves the ability of large language models to perform complex reasoning.",
        },
        *(
            {
                "id": f"2302.9000{i}",
                "title": f"Faithful reasoning study {i}",
                "abstract": f"Chain-of-thought (CoT) prompting helps on task family {i}. We analyse CoT prompting "
                "failures on arithmetic word problems.",
            }
            for i in range(1, 4)
        ),
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(FIXTURE.read_text() + "".join(json.dumps(p) + "\n" for p in papers))
    source = CorpusSource.open(corpus, tmp_path / "cache")

    found = retrieve("Which paper introduced the method known as CoT prompting?", source, Settings(), IN_PROCESS)

    assert found.plan.spelled_out == {"CoT": "chain of thought"}
    assert "chain of thought prompting" in found.plan.queries
    cot_paper = next(r for r in found.ranked if r.paper.id == COT_PAPER)
    assert cot_paper.term_coverage == 1.0  # "cot" counted where the title writes chain-of-thought
    assert cot_paper.kept


def test_the_central_entity_written_out_says_a_word_its_long_form_ends_with_once():
    plan = plan_queries.fn("Which papers search reasoning trees by DFS search?").model_copy(
        update={"central": "DFS search"}
    )
    abstracts = [f"Depth first search (DFS) explores reasoning tree {i}." for i in range(3)]
    results = [
        SearchResult(query="DFS search", papers=[Paper(id=f"2401.0000{i}", title="Trees", abstract=a)])
        for i, a in enumerate(abstracts)
    ]

    spelled = spell_out_plan(plan, results, min_count=2)

    assert spelled.spelled_out["DFS"] == "depth first search"
    assert "depth first search" in spelled.queries and "depth first search search" not in spelled.queries


def test_an_acronym_that_takes_more_than_a_words_initial_is_still_read_as_its_phrase():
    texts = [
        "Sparse autoencoders (SAEs) decompose activations into features.",
        "We train sparse autoencoders (SAE) on GPT-2 small.",
        "Vision transformers (ViTs) are robust to corruptions.",
        "We study vision transformers (ViT) on ImageNet-C.",
        "Sparse attention (SAE) is cheap.",  # the letters must come in order from each word: not "sparse attention"
    ]
    goal = "How well do sparse autoencoders and vision transformers recover features?"
    spelled = spell_out(goal, texts, min_count=2)
    assert spelled["SAE"] == spelled["SAEs"] == "sparse autoencoders"
    assert spelled["ViT"] == "vision transformers"
    assert set(content_terms("sparse autoencoders")) <= text_terms("SAEs find 12% more features.", spelled)
