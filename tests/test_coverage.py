"""Which aspects of the goal a sentence addresses."""

from __future__ import annotations

import pytest

from tasks.aspect_support import supports_aspect
from tasks.coverage import aspect_verdicts, aspects_addressed
from tasks.goal import parse_goal
from tasks.models import Aspect, AspectKind, AspectVerdict, Claim, Draft, FindingKind, Paper, Plan, RankedPaper
from tasks.policy import revision_setback, unmet_aspects
from tasks.settings import TribunalSettings
from tasks.tribunal import find_problems
from tests.factories import sentence_claim

PLAN = Plan(
    goal="How does QLoRA affect MMLU accuracy and GPU memory for 7B models?",
    queries=[],
    aspects=[
        Aspect(text="MMLU accuracy", kind=AspectKind.QUANTITY),
        Aspect(text="GPU memory", kind=AspectKind.QUANTITY),
    ],
    key_terms=[],
)


@pytest.mark.parametrize(
    ("sentence", "addressed"),
    [
        ("QLoRA reaches 63.9% accuracy on MMLU with a 7B model.", ["MMLU accuracy"]),
        ("Our model scores 61 on MMLU, close to full fine-tuning.", ["MMLU accuracy"]),  # a synonym on the benchmark
        ("The system significantly improves clinical accuracy.", []),  # accuracy, but not on MMLU
        ("It achieves a micro-F1 of 67.16 on the test set.", []),
        ("Fine-tuning needs 48 GB of memory instead of 780 GB.", ["GPU memory"]),  # GPU names no benchmark
    ],
)
def test_a_quantity_on_a_named_benchmark_is_addressed_only_on_that_benchmark(sentence, addressed):
    assert aspects_addressed(PLAN, sentence) == addressed


def plan_on(goal: str, aspect: Aspect, term_weights: dict[str, float] | None = None) -> Plan:
    """A plan of one aspect, with the corpus IDF of the terms that matter to it."""
    return Plan(goal=goal, queries=[], aspects=[aspect], key_terms=[], term_weights=term_weights or {})


def test_a_model_size_written_inside_a_models_name_addresses_the_size():
    plan = plan_on("How fast is speculative decoding for 70B models?", Aspect(text="70B", kind=AspectKind.SETTING))
    assert aspects_addressed(plan, "On LLaMA-3.3-70B it is 2.1x faster.") == ["70B"]
    assert aspects_addressed(plan, "On Qwen2.5-7B-Instruct it is 2.1x faster.") == []
    assert aspects_addressed(plan, "It runs on 70 GPUs.") == []


def test_a_range_of_model_sizes_is_addressed_by_any_size_within_it():
    (scale,) = [
        a for a in parse_goal("Can Mamba match Transformers at the 1B to 3B parameter scale?") if "1B" in a.text
    ]
    assert scale.kind is AspectKind.SETTING
    plan = plan_on("Can Mamba match Transformers at the 1B to 3B parameter scale?", scale)
    for sentence in ("Our Mamba-3B model outperforms Transformers.", "H3 models of 2.7B parameters reach lower loss."):
        assert aspects_addressed(plan, sentence) == [scale.text] and supports_aspect(sentence, scale)
    assert aspects_addressed(plan, "Our 7B model outperforms Transformers.") == []


def test_a_setting_with_a_size_needs_the_size_not_the_family_alone():
    vicuna = Aspect(text="Vicuna 7B", kind=AspectKind.SETTING)
    plan = plan_on("How much do Medusa heads speed up Vicuna 7B?", vicuna, {"vicuna": 8.0})
    assert aspects_addressed(plan, "Medusa speeds up Vicuna 33B by 2.2x.") == []
    assert aspects_addressed(plan, "Medusa speeds up Vicuna-7B by 2.2x.") == ["Vicuna 7B"]
    assert aspects_addressed(plan, "Our 7B model is 2.2x faster.") == ["Vicuna 7B"]


