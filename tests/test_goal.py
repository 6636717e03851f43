"""Goal understanding: long, specific questions parsed into typed aspects and searched with sensible queries."""

from __future__ import annotations

import math

import pytest

from tasks.goal import goal_words, parse_goal, split_statements
from tasks.ml.embedders import TermWeights
from tasks.models import AspectKind
from tasks.plan import plan_queries

LONG_GOAL = (
    "How does MixLoRA's routing of LoRA experts affect inference latency and GPU memory on LLaMA-2 7B/13B/70B "
    "compared with standard LoRA on MMLU, LongBench and HumanEval?"
)


def kinds(goal: str, weights: TermWeights | None = None) -> dict[str, AspectKind]:
    return {a.text: a.kind for a in parse_goal(goal, weights)}


def test_model_sizes_and_versioned_names_stay_whole():
    words = goal_words("Do GPT-4o and LLaMA-2 7B beat a 110M BERT or Llama-3.1-8B on MMLU (1.5B/7B)?")
    for token in ["GPT-4o", "LLaMA-2", "7B", "110M", "Llama-3.1-8B", "MMLU", "1.5B/7B"]:
        assert token in words, words
    assert "B" not in words and "M" not in words


def test_long_goal_has_each_kind_of_aspect():
    found = kinds(LONG_GOAL)
    assert found["MixLoRA"] is AspectKind.ENTITY and found["LoRA experts"] is AspectKind.TOPIC
    assert found["inference latency"] is AspectKind.QUANTITY and found["GPU memory"] is AspectKind.QUANTITY
    assert found["standard LoRA"] is AspectKind.COMPARISON
    assert found["LLaMA-2 7B/13B/70B"] is AspectKind.SETTING
    assert all(found[name] is AspectKind.SETTING for name in ["MMLU", "LongBench", "HumanEval"])


@pytest.mark.parametrize(
    ("goal", "central"),
    [
        (
            "What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?",
            "mixture-of-experts LoRA adapters",
        ),
        (
            "Does QLoRA's 4-bit NormalFloat quantization preserve accuracy on MMLU compared with 16-bit fine-tuning?",
            "QLoRA",
        ),
        (
            "How does direct preference optimization compare with RLHF in win rate on summarization?",
            "direct preference optimization",
        ),
    ],
)
def test_central_entity_is_the_method_asked_about(goal, central):
    entities = [text for text, kind in kinds(goal).items() if kind is AspectKind.ENTITY]
    assert entities == [central]


def test_models_benchmarks_and_names_after_in_are_settings_not_the_subject():
    found = kinds(
        "How does grouped-query attention compare with multi-query attention in inference speed on summarization "
        "benchmarks for T5-XXL and 7B decoder models?"
    )
    assert found["grouped-query attention"] is AspectKind.ENTITY and found["T5-XXL"] is AspectKind.SETTING
    found = kinds("How effective is chain-of-thought prompting at improving GSM8K and MATH accuracy for 7B models?")
    assert found["chain-of-thought prompting"] is AspectKind.ENTITY and found["GSM8K"] is AspectKind.SETTING
    # a name listed before a model size is a model too; a method's acronym after "for" stays a topic
    assert kinds("How does LoRA rank affect accuracy for RoBERTa-large and LLaMA 7B?")["RoBERTa-large"] is (
        AspectKind.SETTING
    )
    assert kinds("Which papers prioritize salient weights for PTQ in LLMs?")["PTQ"] is AspectKind.TOPIC
    found = kinds("Does prefix tuning match fine-tuning with T5-XXL, and how does P-tuning v2 differ?")
    assert found["T5-XXL"] is AspectKind.SETTING and "P-tuning v2" in found and "match" not in " ".join(found)
    assert kinds("How does QLoRA compare with 16-bit fine-tuning?")["16-bit fine-tuning"] is AspectKind.COMPARISON
    found = kinds("Does retrieval augmentation reduce hallucination on long-tail entities in PopQA?")
    assert found["retrieval augmentation"] is AspectKind.ENTITY and found["PopQA"] is AspectKind.SETTING
    found = kinds("Which studies evaluate LLM agents on WebArena with Llama-2-7B?")
    assert found["LLM agents"] is AspectKind.ENTITY and found["Llama-2-7B"] is AspectKind.SETTING
    found = kinds(
        "Is there evidence that scaling in-context examples (many-shot in-context learning) beats fine-tuning for "
        "Gemini 1.5 Pro or Claude 3?"
    )
    # the phrase and its restatement in parentheses both name the topic; the models do not
    entity = next(text for text, kind in found.items() if kind is AspectKind.ENTITY)
    assert entity in {"scaling in-context examples", "many-shot in-context learning"}
    # a digit after a name is its version
    assert found["Gemini 1.5 Pro"] is AspectKind.SETTING and found["Claude 3"] is AspectKind.SETTING


def test_benchmarks_held_conditions_and_what_a_gain_is_over_are_not_the_subject():
    found = kinds(
        "How well do retrieval-augmented generation systems reduce hallucination rates in open-domain question "
        "answering on Natural Questions and TriviaQA compared with closed-book LLMs?"
    )
    assert found["retrieval-augmented generation systems"] is AspectKind.ENTITY
    assert found["Natural Questions"] is AspectKind.SETTING and found["TriviaQA"] is AspectKind.SETTING
    # capitalised words alone after "in" may be a field, not a benchmark
    assert kinds("Which papers study self-consistency in Large Language Models?")["Large Language Models"] is not (
        AspectKind.SETTING
    )
    found = kinds(
        "What do mixture-of-experts language models like Switch Transformer gain in pre-training speed over dense "
        "T5 models at equal FLOPs per token?"
    )
    assert found["mixture-of-experts language models"] is AspectKind.ENTITY
    assert found["dense T5 models"] is AspectKind.COMPARISON and found["equal FLOPs per token"] is AspectKind.SETTING
    assert not any("gain" in text.split() for text in found) and "token" not in found
    assert kinds("What is the cost per query of retrieval augmentation?")["cost per query"] is AspectKind.QUANTITY
    found = kinds("Does Chinchilla scaling change loss compared with Gopher at the same compute budget?")
    assert found["compute budget"] is AspectKind.SETTING and found["Gopher"] is AspectKind.COMPARISON
    assert found["Chinchilla scaling"] is AspectKind.ENTITY  # scaling is a method here, not a measure
    assert kinds("Do code models improve pass@1 on HumanEval?")["pass@1"] is AspectKind.QUANTITY
    # "of fixed patches" describes a noun; it holds nothing fixed for a comparison
    assert kinds("Which works match the visual tokens of fixed patches?")["fixed patches"] is not AspectKind.SETTING


def test_verbs_that_end_or_relate_phrases_are_not_topics():
    found = kinds(
        "How vulnerable are chat models to adversarial suffixes measured by attack success rate on AdvBench, and "
        "are RLHF policies optimized against a fixed reward model?"
    )
    assert "adversarial suffixes" in found and "RLHF policies" in found
    assert not {"measured", "optimized"} & {w for text in found for w in text.split()}
    # "speed up" is a verb; a participle before its noun stays part of the phrase
    found = kinds("How much do Medusa decoding heads speed up generation of fine-tuned models?")
    assert found["Medusa decoding heads"] is AspectKind.ENTITY and "fine-tuned models" in found
    assert kinds("Does DoRA close the accuracy gap to full fine-tuning?").keys() == {
        "DoRA",
        "accuracy gap",
        "full fine-tuning",
    }
    # "by including X" is a verb, not an example
    found = kinds("Which studies improve annotations by including model adversaries?")
    assert found["model adversaries"] is not AspectKind.SETTING
    found = kinds("How much does GPTQ degrade perplexity, and what speedup does it bring as the context grows?")
    assert {"perplexity", "speedup", "context"} <= found.keys()
    assert not {"degrade", "bring", "grows"} & {w for text in found for w in text.split()}
    assert "breaks" not in kinds("Which method breaks down complex tasks into subtasks?")


def test_compound_fields_metrics_and_a_dataset_listed_with_datasets_are_read_as_written():
    found = kinds("How do neural radiance fields with hash-grid encodings change training time and PSNR?")
    assert "neural radiance fields" in found and found["PSNR"] is AspectKind.QUANTITY
    assert kinds("Which papers apply LLMs in the field of law?").keys() == {"LLMs", "law"}
    found = kinds("Which graph neural networks suffer from over-smoothing, measured on Cora and OGB datasets?")
    assert found["Cora"] is AspectKind.SETTING and found["OGB datasets"] is AspectKind.SETTING
    assert "graph neural networks" in found  # "suffer" is a verb


def test_a_name_in_parentheses_that_spells_nothing_before_it_is_an_aspect_and_a_bare_count_is_none():
    found = kinds("Is instruction tuning with 1,000 carefully curated examples (LIMA) enough for alignment?")
    assert {"LIMA", "curated examples", "instruction tuning"} <= found.keys()
    assert not any(any(c.isdigit() for c in text) for text in found)  # neither "1,000" nor "000"
    # an acronym of the words before it is not asked about twice
    found = kinds("Which works apply Low-Rank Adaptation (LoRA) to Large Language Models (LLMs)?")
    assert "LoRA" not in found and "LLMs" not in found
    assert kinds("How does Gemini 1.5 Pro do on Game of 24?").keys() == {"Gemini 1.5 Pro", "Game of 24"}
    assert "win rate" in " ".join(kinds("Which method wins on AlpacaEval win rate?"))


def test_a_relation_and_a_consensus_are_not_what_a_goal_is_about_but_word_problems_are():
    found = kinds(
        "What is the relationship between pretraining data size and few-shot accuracy of decoder-only models?"
    )
    assert found["pretraining data size"] is AspectKind.ENTITY and "relationship" not in found
    found = kinds("Is there a consensus on whether model merging by weight averaging preserves task accuracy?")
    assert "consensus" not in found and found["model merging"] is AspectKind.ENTITY
    found = kinds("Why does chain-of-thought prompting fail on small models for arithmetic word problems?")
    assert "arithmetic word problems" in found and "chain-of-thought prompting" in found


def test_a_request_opened_with_an_imperative_is_about_what_follows():
    found = kinds("Survey the evidence on whether sparse attention patterns match full attention on long documents.")
    assert found["sparse attention patterns"] is AspectKind.ENTITY and "Survey" not in found
    # elsewhere the word may be what is asked for, and "exist" is a verb
    assert kinds("Which surveys of instruction tuning exist?").keys() == {"surveys", "instruction tuning"}


def test_how_a_request_is_worded_is_no_aspect_a_paper_must_address():
    # "how effective are X" phrases the question; an attack success rate is a measure, "achieved success" phrasing
    found = kinds("How effective are instruction hierarchy defenses at lowering the attack success rate?")
    assert "effective" not in found and found["attack success rate"] is AspectKind.QUANTITY
    assert kinds("How robust is code generation measured by pass@k drops?")["pass@k drops"] is AspectKind.QUANTITY
    assert "success" not in kinds("Which papers achieved success in solving downstream tasks with adapters?")
    assert kinds("What does the literature say about data deduplication?").keys() == {"data deduplication"}
    found = kinds("Is there evidence that scaling the number of examples to hundreds helps in-context learning?")
    assert not {"evidence", "number", "hundreds"} & found.keys()
    found = kinds(
        "How does ring attention scale context length to millions of tokens, unlike models of 25 times more parameters?"
    )
    assert not {"millions", "times"} & found.keys() and "context length" in found
    assert "inference times" in kinds("How do inference times of 7B models grow with batch size?")
    assert "evidence retrieval" in kinds("Which papers improve evidence retrieval for fact checking?")
    for request in (
        "Please provide papers advocating the use of scratchpads.",
        "Which work indicates a method for editing images?",
        "What work is similar to the researcher's use of scratchpads?",
        "What papers have been written on scratchpads, and which works tried them?",
    ):
        assert not {"advocating", "indicates", "similar", "researcher", "written", "tried"} & set(
            " ".join(kinds(request)).split()
        ), request


def test_an_imperative_compare_asks_about_what_it_lists():
    found = kinds(
        "Compare LoRA, prefix tuning and adapter layers on GLUE in accuracy and trainable parameter count for "
        "RoBERTa-base and T5-large."
    )
    assert {found["LoRA"], found["prefix tuning"], found["adapter layers"]} <= {AspectKind.TOPIC, AspectKind.ENTITY}
    assert found["trainable parameter count"] is AspectKind.QUANTITY
    assert found["RoBERTa-base"] is AspectKind.SETTING and found["T5-large"] is AspectKind.SETTING
    # compared with something, a listed method is still the comparison
    assert kinds("How does LoRA compare with prefix tuning and adapter layers?")["adapter layers"] is (
        AspectKind.COMPARISON
    )
    assert "Game of 24" in kinds("How does Tree of Thoughts improve success rates on Game of 24?")


class PaperShares:
    """TermWeights stand-in: the share of a corpus's papers each stemmed term occurs in, IDF from it."""

    def __init__(self, shares: dict[str, float]):
        self.shares = shares

    def known(self, term: str) -> bool:
        return term in self.shares

    def weight(self, term: str) -> float:
        return -math.log(self.shares.get(term, 1e-5))

    def paper_share(self, term: str) -> float:
        return self.shares.get(term, 0.0)


def test_a_topic_of_one_common_word_yields_the_subject_to_a_specific_phrase():
    shares = PaperShares({"pretrain": 0.12, "realnew": 0.0001, "dataset": 0.2})
    # "pretraining" is in 12% of the papers: "used the RealNews dataset for pretraining" asks about RealNews
    aspects = parse_goal("Which papers used the RealNews dataset for pretraining?", shares)
    assert [(a.text, a.kind) for a in aspects] == [
        ("RealNews dataset", AspectKind.ENTITY),
        ("pretraining", AspectKind.TOPIC),
    ]
    # a topic that singles out papers stays the subject, however rare the setting
    (asked, _) = parse_goal("Which papers study continual pretraining on the RealNews dataset?", shares)
    assert (asked.text, asked.kind) == ("continual pretraining", AspectKind.ENTITY)


def test_a_compound_adjective_alone_is_not_the_subject_however_rare():
    # "delimiter-based or instruction hierarchy defenses": the adjective qualifies the noun it shares
    shares = PaperShares({"prompt": 0.05, "inject": 0.01, "attack": 0.03, "delimit": 0.0001, "defens": 0.02})
    goal = "Which prompt injection attacks succeed, and how effective are delimiter-based or hierarchy defenses?"
    entities = [a.text for a in parse_goal(goal, shares) if a.kind is AspectKind.ENTITY]
    assert entities == ["prompt injection attacks"]


def test_failure_modes_are_measured_like_risks_not_the_subject():
    shares = PaperShares(
        {"failur": 0.002, "mode": 0.01, "llm": 0.3, "self": 0.1, "correct": 0.05, "reason": 0.2, "task": 0.3}
    )
    goal = "What are the failure modes of LLM self-correction on reasoning tasks?"
    found = kinds(goal, shares)
    assert found["failure modes"] is AspectKind.QUANTITY and found["LLM self-correction"] is AspectKind.ENTITY