@pytest.mark.parametrize(
    ("sentence", "addressed"),
    [
        ("We propose generation-augmented retrieval for open-domain QA.", True),
        ("Generation augmented retrieval expands each query with generated contexts.", True),
        ("GAR expands each query with generated contexts.", True),  # the acronym the papers define for it
        ("Retrieval-augmented generation improves open-domain QA.", False),  # the same words, the other order
        ("We study retrieval augmented generation in QA.", False),
        ("A filter selectively augments retrieval with generated rationales.", False),  # its words, scattered
    ],
)
def test_a_hyphenated_compound_is_stated_only_in_its_own_order(sentence, addressed):
    gar = Aspect(text="Generation-Augmented Retrieval", kind=AspectKind.ENTITY)
    plan = plan_on("Which work first proposed Generation-Augmented Retrieval in question answering?", gar)
    plan = plan.model_copy(update={"spelled_out": {"GAR": "generation augmented retrieval"}})
    assert aspects_addressed(plan, sentence) == (["Generation-Augmented Retrieval"] if addressed else [])


@pytest.mark.parametrize(
    ("sentence", "addressed"),
    [
        ("Few-shot prompting reaches 60% accuracy.", True),
        ("In the few shot setting it reaches 60%.", True),
        ("Zero-shot prompting reaches 60% accuracy.", False),  # "few-shot" is its own compound, not "shot"
        ("Finetuning on 1k examples matches it.", False),
    ],
)
def test_a_compound_is_stated_with_hyphens_spaces_or_run_together(sentence, addressed):
    few_shot = Aspect(text="few-shot prompting", kind=AspectKind.TOPIC)
    plan = plan_on("How well does few-shot prompting work?", few_shot, {"shot": 4.0, "prompt": 3.0})
    assert aspects_addressed(plan, sentence) == (["few-shot prompting"] if addressed else [])
    tuning = plan_on("What does fine-tuning cost?", Aspect(text="fine-tuning", kind=AspectKind.TOPIC))
    assert aspects_addressed(tuning, "Finetuning on 1k examples matches it.") == ["fine-tuning"]
    # a word between the compound's terms, in their order, still states it
    moe = plan_on("Where do mixture-of-experts help?", Aspect(text="mixture-of-experts", kind=AspectKind.TOPIC))
    assert aspects_addressed(moe, "A mixture of LoRA experts gains 4%.") == ["mixture-of-experts"]
    assert aspects_addressed(moe, "Experts of a mixture gain 4%.") == []


def test_an_entity_of_several_words_is_not_stated_by_its_rarest_word_alone():
    entity = Aspect(text="context distillation", kind=AspectKind.ENTITY)
    plan = plan_on("Which works use context distillation?", entity, {"distil": 6.0, "context": 2.0})
    assert aspects_addressed(plan, "Distillation methods trade new knowledge for old.") == []
    assert aspects_addressed(plan, "Context distillation keeps post-training skills.") == ["context distillation"]
    # a name is enough: the rest of the phrase describes it
    gptq = plan_on("How does GPTQ 3-bit compare?", Aspect(text="GPTQ 3-bit", kind=AspectKind.ENTITY), {"gptq": 8.0})
    assert aspects_addressed(gptq, "GPTQ quantizes OPT-175B in 4 hours.") == ["GPTQ 3-bit"]
    chinchilla = Aspect(text="Chinchilla compute-optimal scaling", kind=AspectKind.ENTITY)
    weights = {"chinchilla": 9.0, "comput": 2.0, "optim": 2.0, "scale": 2.0}
    assert aspects_addressed(plan_on("Why?", chinchilla, weights), "Chinchilla outperforms Gopher.") == [
        chinchilla.text
    ]
    # a topic is still stated by its rarer half
    topic = plan.model_copy(update={"aspects": [entity.model_copy(update={"kind": AspectKind.TOPIC})]})
    assert aspects_addressed(topic, "Distillation methods trade new knowledge for old.") == ["context distillation"]


@pytest.mark.parametrize(
    ("sentence", "addressed"),
    [
        ("These applications require more than evaluations of final solution generation.", False),
        ("Tutored students showed learning gains 0.3 SD higher than the control group.", True),
        ("Students improved post-test learning outcomes by 12% compared with controls.", True),
    ],
)
def test_a_generic_measure_of_something_is_measured_only_with_what_it_is_of(sentence, addressed):
    gains = Aspect(text="learning gains", kind=AspectKind.QUANTITY)
    assert (
        aspects_addressed(plan_on("What learning gains do tutors give?", gains), sentence) == [gains.text] * addressed
    )
    assert supports_aspect(sentence, gains) is addressed
    # a generic measure of nothing in particular is any reported finding
    trade_offs = Aspect(text="performance trade-offs", kind=AspectKind.QUANTITY)
    assert supports_aspect("MixLoRA is 2x slower than LoRA.", trade_offs)


def test_a_thing_like_a_name_is_stated_by_the_name():
    entity = Aspect(text="Mamba-style state space models", kind=AspectKind.ENTITY)
    weights = {"mamba": 8.0, "style": 3.0, "state": 2.0, "space": 2.5, "model": 0.5}
    plan = plan_on("Can Mamba-style state space models match Transformers?", entity, weights)
    assert aspects_addressed(plan, "Our Mamba-3B model outperforms Transformers of the same size.") == [entity.text]
    assert aspects_addressed(plan, "Our 3B model outperforms Transformers of the same size.") == []


def test_a_finding_about_the_papers_own_method_addresses_the_setting_its_title_names():
    plan = plan_on(
        "What do mixture-of-experts models like Switch Transformer gain in pre-training speed?",
        Aspect(text="Switch Transformer", kind=AspectKind.SETTING),
    )
    title = "Switch Transformers: Scaling to Trillion Parameter Models with Simple and Efficient Sparsity"
    own = "We design models based off T5-Base to obtain up to 7x increases in pre-training speed."
    assert aspects_addressed(plan, own, title) == ["Switch Transformer"]
    # a sentence about the field, not the paper's own method, does not borrow its title
    assert aspects_addressed(plan, "Sparse models have grown popular.", title) == []
    assert aspects_addressed(plan, own, "Dense scaling laws") == []


def test_a_phrase_holding_a_name_is_stated_only_with_the_name():
    plan = plan_on(
        "How much does test-time augmentation help on ImageNet-C corruptions?",
        Aspect(text="ImageNet-C corruptions", kind=AspectKind.TOPIC),
        {"imagenet": 5.0, "corrupt": 7.0},
    )
    other = "TCA improves accuracy by 21.4% on the CIFAR-100-Corrupted dataset across corruptions."
    assert aspects_addressed(plan, other) == []  # another benchmark's corruptions
    assert aspects_addressed(plan, "TTA lifts accuracy on ImageNet-C corruptions by 3%.") == ["ImageNet-C corruptions"]
    vanilla = plan_on("Does it beat vanilla GPT-3?", Aspect(text="vanilla GPT-3", kind=AspectKind.COMPARISON))
    assert aspects_addressed(vanilla, "Applied to the vanilla GPT3, it gains 33%.") == ["vanilla GPT-3"]  # no hyphen
    assert aspects_addressed(vanilla, "Applied to the vanilla GPT-2, it gains 33%.") == []
    # a generic name is no name a sentence must repeat
    based = plan_on("Do LLM-based assistants help?", Aspect(text="LLM-based assistants", kind=AspectKind.TOPIC))
    assert aspects_addressed(based, "Assistants built on GPT-4 raised task completion by 30%.") == [
        "LLM-based assistants"
    ]