def test_examples_after_such_as_are_settings_not_the_subject():
    found = kinds(
        "How does retrieval-augmented generation reduce hallucination rates on benchmarks such as "
        "Natural Questions and TriviaQA?"
    )
    assert found["retrieval-augmented generation"] is AspectKind.ENTITY
    assert found["Natural Questions"] is AspectKind.SETTING and found["TriviaQA"] is AspectKind.SETTING
    assert found["hallucination rates"] is AspectKind.QUANTITY


def test_queries_of_a_long_goal_have_no_split_tokens_and_name_the_method():
    plan = plan_queries.fn(LONG_GOAL)
    assert len({q.lower() for q in plan.queries}) == 4
    tokens = {w for q in plan.queries for w in q.split()}
    assert not tokens & {"B", "M", "13", "70"}, plan.queries
    assert plan.central == "MixLoRA" and all("MixLoRA" in q for q in plan.queries[1:3])


def test_abbreviations_and_capitalised_names_with_of_stay_one_aspect():
    found = kinds("Does Mixture of Experts (MoE) improve throughput on 7B models, or Chain of Thought (CoT)?")
    assert "Mixture of Experts" in found and "Chain of Thought" in found
    assert not {"MoE", "CoT", "Mixture", "Experts"} & set(found)


@pytest.mark.parametrize(
    ("goal", "phrasing", "topic"),
    [
        ("Which study examines users' discomfort with chatbot advice?", "examines", "users discomfort"),
        ("Which study explicitly determines the faithfulness of explanations?", "explicitly", "faithfulness"),
        ("Papers expressing concerns about benchmark validity?", "expressing", "benchmark validity"),
        ("How can we efficiently detect an anomaly in a family of tasks?", "efficiently", "anomaly"),
        ("Works that exemplified a weighted voting mechanism among LLMs?", "exemplified", "weighted voting mechanism"),
        ("Which paper specified the reward model's calibration error?", "specified", "reward model calibration error"),
    ],
)
def test_request_verbs_in_any_inflection_and_adverbs_are_not_topic(goal, phrasing, topic):
    aspects = kinds(goal)
    assert topic in aspects
    assert not any(phrasing in text.split() for text in aspects)


def test_working_on_phrases_the_request_but_working_memory_is_a_topic():
    asked = parse_goal("Which studies have recently been working on visual perception in large language models?")
    assert "working" not in " ".join(a.text for a in asked)
    assert parse_goal("How does working memory limit in-context learning?")[0].text.startswith("working memory")


def test_a_phrase_after_known_as_is_what_is_asked_and_every_goal_has_a_central_entity():
    # "as" alone does not introduce examples: "the method known as CoT prompting" names the subject
    (asked,) = parse_goal("Which paper introduced the method known as CoT prompting?")
    assert (asked.text, asked.kind) == ("CoT prompting", AspectKind.ENTITY)
    assert (
        parse_goal("Which papers treat factual knowledge as subject-relation-object tuples?")[1].kind
        is AspectKind.TOPIC
    )
    # a goal of settings only still has an entity, so the policy's central-entity gate can fire
    settings_only = parse_goal("Which results do we have on benchmarks such as MMLU and GSM8K?")
    assert [a.kind for a in settings_only].count(AspectKind.ENTITY) == 1


def test_a_named_owner_is_its_own_aspect_and_an_article_does_not_hide_a_comparison():
    found = kinds(
        "How does CLIP's zero-shot accuracy on ImageNet scale with the number of image-text training pairs, "
        "and how does it compare with a supervised ResNet-50 baseline?"
    )
    assert found["CLIP"] is AspectKind.ENTITY and found["zero-shot accuracy"] is AspectKind.QUANTITY
    assert found["supervised ResNet-50 baseline"] is AspectKind.COMPARISON
    # a common noun in the possessive stays with what it owns
    assert kinds("How does temperature scaling change the model's calibration error?")["model calibration error"] is (
        AspectKind.QUANTITY
    )


def test_the_effect_of_x_on_y_asks_about_x_and_y_but_side_effects_are_measured():
    found = kinds("What is the effect of chain-of-thought prompting on GSM8K accuracy for 7B models?")
    assert "effect" not in found
    assert found["chain-of-thought prompting"] is AspectKind.ENTITY and found["GSM8K accuracy"] is AspectKind.QUANTITY
    assert kinds("Which papers measure the side effects of model editing?")["side effects"] is AspectKind.QUANTITY


SUBJECT_SHARES = PaperShares(
    {"retriev": 0.1, "enhanc": 0.25, "languag": 0.5, "model": 0.85, "databas": 0.01, "grow": 0.05, "retro": 0.001}
    | {"vision": 0.14, "transform": 0.15, "common": 0.06, "corrupt": 0.007, "network": 0.3, "convolut": 0.1}
)


@pytest.mark.parametrize(
    ("goal", "subject"),
    [
        (
            "Do retrieval-enhanced language models such as RETRO improve as the retrieval database grows?",
            "retrieval-enhanced language models",
        ),
        (
            "How robust are vision transformers to common corruptions compared with convolutional networks?",
            "vision transformers",
        ),
    ],
)
def test_the_subject_of_a_question_is_its_entity_however_common_its_words(goal, subject):
    entities = [a.text for a in parse_goal(goal, SUBJECT_SHARES) if a.kind is AspectKind.ENTITY]
    assert entities == [subject]
    # asked by someone ("Can you …"), the opening phrase is not the question's subject: the rarest topic leads
    asked = parse_goal("Can you list work on vision transformers under common corruptions?", SUBJECT_SHARES)
    assert [a.text for a in asked if a.kind is AspectKind.ENTITY] == ["common corruptions"]
    # a subject of words half the corpus uses names no topic: the question's most specific phrase leads
    generic = parse_goal("Do language models improve under common corruptions?", SUBJECT_SHARES)
    assert [a.text for a in generic if a.kind is AspectKind.ENTITY] == ["common corruptions"]


def test_what_a_goal_is_measured_by_is_a_quantity_and_a_verb_after_do_is_not_the_subject():
    found = kinds(
        "How well do sparse autoencoders recover features from GPT-2 small, measured by reconstruction loss and "
        "feature interpretability?"
    )
    assert found["reconstruction loss"] is AspectKind.QUANTITY and found["feature interpretability"] is (
        AspectKind.QUANTITY
    )
    found = kinds("Why do large language models hallucinate in abstractive summarization on XSum?")
    assert found["large language models"] is AspectKind.ENTITY
    assert not any("hallucinate" in text and text != "hallucinate" for text in found)  # its own aspect, if any
    assert kinds("Do LLMs memorize training data verbatim?")["training data verbatim"] is AspectKind.TOPIC
    # a Spearman correlation is measured, not what the goal is about
    spearman = kinds("Which objectives for sentence embeddings give the highest Spearman correlation on STS?")
    assert spearman["highest Spearman correlation"] is AspectKind.QUANTITY


def test_a_word_most_papers_use_is_no_aspect_unless_it_is_all_there_is():
    shares = PaperShares({"model": 0.85, "chain": 0.02, "thought": 0.01, "prompt": 0.1, "gsm8k": 0.005})
    goal = "What is the effect of chain-of-thought prompting on GSM8K accuracy for models below 10B versus models?"
    texts = [a.text for a in parse_goal(goal, shares)]
    assert "models" not in texts and "chain-of-thought prompting" in texts and "GSM8K accuracy" in texts
    assert [a.text for a in parse_goal("Which papers study models?", shares)] == ["models"]