def test_a_finding_about_the_papers_own_method_addresses_the_topic_its_title_names_before_a_colon():
    plan = plan_on(
        "Do mixture-of-depths or early-exit transformers reduce FLOPs per token?",
        Aspect(text="mixture-of-depths", kind=AspectKind.TOPIC),
    )
    own = "Our models require a fraction of the FLOPs per forward pass."
    assert aspects_addressed(plan, own, "Mixture-of-Depths: Dynamically Allocating Compute") == ["mixture-of-depths"]
    # a title that mentions the topic without naming its method after it applies the topic; "our models" are its own
    assert aspects_addressed(plan, own, "Early Exits Meet Mixture-of-Depths in Vision") == []
    assert aspects_addressed(plan, "Dense models spend FLOPs evenly.", "Mixture-of-Depths: Dynamically") == []


@pytest.mark.parametrize(
    ("sentence", "addressed"),
    [
        ("We match the accuracy of the original ResNet-50 on ImageNet zero-shot.", ["supervised ResNet-50 baseline"]),
        ("Our method outperforms the supervised baseline by 3 points.", []),  # which baseline is the name's to say
    ],
)
def test_a_name_with_digits_weighs_as_its_rarest_term_in_an_aspect(sentence, addressed):
    plan = plan_on(
        "How does CLIP compare with a supervised ResNet-50 baseline?",
        Aspect(text="supervised ResNet-50 baseline", kind=AspectKind.COMPARISON),
        {"resnet": 6.3, "50": 5.2, "supervis": 3.2, "baselin": 2.8},
    )
    assert aspects_addressed(plan, sentence) == addressed


DT = Aspect(text="decision transformers", kind=AspectKind.ENTITY)


def on_dt(paper_id: str, title: str) -> RankedPaper:
    found = Paper(id=paper_id, title=title, abstract="", authors=[paper_id], categories=[], published="2024-01-01")
    return RankedPaper(paper=found, fused_score=0.1, relevance=0.8, term_coverage=0.5, similarity=0.5, kept=True)


def test_a_comparison_is_addressed_only_by_papers_on_the_entity():
    plan = Plan(
        goal="Do decision transformers beat conservative Q-learning on D4RL?",
        queries=[],
        aspects=[DT, Aspect(text="conservative Q-learning", kind=AspectKind.COMPARISON)],
        central="decision transformers",
        key_terms=[],
    )

    def claim(paper_id: str, aspects: list[str]) -> Claim:
        return sentence_claim(f"{paper_id}:{aspects[0]}", paper_id, "A finding.", aspects=aspects, label="VERIFIED")

    papers = [on_dt("dt", "Decision Transformer"), on_dt("cql", "Conservative Q-Learning for Offline RL")]
    alone = aspect_verdicts(
        plan, [claim("dt", ["decision transformers"]), claim("cql", ["conservative Q-learning"])], papers
    )
    assert not alone[1].addressed and alone[1].unpaired_paper_ids == ["cql"]
    assert any(
        "compares 'conservative Q-learning'" in u
        for u in unmet_aspects(Draft.model_construct(coverage=alone), TribunalSettings())
    )
    # a paper on the entity, by its evidence or by its title, that addresses the baseline compares the two
    paired = aspect_verdicts(plan, [claim("dt", ["conservative Q-learning"])], papers)
    assert paired[1].addressed and paired[1].paper_ids == ["dt"]
    # a paper whose abstract, not its title, says it is on the entity compares the two
    online = on_dt("odt", "Online Sequence Models for Offline RL")
    online.paper.abstract = "We fine-tune pretrained decision transformers online. They beat CQL on D4RL."
    described = aspect_verdicts(plan, [claim("odt", ["conservative Q-learning"])], [*papers, online])
    assert described[1].addressed and described[1].paper_ids == ["odt"]