def test_scores_flops_and_exact_match_are_measured_and_relative_to_is_a_comparison():
    found = kinds(
        "Does mixture-of-depths routing reduce FLOPs per forward pass without hurting perplexity relative to a dense "
        "baseline, and how does exact match change?"
    )
    assert found["FLOPs per forward pass"] is AspectKind.QUANTITY and found["perplexity"] is AspectKind.QUANTITY
    assert found["dense baseline"] is AspectKind.COMPARISON and found["exact match"] is AspectKind.QUANTITY
    assert kinds("Does relative position encoding help length generalization?")["relative position encoding"] is (
        AspectKind.ENTITY
    )


def test_a_question_after_a_fronted_phrase_has_its_own_subject():
    found = kinds("For speech recognition, how does Whisper's word error rate on LibriSpeech test-other compare?")
    assert found["Whisper"] is AspectKind.ENTITY and found["word error rate"] is AspectKind.QUANTITY
    # a second question joined by "and" or put after a colon does not change what the goal is about
    found = kinds("Compare reward model overoptimization across sizes: how does gold reward change with KL?")
    assert found["gold reward"] is not AspectKind.ENTITY


@pytest.mark.parametrize(
    ("goal", "absent", "entity"),
    [
        (
            "To what extent does quantization-aware training recover the accuracy lost by post-training quantization?",
            ["extent", "accuracy lost"],
            "quantization-aware training",
        ),
        ("Which is better for long documents, sparse attention or recurrent memory?", ["better"], None),
        ("Are distilled students as good as GPT-4 teachers at a fixed number of tokens?", ["good", "fixed"], None),
        ("Does adding more experts to a sparse mixture-of-experts model keep improving quality?", ["adding"], None),
    ],
)
def test_judgements_openers_and_verbs_of_a_question_are_no_aspects(goal, absent, entity):
    found = kinds(goal)
    assert not set(absent) & set(found), found
    assert entity is None or found[entity] is AspectKind.ENTITY


def test_utilization_recall_and_variance_are_measured():
    found = kinds("How does tensor parallelism compare in GPU utilization, recall and variance?")
    assert all(found[q] is AspectKind.QUANTITY for q in ["GPU utilization", "recall", "variance"]), found


def test_a_follow_up_question_does_not_take_the_entity_from_the_first():
    shares = PaperShares({"detect": 0.03, "machin": 0.05, "generat": 0.3, "text": 0.2, "paraphras": 0.004})
    shares.shares |= {"attack": 0.02, "auroc": 0.005, "detectgpt": 0.0005}
    goal = "Which methods detect machine-generated text, and how does their AUROC drop under paraphrasing attacks?"
    assert [a.text for a in parse_goal(goal, shares) if a.kind is AspectKind.ENTITY] == ["machine-generated text"]
    # without the follow-up, the rarer phrase leads as before
    alone = parse_goal("Which papers study machine-generated text detection under paraphrasing attacks?", shares)
    assert [a.text for a in alone if a.kind is AspectKind.ENTITY] == ["paraphrasing attacks"]


def test_how_a_quantity_scales_with_something_is_an_aspect_of_its_own():
    found = kinds("How does CLIP's zero-shot accuracy on ImageNet scale with the number of image-text pairs?")
    assert found["scale"] is AspectKind.TOPIC and found["ImageNet"] is AspectKind.SETTING
    assert "scale" not in kinds("How does ring attention scale context length to millions of tokens?")


def test_a_comparative_ending_a_phrase_is_an_adverb_but_before_a_noun_it_stays():
    found = kinds("Does monetary policy tightening reduce inflation expectations faster in emerging markets?")
    assert "inflation expectations" in found and "inflation expectations faster" not in found
    assert not any("better" in text for text in kinds("Does SimCLR pretraining transfer better than MoCo to COCO?"))
    assert "larger graphs" in kinds("Can graph neural networks generalize to larger graphs than seen in training?")
    assert "halo mass" in kinds("How does halo concentration depend on halo mass in N-body simulations?")


def test_a_verb_after_a_named_example_is_cut_off_but_a_noun_after_a_name_in_the_subject_stays():
    found = kinds("Can protein language models such as ESM-2 predict the effect of mutations on protein fitness?")
    assert found["ESM-2"] is AspectKind.SETTING and "ESM-2 predict" not in found
    found = kinds("To what extent do vision-language models like LLaVA and BLIP-2 hallucinate objects on POPE?")
    assert found["BLIP-2"] is AspectKind.SETTING and found["objects"] is AspectKind.TOPIC
    # a plain word after a plural is the verb, in a follow-up question too (a compound's first noun is singular)
    found = kinds("Which benchmarks measure faithfulness, and do larger models produce less faithful reasoning?")
    assert "larger models" in found and not any("produce" in text for text in found), found
    assert kinds("Can transformers learn to sort lists?")["transformers"] is AspectKind.ENTITY
    found = kinds("In federated learning, does FedProx or SCAFFOLD converge faster than FedAvg?")
    assert "SCAFFOLD" in found and found["FedAvg"] is AspectKind.COMPARISON, found
    # what follows "we" is its verb; "able to" phrases the question
    assert "run" not in kinds("We run a recommender system. Which papers show LightGCN beats matrix factorization?")
    assert "OpenVLA" in kinds("Are models such as RT-2 and OpenVLA able to generalize to unseen objects?")
    found = kinds("How does QLoRA 4-bit NormalFloat quantization and 8-bit weight quantization affect GPU memory?")
    assert "QLoRA 4-bit NormalFloat quantization" in found and "8-bit weight quantization" in found, found


def test_a_question_about_a_clause_has_the_clause_subject_as_its_entity():
    shares = PaperShares({"decis": 0.01, "transform": 0.15, "conserv": 0.01, "learn": 0.5, "d4rl": 0.001})
    shares.shares |= {"q": 0.02, "locomot": 0.002, "task": 0.4, "work": 0.3, "report": 0.3, "volum": 0.01}
    goal = "Is there evidence that decision transformers match or exceed conservative Q-learning on D4RL tasks?"
    found = kinds(goal, shares)
    assert found["decision transformers"] is AspectKind.ENTITY
    assert found["conservative Q-learning"] is AspectKind.COMPARISON
    assert "offline dataset" in kinds("Do decision transformers help when the offline dataset contains noise?")
    # what the question's subject matches is its comparison; a request's "match" compares nothing
    assert kinds("Do adapters match full fine-tuning on VTAB-1k?")["full fine-tuning"] is AspectKind.COMPARISON
    assert kinds("Which studies detect objects and match ROI embeddings?")["ROI embeddings"] is not (
        AspectKind.COMPARISON
    )
    # a request for papers is no question about its clause: the rarest phrase leads
    request = parse_goal("Are there any works that reported that the volume of D4RL locomotion grows?", shares)
    assert [a.text for a in request if a.kind is AspectKind.ENTITY] == ["D4RL locomotion"]


def test_metrics_at_a_cut_off_and_counts_are_measured_and_a_difference_alone_is_no_aspect():
    found = kinds("How does SASRec compare with GRU4Rec on MovieLens and Amazon in NDCG@10 and Recall@20?")
    assert found["NDCG@10"] is AspectKind.QUANTITY and found["Recall@20"] is AspectKind.QUANTITY
    assert found["MovieLens"] is AspectKind.SETTING
    found = kinds("How do Stable Diffusion XL and Imagen compare in FID and CLIP score on MS-COCO?")
    assert found["FID"] is AspectKind.QUANTITY and found["CLIP score"] is AspectKind.QUANTITY, found
    found = kinds("Which methods reduce the number of tokens for chain-of-thought reasoning on GSM8K?")
    assert found["tokens"] is AspectKind.QUANTITY
    assert "difference" not in kinds("What explains the difference in the compute-optimal ratio of Chinchilla?")