def test_a_setting_is_addressed_only_by_papers_on_the_entity():
    d4rl = Aspect(text="D4RL", kind=AspectKind.SETTING)
    goal = "What returns do decision transformers reach on D4RL?"
    plan = Plan(goal=goal, queries=[], aspects=[DT, d4rl], central=DT.text, key_terms=[])
    papers = [on_dt("dt", "Decision Transformer"), on_dt("cql", "Conservative Q-Learning")]

    def claim(paper_id: str) -> Claim:
        return sentence_claim(paper_id, paper_id, "It scores 80 on D4RL.", aspects=["D4RL"], label="VERIFIED")

    other = aspect_verdicts(plan, [claim("cql")], papers)
    assert not other[1].addressed and other[1].unpaired_paper_ids == ["cql"]
    assert unmet_aspects(Draft.model_construct(coverage=other), TribunalSettings())[1] == (
        "only papers not on the entity asked about address 'D4RL'"
    )
    assert aspect_verdicts(plan, [claim("dt")], papers)[1].paper_ids == ["dt"]


def test_a_paper_stating_only_what_it_proposes_addresses_an_aspect_but_corroborates_nothing():
    plan = Plan(
        goal="Which studies propose decision transformers?", queries=[], aspects=[DT], central=DT.text, key_terms=[]
    )
    papers = [on_dt("dt", "Decision Transformer"), on_dt("odt", "Online Decision Transformer")]
    finding = sentence_claim(
        "f", "dt", "Decision Transformer matches CQL on D4RL.", aspects=[DT.text], label="VERIFIED"
    )
    proposal = sentence_claim(
        "p", "odt", "We propose online decision transformers.", aspects=[DT.text], label="VERIFIED", contribution=True
    )
    (verdict,) = aspect_verdicts(plan, [finding, proposal], papers)
    assert verdict.addressed and verdict.paper_ids == ["dt", "odt"] and verdict.independent_papers == 1
    # addressed by a proposal alone, the aspect keeps the brief from approving itself
    proposed = aspect_verdicts(plan, [proposal], papers)
    assert proposed[0].addressed and not proposed[0].independent_papers
    unmet = unmet_aspects(Draft.model_construct(coverage=proposed), TribunalSettings())
    assert unmet == ["no finding addresses 'decision transformers', only what papers propose or study"]
    # and the tribunal asks for a search that could find one
    draft = Draft.model_construct(coverage=proposed, claims=[proposal], papers=papers, answered=False)
    missing = [f for f in find_problems(draft, TribunalSettings()) if f.kind is FindingKind.MISSING_ASPECT]
    assert [f.aspect for f in missing] == [DT.text]


def test_a_finding_on_an_example_the_goal_gives_of_its_entity_addresses_the_entity():
    plan = Plan(
        goal="How well do interpolation methods such as YaRN extend LLaMA context to 64k tokens?",
        queries=[],
        aspects=[
            Aspect(text="interpolation methods", kind=AspectKind.ENTITY),
            Aspect(text="YaRN", kind=AspectKind.SETTING, example_of="interpolation methods"),
            Aspect(text="LLaMA", kind=AspectKind.SETTING),
        ],
        central="interpolation methods",
        key_terms=[],
    )
    found = Paper(id="yarn", title="YaRN: Context Window Extension", abstract="", authors=["Peng"], published="2023")
    papers = [RankedPaper(paper=found, fused_score=0.1, relevance=0.8, term_coverage=0.5, similarity=0.5, kept=True)]

    def claim(aspects: list[str]) -> Claim:
        return sentence_claim("c", "yarn", "YaRN extends it to 128k.", aspects=aspects, label="VERIFIED")

    assert aspect_verdicts(plan, [claim(["YaRN"])], papers)[0].paper_ids == ["yarn"]
    # a setting that is no example of the entity (the model it runs on) says nothing of the entity
    assert not aspect_verdicts(plan, [claim(["LLaMA"])], papers)[0].addressed
    # so for any phrase: a finding on an example of what the entity is compared with is a finding on that
    trees = Aspect(text="gradient-boosted trees", kind=AspectKind.COMPARISON)
    xgboost = Aspect(text="XGBoost", kind=AspectKind.SETTING, example_of=trees.text)
    compared = plan.model_copy(update={"aspects": [*plan.aspects, trees, xgboost]})
    verdicts = aspect_verdicts(compared, [claim(["interpolation methods", "XGBoost"])], papers)
    assert [v.aspect.text for v in verdicts if v.addressed] == ["interpolation methods", trees.text, xgboost.text]