def test_a_named_suite_of_tasks_is_a_setting_but_a_field_s_tasks_are_not():
    found = kinds("Do decision transformers beat CQL on D4RL locomotion tasks and Atari games?")
    assert found["D4RL locomotion tasks"] is AspectKind.SETTING and found["Atari games"] is AspectKind.SETTING
    assert kinds("Which studies estimate uncertainty in NLP tasks?")["NLP tasks"] is not AspectKind.SETTING


def test_against_names_an_attacks_target_but_a_baseline_after_an_evaluation():
    found = kinds("How effective are membership inference attacks against fine-tuned language models?")
    assert found["fine-tuned language models"] is not AspectKind.COMPARISON
    found = kinds("Which papers evaluate long-context LLMs against retrieval-augmented pipelines on legal QA?")
    assert found["retrieval-augmented pipelines"] is AspectKind.COMPARISON


def test_a_name_after_what_and_one_word_and_an_auxiliary_is_the_subject():
    found = kinds("What speedups do FlashAttention-2 and xFormers attention give for GPT-style models at 8k tokens?")
    assert found["FlashAttention-2"] is AspectKind.ENTITY and found["speedups"] is AspectKind.QUANTITY
    found = kinds("What benchmark does the variant version of HumanEval-NFR use as a reference?")
    assert found["variant version"] is not AspectKind.ENTITY


def test_a_gerund_before_a_named_setting_is_its_verb_but_before_a_noun_it_stays():
    found = kinds("How does QLoRA affect GPU memory when fine-tuning LLaMA 7B and 13B?")
    assert found["LLaMA 7B"] is AspectKind.SETTING and "fine-tuning LLaMA 7B" not in found
    assert "7B-175B parameter language models" in kinds(
        "What are the carbon emissions of pretraining 7B to 175B parameter language models?"
    )
    found = kinds("How does LoRA rank affect accuracy on GLUE and instruction-following benchmarks?")
    assert "instruction-following benchmarks" in found


def test_examples_the_goal_gives_are_marked_as_examples_of_the_phrase_before_them():
    aspects = {a.text: a for a in parse_goal("How do state space models like S4 and Hyena compare with Longformer?")}
    assert aspects["S4"].example_of == aspects["Hyena"].example_of == "state space models"
    assert aspects["Longformer"].example_of == ""
    assert all(not a.example_of for a in parse_goal("Does QLoRA for LLaMA 7B improve MMLU accuracy?"))


def test_a_dataset_or_benchmark_a_request_is_about_is_its_topic_but_one_it_runs_on_a_setting():
    found = kinds("Could you provide references about the PixelHelp dataset for Android?")
    assert found["PixelHelp dataset"] is not AspectKind.SETTING
    assert kinds("Does magnitude pruning keep accuracy on the GEM benchmark?")["GEM benchmark"] is AspectKind.SETTING


def test_a_clause_verb_is_not_an_aspect_but_a_noun_or_adjective_it_resembles_stays():
    goal = (
        "Which research used GPT-3 to learn a proxy reward function while avoiding the need for expert demonstrations?"
    )
    assert list(kinds(goal)) == ["GPT-3", "proxy reward function", "expert demonstrations"]
    assert list(kinds("What works have developed algorithms to solve the sparse coding problem?")) == ["sparse coding"]
    assert "predicting" not in kinds("Which works study predicting the contact map of protein residues?")
    # a verb before its object names a task; a noun or adjective lemminflect knows only as a verb, a gerund, or a
    # compound's word stays
    assert "generate multi-view images" in kinds("Which works use 2D diffusion models to generate multi-view images?")
    assert "complete graph kernel" in kinds(
        "Which study proposed a complete graph kernel based on homomorphism counts?"
    )
    assert "prompting" in kinds("Which papers study prompting for arithmetic reasoning?")
    assert "inference compute" in kinds("Do MoE models match dense models while using less inference compute?")
    assert "LLM hidden states" in kinds("Which works show that LLM hidden states represent a task?")


def test_words_that_frame_gather_or_rank_the_topic_are_not_aspects():
    assert list(kinds("Which works assumed Gaussian noise for pixel-wise uncertainty in the context of NeRF?")) == [
        "assumed Gaussian noise",
        "pixel-wise uncertainty",
        "NeRF",
    ]
    assert "long context" in kinds("How does long context affect retrieval accuracy?")
    assert list(kinds("Which papers study 3D scenes as a set of 3D Gaussians?")) == ["3D scenes", "3D Gaussians"]
    assert list(kinds("What is the key work on Trust Region Policy Optimization?")) == [
        "Trust Region Policy Optimization"
    ]
    assert list(kinds("Which paper first used the term hypercolumn for neural network features?")) == [
        "hypercolumn",
        "neural network features",
    ]
    assert list(kinds("Which studies made significant advancements in text-to-image models?")) == [
        "text-to-image models"
    ]
    assert list(kinds("Can you provide scholarly works that discuss knowledge graphs?")) == ["knowledge graphs"]
    assert list(kinds("Which initial works studied academic writing assistants?")) == ["academic writing assistants"]
    assert list(kinds("Which works fine-tune LLMs on a small set of human-written translations?")) == [
        "fine-tune LLMs",
        "human-written translations",
    ]
    # a gathering noun inside a phrase is part of it
    assert "GPU memory usage" in kinds("How does GPU memory usage in LLaMA 7B inference grow with batch size?")


def test_and_or_lists_the_phrases_it_joins():
    found = kinds("Which works predict the distance map and/or the torsion angles between protein residues?")
    assert "distance map" in found and "torsion angles" in found and not any("and/or" in t for t in found)


def test_a_capitalised_stop_word_inside_a_name_and_a_name_called_so_are_kept_whole():
    goal = "What paper introduced the Segment Anything Model (SAM), a foundational model for image segmentation?"
    assert kinds(goal)["Segment Anything Model"] is AspectKind.ENTITY
    assert "Distortion" in kinds("What studies introduce the unsupervised disentanglement score called Distortion?")
    # a hyphenated modifier makes "examples" a compound's head, not the request's "examples of"
    assert "in-context examples" in kinds("How does the number of in-context examples affect accuracy?")


def test_a_quoted_term_is_one_aspect_and_a_plural_possessive_is_no_quote():
    assert list(kinds("What studies discuss the field of 'learning from human feedback'?")) == [
        "learning from human feedback"
    ]
    assert "Cause on Tape" in kinds("Which work focuses on “Cause on Tape” explanations?")
    found = kinds("Which study examines users' discomfort with LLMs' recommendations for emotional support?")
    assert "users discomfort" in found and "emotional support" in found
    assert "relation plans" in kinds("Which papers retrieve reasoning paths from KGs based on relation 'plans'?")


def test_a_kind_of_method_alone_is_no_aspect():
    found = kinds("What paper introduces the Mirror Descent Modified Policy Iteration (MD-MPI) framework?")
    assert list(found) == ["Mirror Descent Modified Policy Iteration"]
    assert list(kinds("Which paper discussed the retrieval augmented generation (RAG) solutions?")) == [
        "retrieval augmented generation"
    ]
    assert "GAN framework" in kinds("Which works use a GAN framework for unbalanced optimal transport?")
    assert list(kinds("Which frameworks exist?")) == ["frameworks"]  # unless that is all the goal names