@pytest.mark.parametrize(
    ("sentence", "addressed"),
    [
        ("Diffusion policies need only 50 demonstrations per task.", True),
        ("Each demonstration is a teleoperated trajectory.", False),  # how many: no number counts them
        ("OpenVLA demonstrates strong results on manipulation.", False),  # the verb any abstract reports with
        ("Our experiments demonstrated a 20% higher success rate.", False),
    ],
)
def test_a_reporting_noun_is_stated_by_the_noun_not_by_its_verb(sentence, addressed):
    demonstrations = Aspect(text="demonstrations", kind=AspectKind.QUANTITY)
    plan = plan_on("How many demonstrations do diffusion policies need?", demonstrations, {"demonstr": 3.0})
    assert aspects_addressed(plan, sentence) == (["demonstrations"] if addressed else [])


@pytest.mark.parametrize(
    ("quantity", "sentence", "addressed"),
    [
        ("success rates", "It reaches a 74% success rate on Game of 24.", True),
        ("success rates", "A learning rate of 3e-4 raises accuracy by 2%.", False),  # another rate
        ("carbon footprint", "Training emits 30% less carbon, shrinking its footprint.", True),
        ("carbon footprint", "It halves the memory footprint of the KV cache.", False),
        ("inference latency", "Decoding is 2.1x faster than the baseline.", True),  # a head its synonyms measure
    ],
)
def test_a_rate_or_footprint_is_measured_only_with_what_it_is_of(quantity, sentence, addressed):
    plan = plan_on("What does it measure?", Aspect(text=quantity, kind=AspectKind.QUANTITY))
    assert aspects_addressed(plan, sentence) == ([quantity] if addressed else [])


def test_a_setting_with_a_magnitude_needs_that_magnitude():
    ratio = Aspect(text="20x compression ratios", kind=AspectKind.SETTING)
    plan = plan_on("Which prompt compression methods keep accuracy at 20x compression ratios?", ratio)
    assert aspects_addressed(plan, "It keeps 98% accuracy at a 20x compression ratio.") == ["20x compression ratios"]
    assert aspects_addressed(plan, "It is 3x faster with compression ratios of 2x-5x.") == []


def test_a_setting_with_a_percentage_needs_that_percentage():
    (sparsity,) = [
        a for a in parse_goal("Does Wanda at 50% unstructured sparsity keep LLaMA accuracy?") if "50%" in a.text
    ]
    assert sparsity.kind is AspectKind.SETTING
    plan = plan_on("Does Wanda at 50% unstructured sparsity keep LLaMA accuracy?", sparsity)
    assert aspects_addressed(plan, "At 50% unstructured sparsity Wanda keeps LLaMA's accuracy.") == [sparsity.text]
    assert aspects_addressed(plan, "At 70% unstructured sparsity Wanda loses accuracy.") == []


def test_a_rate_per_unit_is_measured_by_what_it_counts_not_by_the_unit():
    plan = plan_on(
        "What energy per token do speculative decoding methods use?",
        Aspect(text="energy per token", kind=AspectKind.QUANTITY),
    )
    assert aspects_addressed(plan, "It uses 30% less energy on each request.") == ["energy per token"]
    assert aspects_addressed(plan, "It generates 24 tokens per second on a phone.") == []