def test_a_word_a_number_counts_is_a_condition_never_the_entity():
    found = kinds("What bitrate and reconstruction quality do neural audio codecs reach at 6 kbps compared with Opus?")
    assert found["6 kbps"] is AspectKind.SETTING and found["bitrate"] is AspectKind.QUANTITY
    assert found["neural audio codecs"] is AspectKind.ENTITY
    assert kinds("How does pruning at 50% sparsity change accuracy over 3 epochs?")["epochs"] is AspectKind.SETTING
    found = kinds("Does differential privacy with epsilon below 8 reduce attacks without accuracy above 90% lost?")
    assert found["epsilon"] is AspectKind.SETTING and found["accuracy"] is AspectKind.QUANTITY


def test_a_follow_up_questions_subject_is_the_entity_when_the_first_asks_about_a_quantity():
    found = kinds(
        "What membership inference attack success rates have been reported against fine-tuned language models, "
        "and does differential privacy with epsilon below 8 reduce them without large accuracy loss?"
    )
    assert found["differential privacy"] is AspectKind.ENTITY
    assert found["large accuracy loss"] is AspectKind.QUANTITY  # a loss is measured


def test_an_idiom_finishes_the_phrase_before_it():
    found = kinds("Does contrastive pretraining of graph neural networks beat training from scratch?")
    assert "training from scratch" in found and "scratch" not in found
    assert "object detection in the wild" in kinds("How robust is object detection in the wild?")


@pytest.mark.parametrize(
    ("goal", "phrase"),
    [
        ("Does 3D Gaussian splatting render novel views faster than NeRF?", "3D Gaussian splatting"),
        ("Do watermarking schemes for LLM-generated text survive paraphrasing attacks?", "paraphrasing attacks"),
        (
            "Does distillation from GPT-4 generated instructions let 7B models reach GPT-4?",
            "GPT-4 generated instructions",
        ),
        ("Does SparseGPT keep WikiText perplexity without retraining?", "retraining"),  # a gerund names a step
    ],
)
def test_the_verb_of_a_do_question_is_cut_after_its_subject_or_a_phrase_qualifying_it(goal, phrase):
    found = kinds(goal)
    assert phrase in found
    assert not any(verb in text.split() for text in found for verb in ("render", "survive", "let"))


def test_a_verb_that_may_be_a_noun_ends_the_phrase_qualifying_the_subject_before_where_something_goes():
    found = kinds("How well do RL policies for quadruped locomotion transfer from simulation to real robots?")
    assert "quadruped locomotion" in found and "quadruped locomotion transfer" not in found
    assert "long documents" in kinds("Do sparse attention methods for long documents scale to 1M tokens?")
    # a noun where nothing goes anywhere stays
    assert "fixed memory budget" in kinds("Do LoRA methods for a fixed memory budget match full fine-tuning?")


def test_the_people_a_study_observes_are_its_setting_and_the_method_they_use_its_entity():
    found = kinds("What learning gains do students show when tutored by LLM-based tutoring systems?")
    assert found["students"] is AspectKind.SETTING and found["LLM-based tutoring systems"] is AspectKind.ENTITY
    found = kinds("How do clinicians diagnose skin lesions with deep learning classifiers?")
    assert found["clinicians"] is AspectKind.SETTING and found["deep learning classifiers"] is AspectKind.ENTITY
    # people a vision paper detects are its object
    assert kinds("Which detectors find occluded people in crowds?")["occluded people"] is AspectKind.ENTITY


def test_a_kind_of_thing_alone_is_said_by_the_examples_the_goal_gives_of_it():
    found = kinds(
        "How accurate is code completion, measured by exact match on benchmarks like RepoBench or CrossCodeEval?"
    )
    assert "benchmarks" not in found and {"RepoBench", "CrossCodeEval"} <= found.keys()
    assert "tasks" not in kinds("Which works apply vision-language models to tasks such as visual question answering?")
    # a kind with words of its own stays, with its examples
    assert "protein language models" in kinds("Do protein language models such as ESM-2 predict fitness?")
    assert "datasets" in kinds("What datasets are used for knowledge editing?")


def test_what_a_goal_is_judged_by_is_measured_and_an_adjective_said_of_a_phrase_is_not_part_of_it():
    found = kinds(
        "Is knowledge editing with ROME or MEMIT reliable for GPT-J 6B, judged by efficacy and specificity scores?"
    )
    assert found["efficacy"] is AspectKind.QUANTITY and found["specificity scores"] is AspectKind.QUANTITY
    assert "MEMIT" in found and "MEMIT reliable" not in found
    assert kinds("Which detection methods for shilling attacks keep recall high?")["recall"] is AspectKind.QUANTITY
    assert kinds("Which detectors report FPR at 95% TPR?")["FPR"] is AspectKind.QUANTITY


def test_an_evaluation_named_by_how_it_is_done_is_what_is_asked_about_not_a_measure():
    goal = "What are the failure modes of LLM-as-a-judge evaluation (position bias, verbosity bias) on MT-Bench?"
    # "verbosity" is the rarest word: were the evaluation a measure, an example of its failures would be the entity
    shares = PaperShares({"verbos": 0.0005, "bias": 0.02, "posit": 0.05, "judg": 0.01, "llm": 0.2, "evalu": 0.2})
    found = kinds(goal, shares)
    assert found["LLM-as-a-judge evaluation"] is AspectKind.ENTITY and found["failure modes"] is AspectKind.QUANTITY


def test_what_an_opening_imperative_asks_for_first_is_the_subject():
    goal = "Survey methods for detecting out-of-distribution inputs in autonomous driving perception, reporting AUROC."
    # "perception" is rarer than "distribution": by rarity alone where the methods are applied would be the entity
    shares = PaperShares({"detect": 0.05, "distribut": 0.03, "input": 0.08, "autonom": 0.005, "percept": 0.004})
    found = kinds(goal, shares)
    assert found["detecting out-of-distribution inputs"] is AspectKind.ENTITY


def test_a_version_digit_stays_in_its_name_and_a_magnitude_opens_a_setting():
    assert "Llama 2 13B" in kinds("Does sliding window attention beat full attention in Llama 2 13B?")
    found = kinds("Which prompt compression methods keep downstream accuracy at 10x or 20x compression ratios?")
    assert found["20x compression ratios"] is AspectKind.SETTING and found["prompt compression"] is AspectKind.ENTITY


def test_the_verb_of_a_follow_up_do_question_is_cut_after_the_phrase_qualifying_its_subject():
    found = kinds(
        "To what extent does reward model overoptimization degrade gold reward, and do larger reward models of 1B "
        "to 3B parameters delay it?"
    )
    assert "1B-3B parameters" in found and not any("delay" in text for text in found)


def test_after_what_is_measured_the_phrase_a_do_question_asks_about_is_its_subject():
    goal = "What latency and energy per token do speculative decoding methods achieve on smartwatch processors?"
    # "smartwatch" is far rarer: by rarity alone where it was measured would be the entity
    shares = PaperShares({"specul": 0.003, "decod": 0.02, "smartwatch": 0.00005, "processor": 0.01})
    found = kinds(goal, shares)
    assert found["speculative decoding"] is AspectKind.ENTITY