def test_phrases_sharing_a_head_are_addressed_only_with_their_own_words():
    plan = Plan(
        goal="Which embedding compression methods (binary quantization, product quantization) keep recall?",
        queries=[],
        aspects=[
            Aspect(text="binary quantization", kind=AspectKind.SETTING, example_of="embedding compression"),
            Aspect(text="product quantization", kind=AspectKind.SETTING, example_of="embedding compression"),
        ],
        key_terms=[],
        # quantization is the rarer word: half the phrase's weight by itself
        term_weights={"binari": 3.0, "product": 2.5, "quantiz": 5.0},
    )
    assert aspects_addressed(plan, "Float8 quantization cuts storage by 4x with under 0.3% loss.") == []
    assert aspects_addressed(plan, "Binary quantization keeps 95% of recall at 32x less storage.") == [
        "binary quantization"
    ]
    alone = plan_on(plan.goal, plan.aspects[0], plan.term_weights)  # no other phrase ends with quantization
    assert aspects_addressed(alone, "Float8 quantization cuts storage by 4x with under 0.3% loss.") == [
        "binary quantization"
    ]


def test_a_count_the_goal_asks_for_is_stated_with_a_number():
    documents = Aspect(text="documents", kind=AspectKind.QUANTITY)
    plan = plan_on("Which datasets exist beyond DocVQA, and how many documents do they contain?", documents)
    assert aspects_addressed(plan, "The retriever finds relevant documents across many pages.") == []
    assert aspects_addressed(plan, "It holds 12,767 documents and 50,000 questions.") == ["documents"]
    # a measure is stated without a number ("improves accuracy", "reach high agreement")
    accuracy = plan_on("How accurate is it?", Aspect(text="accuracy", kind=AspectKind.QUANTITY))
    assert aspects_addressed(accuracy, "It improves accuracy over the baseline.") == ["accuracy"]
    agreement = plan_on("How reliable are LLM labels?", Aspect(text="agreement", kind=AspectKind.QUANTITY))
    assert aspects_addressed(agreement, "LLM labels reach high agreement with experts.") == ["agreement"]


def test_a_revision_is_kept_only_when_it_answers_no_less_of_the_question():
    def draft(*backing: int) -> Draft:
        aspects = [DT, Aspect(text="D4RL", kind=AspectKind.SETTING), Aspect(text="return", kind=AspectKind.QUANTITY)]
        verdicts = [
            AspectVerdict(aspect=a, claim_ids=[f"c{i}"] * bool(n), paper_ids=[f"p{i}"] * n, independent_papers=n)
            for i, (a, n) in enumerate(zip(aspects, backing))
        ]
        return Draft.model_construct(coverage=verdicts, answered=True)

    settings = TribunalSettings()
    before = draft(2, 1, 1)  # the return rests on one paper
    # a follow-up search pushed out the paper that measured the return: a higher score does not make up for it
    assert revision_setback(before, 7.5, draft(2, 1, 0), 8.0, settings) == "2 aspect(s) addressed, against 3 before it"
    assert revision_setback(before, 7.5, draft(2, 1, 2), 7.0, settings) == ""  # corroborated now
    assert revision_setback(before, 7.5, draft(2, 1, 1), 7.5, settings) == ""
    assert revision_setback(before, 7.5, draft(2, 1, 1), 7.3, settings) == "scored 7.30, against 7.50 before it"
    assert revision_setback(before, 7.5, draft(2, 1, 1), 7.45, settings) == ""  # within the margin
    assert revision_setback(before, 7.5, draft(0, 2, 2), 9.0, settings).startswith("1 hard gate(s) failed")


def test_a_size_written_with_its_unit_is_stated_by_the_size_alone():
    size = Aspect(text="70B-parameter LLMs", kind=AspectKind.SETTING)
    plan = plan_on("How much does speculative decoding speed up 70B-parameter LLMs?", size)
    sentence = "Verification is 4x slower than token generation when a 3B model speculates for a 70B target model."
    assert aspects_addressed(plan, sentence) == ["70B-parameter LLMs"]
    assert supports_aspect(sentence, size)
    assert not supports_aspect(sentence.replace("70B", "13B"), size)