def test_statements_before_the_question_set_the_scene_and_the_question_names_the_entity():
    goal = (
        "I need to detect anomalies in multivariate time series from industrial sensors. Which transformer-based "
        "detectors report the best F1 on SMD and SWaT?"
    )
    # "multivariate" is the rarer word: by rarity alone the scene would be the entity
    shares = PaperShares({"multivari": 0.002, "time": 0.2, "seri": 0.05, "transform": 0.3, "detector": 0.01})
    found = kinds(goal, shares)
    assert found["transformer-based detectors"] is AspectKind.ENTITY
    assert found["multivariate time series"] is AspectKind.TOPIC and found["best F1"] is AspectKind.QUANTITY
    # said in the scene and asked about in the question, it is what the question asks about
    goal = "We deploy LLM agents. What success rates do LLM agents reach on long-horizon web tasks?"
    shares = PaperShares({"llm": 0.2, "agent": 0.1, "long": 0.2, "horizon": 0.01, "web": 0.02, "task": 0.3})
    assert kinds(goal, shares)["LLM agents"] is AspectKind.ENTITY
    assert split_statements("Which OCR-free models (e.g. Donut) work best? We use CPUs.") == (
        [],
        "Which OCR-free models (e.g. Donut) work best? We use CPUs.",
    )
    # a statement of what the asker studies names the topic, however general the request after it
    found = kinds(
        "I'm interested in sentence simplification. Are there datasets built from Wikipedia that I could use?"
    )
    assert found["sentence simplification"] is AspectKind.ENTITY


def test_what_a_request_to_give_or_find_papers_asks_for_first_is_the_subject():
    goal = (
        "Give me papers on test-time scaling for reasoning models: how does accuracy on AIME grow with the number of "
        "thinking tokens?"
    )
    # "thinking" is the rarer word: by rarity alone what is counted would be the entity
    shares = PaperShares({"test": 0.1, "time": 0.2, "scale": 0.08, "reason": 0.1, "think": 0.0005, "token": 0.1})
    assert kinds(goal, shares)["test-time scaling"] is AspectKind.ENTITY


@pytest.mark.parametrize(
    ("goal", "phrase"),
    [
        ("Which learned index structures replace B-trees in database systems?", "learned index structures"),
        ("Which methods let spiking neural networks reach ImageNet accuracy close to ANNs?", "spiking neural networks"),
        (
            "For text-to-image diffusion models, which watermarking methods survive JPEG compression?",
            "JPEG compression",
        ),
    ],
)
def test_the_verb_after_the_phrase_a_which_question_asks_for_is_cut(goal, phrase):
    found = kinds(goal)
    assert phrase in found and not any(verb in text for text in found for verb in ("replace", "let", "survive"))


def test_a_ranked_measure_and_what_how_many_counts_are_measured():
    found = kinds("Which models reach the best ANLS on DocVQA, and by how many points do they beat Donut?")
    assert found["best ANLS"] is AspectKind.QUANTITY and found["points"] is AspectKind.QUANTITY
    # what is ranked is asked for, not measured
    found = kinds("What are the best open-source models for text-to-speech in terms of MOS?")
    assert found["open-source models"] is not AspectKind.QUANTITY and "best open-source models" not in found


def test_the_asker_and_their_verb_are_no_aspect_and_an_adjective_listed_before_a_phrase_qualifies_its_noun():
    goal = "Our group trains small language models. Which data selection methods improve downstream accuracy?"
    found = kinds(goal)
    assert "small language models" in found and not any("group" in text or "trains" in text for text in found)
    shares = PaperShares({"blind": 0.001, "low": 0.1, "vision": 0.1, "user": 0.05, "task": 0.3, "assist": 0.02})
    found = kinds("How well do blind and low-vision users complete tasks with LLM-based assistants?", shares)
    assert found["low-vision users"] is AspectKind.ENTITY and "tasks" in found
    found = kinds("What usability problems do user studies and recent studies of screen readers report?")
    assert "user studies" in found and "recent studies" not in found and "user" not in found


def test_a_list_in_parentheses_gives_examples_and_a_clause_someone_has_shown_has_its_own_subject():
    goal = (
        "Which embedding compression methods (binary quantization, Matryoshka representations) keep retrieval "
        "quality on BEIR while cutting storage by 8x?"
    )
    # "Matryoshka" is the rarest word: by rarity alone an example would be the entity
    shares = PaperShares({"embed": 0.1, "compress": 0.03, "binari": 0.01, "quantiz": 0.04, "matryoshka": 0.0002})
    shares.shares |= {"storag": 0.02, "retriev": 0.1, "qualiti": 0.1}
    found = kinds(goal, shares)
    assert found["embedding compression"] is AspectKind.ENTITY and "storage" in found and "cutting storage" not in found
    found = kinds("Has anyone shown that small vision-language models can match GPT-4V on VQAv2?")
    assert found["small vision-language models"] is AspectKind.ENTITY and found["GPT-4V"] is AspectKind.COMPARISON
    found = kinds("What is the state of the art in monocular depth estimation on KITTI?")
    assert "monocular depth estimation" in found and not {"state", "art"} & set(found)


def test_a_verb_after_a_plural_name_or_it_is_cut_and_what_a_question_is_about_is_its_topic():
    found = kinds("How well do LLMs reason about time on TimeQA, and how much does it raise exact match?")
    assert "LLMs" in found and found["time"] is AspectKind.TOPIC
    assert found["exact match"] is AspectKind.QUANTITY and not any("reason" in t or "raise" in t for t in found)
    goal = "Which methods for continual learning in large language models avoid catastrophic forgetting?"
    assert {"large language models", "catastrophic forgetting"} <= set(kinds(goal))
    # a plural's possessive is no subject before its verb
    assert "users discomfort" in kinds("Which study examines users' discomfort with LLM recommendations?")


def test_what_a_number_counts_is_a_setting_and_a_list_in_parentheses_gives_examples():
    found = kinds("What is the latency of keyword spotting on microcontrollers with under 256 KB of RAM?")
    assert found["KB of RAM"] is AspectKind.SETTING
    aspects = parse_goal("Which dense retrievers (e.g. ColBERT, DPR) work best on long contracts?")
    examples = {a.text: a.example_of for a in aspects if a.kind is AspectKind.SETTING}
    assert examples == {"ColBERT": "dense retrievers", "DPR": "dense retrievers"}
    # a phrase after a comma is no count
    assert kinds("How do BBR, CUBIC and Reno compare in fairness?")["CUBIC"] is not AspectKind.SETTING


def test_the_verb_of_a_how_clause_is_cut_after_its_subject_which_is_not_what_a_request_asks_about():
    found = kinds("Are there benchmarks that measure how well LLMs follow complex formatting constraints?")
    assert "complex formatting constraints" in found and not any("follow" in text for text in found)
    shares = PaperShares({"llms": 0.2, "human": 0.1, "like": 0.3, "text": 0.3, "replic": 0.01, "bias": 0.02})
    goal = "Can you provide papers that discuss how LLMs reproduce human-like text and replicate biases?"
    assert kinds(goal, shares)["LLMs"] is AspectKind.TOPIC


def test_what_ranks_the_approaches_asked_for_or_the_way_to_do_something_is_no_aspect():
    found = kinds("I am a PhD student. What are the main approaches to hallucination detection in LLMs?")
    assert found["hallucination detection"] is AspectKind.ENTITY and "main" not in found
    assert not any("way" in text for text in kinds("What's the best way to fine-tune Llama 3 8B on one GPU?"))


def test_a_follow_up_which_question_an_adjective_asked_how_and_what_goes_beyond_a_benchmark():
    found = kinds("Why do LLMs fail at multiplication, and which prompting interventions fix it?")
    assert "prompting interventions" in found and not any("fix" in text for text in found)
    found = kinds("How large does the preference dataset need to be, and is chain-of-thought faithful?")
    assert "large" not in found and "chain-of-thought" in found
    found = kinds("Which datasets exist for document understanding beyond DocVQA, evaluated on LVIS rare categories?")
    assert found["DocVQA"] is AspectKind.COMPARISON and found["LVIS rare categories"] is AspectKind.SETTING


def test_an_adverb_grading_a_term_s_adjective_stays_in_the_term():
    found = kinds("What is the effect of differentially private fine-tuning on the accuracy of language models?")
    assert "differentially private fine-tuning" in found and "private fine-tuning" not in found
    # an adverb that qualifies the request still does not
    assert "specifically relevant benchmarks" not in kinds("Which specifically relevant benchmarks test RAG?")


def test_what_a_question_asks_to_speed_up_is_measured_by_its_speed():
    found = kinds("How much does speculative decoding with a small draft model speed up inference of 70B LLMs?")
    assert found["inference speed"] is AspectKind.QUANTITY and "inference" not in found


def test_a_size_with_its_unit_and_a_measure_bounded_by_numbers_are_settings():
    found = kinds(
        "How accurate is private fine-tuning of 70B-parameter LLMs at privacy budgets epsilon between 1 and 8?"
    )
    assert found["70B-parameter LLMs"] is AspectKind.SETTING
    assert found["privacy budgets epsilon"] is AspectKind.SETTING


def test_what_is_known_about_a_topic_asks_about_it_and_a_question_after_a_colon_follows_up():
    found = kinds("What is known about reward hacking in RLHF: how often do policies exploit reward model errors?")
    assert found["reward hacking"] is AspectKind.ENTITY and found["policies"] is AspectKind.TOPIC


def test_how_many_steps_a_method_needs_asks_about_the_method_after_a_fronted_phrase_too():
    goal = (
        "For diffusion models, how many sampling steps do distillation methods need to match the FID of 50-step DDIM?"
    )
    found = kinds(goal)
    assert found["distillation"] is AspectKind.ENTITY and found["50-step DDIM"] is AspectKind.TOPIC


def test_for_example_lists_examples_of_the_phrase_before_it():
    aspects = parse_goal("Which fine-tuning methods, for example prefix tuning or IA3, work best on SuperGLUE?")
    examples = {a.text: a.example_of for a in aspects if a.example_of}
    assert examples == {"prefix tuning": "fine-tuning", "IA3": "fine-tuning"}


def test_the_object_of_a_question_s_verb_keeps_a_verb_like_measure_and_a_titled_variant_of_a_name_is_a_setting():
    found = kinds("How much do test-time scaling methods improve the resolve rate on SWE-bench Verified?")
    assert found["resolve rate"] is AspectKind.QUANTITY and "rate" not in found
    assert found["SWE-bench Verified"] is AspectKind.SETTING
    # a titled field is not a name's variant
    assert kinds("Which paper uses Faster-RCNN in Vision-Language Pre-training?")["Vision-Language Pre-training"] in (
        AspectKind.TOPIC,
        AspectKind.ENTITY,
    )


def test_has_anyone_compared_asks_about_what_is_compared():
    found = kinds("Has anyone compared LoRA ranks for fine-tuning Llama 3 8B on code generation?")
    assert found["LoRA ranks"] in (AspectKind.ENTITY, AspectKind.TOPIC)


def test_the_verb_a_why_question_asks_about_stays_an_aspect():
    found = kinds("Why do large language models hallucinate on long-tail factual questions?")
    assert "hallucinate" in found and "large language models" in found
    assert "long-tail factual questions" in found


def test_a_lone_comparative_or_fine_tuned_is_no_aspect_but_a_kind_of_method_is():
    found = kinds("Can small open models (7B or smaller) fine-tuned on synthetic data match GPT-3.5?")
    assert "smaller" not in found and "fine-tuned" not in found and found["7B"] is AspectKind.SETTING
    assert "graph-based" in kinds("Which papers propose graph-based approaches for 3D human pose forecasting?")


def test_a_digit_inside_a_term_stays_and_a_verb_s_form_ending_an_object_is_a_noun():
    found = kinds("What is the effect of intermittent fasting on insulin sensitivity in adults with type 2 diabetes?")
    assert "type 2 diabetes" in found and "type" not in found
    found = kinds("How accurately do transformer models predict the outcome of cricket matches in the Premier League?")
    assert "cricket matches" in found and "cricket" not in found
    assert found["Premier League"] is not AspectKind.COMPARISON
    # as a question's verb the same form relates the phrases
    found = kinds("Does LoRA match full fine-tuning, and how does accuracy change with rank?")
    assert found["full fine-tuning"] is AspectKind.COMPARISON and "accuracy change" not in found


def test_english_stop_words_that_name_things_stay_in_their_phrase_but_not_alone():
    found = kinds("Does a recommender system built on graph neural networks beat matrix factorization?")
    assert "recommender system" in found and "recommender" not in found
    assert "top" not in kinds("Which works presented improvements on the top of EDM?")
    assert "interest" not in kinds("Does any work define emergent tasks of interest to evaluate multi-modal LLMs?")


def test_a_plain_word_ending_the_subject_before_a_comparison_is_the_question_s_verb():
    found = kinds("Does LoRA converge faster than full fine-tuning?")
    assert found["LoRA"] is AspectKind.ENTITY and found["full fine-tuning"] is AspectKind.COMPARISON
    assert "LoRA fine-tuning" in kinds("Does LoRA fine-tuning leak less than full fine-tuning?")
    assert "QLoRA training" in kinds("Does QLoRA training run slower than LoRA on A100 GPUs?")


def test_a_rate_the_question_s_verb_cut_from_its_measure_stays_the_measure_s_unit():
    found = kinds("How much energy do LLM inference servers consume per generated token on H100 GPUs?")
    assert found["energy per generated token"] is AspectKind.QUANTITY and "per generated token" not in found
    assert kinds("What latency does speculative decoding add per request?")["latency per request"] is (
        AspectKind.QUANTITY
    )


def test_slow_down_is_measured_by_speed_and_a_sized_model_compared_with_is_the_comparison():
    found = kinds("How much does federated learning with secure aggregation slow down training of ResNet-50?")
    assert found["training speed"] is AspectKind.QUANTITY and "secure aggregation" in found
    found = kinds("Do retrieval-augmented code models reduce hallucinated API calls compared with Code Llama 13B?")
    assert found["Code Llama 13B"] is AspectKind.COMPARISON
    assert kinds("Does RAG improve accuracy for 7B models?")["7B models"] is AspectKind.SETTING


def test_a_dataset_name_with_its_year_is_a_setting():
    found = kinds("How robust are deepfake audio detectors trained on ASVspoof 2019 to unseen vocoders?")
    assert found["ASVspoof 2019"] is AspectKind.SETTING


def test_a_percentage_opens_a_setting_and_alone_is_no_aspect():
    found = kinds("Does SparseGPT at 50% unstructured sparsity keep zero-shot accuracy?")
    assert found["50% unstructured sparsity"] is AspectKind.SETTING
    found = kinds("Which methods fine-tune fewer than 1% of parameters yet match full fine-tuning on SuperGLUE?")
    assert "1%" not in found
    assert kinds("What true positive rate do watermarks keep at a 1% false positive rate?")[
        "1% false positive rate"
    ] is (AspectKind.SETTING)


def test_a_count_held_stays_with_what_it_counts_but_a_bound_does_not():
    found = kinds("What quality do neural audio codecs such as EnCodec reach at 6 kbps compared with Opus?")
    assert found["6 kbps"] is AspectKind.SETTING and "kbps" not in found
    found = kinds("Do vision transformers transfer to medical image segmentation with fewer than 100 labeled scans?")
    assert found["labeled scans"] is AspectKind.SETTING
    found = kinds("Which pruning methods keep accuracy at 50% sparsity with less than 5% accuracy drop?")
    assert "50% sparsity" in found and "accuracy drop" in found and "5% accuracy drop" not in found
