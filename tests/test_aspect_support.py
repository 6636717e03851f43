"""Aspect support: a claim counts for an aspect only when its evidence sentence reports a finding on it."""

from __future__ import annotations

from factories import sentence_claim

from tasks.aspect_support import check_aspects, supports_aspect
from tasks.models import Aspect, AspectKind, Paper, Plan

ENTITY = Aspect(text="MixLoRA", kind=AspectKind.ENTITY)
LATENCY = Aspect(text="inference latency", kind=AspectKind.QUANTITY)
TRADE_OFFS = Aspect(text="trade-offs", kind=AspectKind.QUANTITY)


def test_a_sentence_that_only_names_an_aspect_does_not_support_it():
    assert not supports_aspect("MixLoRA is a mixture of LoRA experts for instruction tuning.", ENTITY)
    assert supports_aspect("MixLoRA improves accuracy by 9% over LoRA.", ENTITY)


def test_a_finding_far_from_the_aspect_is_about_something_else():
    far = (
        "Inference latency was measured on a single A100 node with batch size one for every model and task, "
        "while the accuracy of the adapters improved by 3%."
    )
    assert not supports_aspect(far, LATENCY)
    assert supports_aspect("MixLoRA cuts inference latency by 30%.", LATENCY)
    assert supports_aspect("MixLoRA is 2x faster at inference.", LATENCY)  # a synonym of latency


def test_we_counts_for_the_entity_only_when_the_title_names_it():
    sentence = "We reduce GPU memory by 40% with no loss of accuracy."
    assert supports_aspect(sentence, ENTITY, title="MixLoRA: mixture of LoRA experts")
    assert not supports_aspect(sentence, ENTITY, title="A survey of adapters")
    # however far into its clause the finding stands
    ring = Aspect(text="ring attention", kind=AspectKind.ENTITY)
    long = (
        "Our approach enables training and inference of sequences that are up to device count times longer than those "
        "achievable by prior memory-efficient Transformers."
    )
    assert supports_aspect(long, ring, title="Ring Attention with Blockwise Transformers for Near-Infinite Context")
    assert not supports_aspect(long, ring, title="Star Attention: Efficient LLM Inference")  # not all its words
    assert not supports_aspect("Our approach uses rings of devices.", ring, title="Ring Attention")  # no finding


def test_we_counts_for_a_setting_or_topic_that_the_title_names_as_the_papers_method():
    byt5 = Aspect(text="ByT5", kind=AspectKind.SETTING)
    sentence = "We show that byte-level models outperform their token-level counterparts on noisy text."
    assert supports_aspect(sentence, byt5, title="ByT5: Towards a Token-free Future with Byte-to-byte Models")
    assert not supports_aspect(sentence, byt5, title="Charformer: Fast Character Transformers")
    depths = Aspect(text="mixture-of-depths", kind=AspectKind.TOPIC)
    fewer = "Our models need 50% fewer FLOPs per forward pass."
    assert supports_aspect(fewer, depths, title="Mixture-of-Depths: Dynamically Allocating Compute")
    # a title that applies the topic does not make "our models" the topic's own
    assert not supports_aspect(fewer, depths, title="Early Exits Meet Mixture-of-Depths in Vision")


def test_digits_of_a_name_or_a_link_are_no_finding():
    title = "Feature-level Insights Into Artificial Text Detection With Sparse Autoencoders"
    sae = Aspect(text="sparse autoencoders", kind=AspectKind.ENTITY)
    link = "We show that LLMs have a distinct writing style. https://huggingface.co/papers/67cbfff22cc05acaab147f4d"
    assert not supports_aspect(link, sae, title=title)
    assert not supports_aspect("We train our SAEs on GPT-2 and Llama-3 8B activations.", sae, title=title)
    assert supports_aspect("Our SAEs reconstruct 92% of the variance.", sae, title=title)


def test_a_generic_quantity_needs_any_finding():
    assert supports_aspect("Accuracy dropped by 2 points.", TRADE_OFFS)
    assert not supports_aspect("Adapters are a family of parameter-efficient methods.", TRADE_OFFS)


def test_a_setting_is_supported_by_a_finding_anywhere_in_the_sentence_that_names_it():
    d4rl = Aspect(text="D4RL", kind=AspectKind.SETTING)
    sentence = (
        "Through experiments on robotic manipulation tasks (Robomimic) and locomotion benchmarks (D4RL), we show "
        "that MLP-based Filtered Behavior Cloning achieves competitive or superior performance."
    )
    assert supports_aspect(sentence, d4rl)
    assert not supports_aspect("We release D4RL, a suite of offline tasks for locomotion and manipulation.", d4rl)
    assert not supports_aspect(sentence.replace("D4RL", "MuJoCo"), d4rl)
    # a name written with a hyphen the goal leaves out
    sni = Aspect(text="SuperNaturalInstructions", kind=AspectKind.SETTING)
    assert supports_aspect("It gains 33% on Super-NaturalInstructions over GPT3.", sni)


def test_a_contribution_statement_supports_the_entity_or_topic_it_names():
    progressive = Aspect(text="progressive transformer", kind=AspectKind.TOPIC)
    proposal = (
        "In this paper, we propose Progressive Transformers, a novel architecture that can translate spoken language "
        "sentences to continuous sign pose sequences."
    )
    assert supports_aspect(proposal, progressive)
    assert not supports_aspect(proposal, ENTITY), "it does not name MixLoRA"
    assert not supports_aspect(proposal, LATENCY), "a measured quantity needs a finding"
    assert not supports_aspect("Progressive Transformers translate spoken language to sign poses.", progressive)


def test_check_aspects_sets_aside_the_aspects_the_evidence_does_not_report_on():
    plan = Plan(goal="MixLoRA inference latency", queries=[], aspects=[ENTITY, LATENCY], key_terms=[])
    text = "MixLoRA is a mixture of LoRA experts; inference latency is reported in the appendix."
    aspects = ["MixLoRA", "inference latency"]
    claim = sentence_claim("c", "p", text, aspects=aspects)
    (checked,) = check_aspects([claim], plan, [Paper(id="p", title="MixLoRA", abstract=text)])
    assert checked.aspects == [] and checked.unsupported_aspects == ["MixLoRA", "inference latency"]
    reported = claim.model_copy(update={"evidence": "MixLoRA reduces inference latency by half."})
    (checked,) = check_aspects([reported], plan, [Paper(id="p", title="MixLoRA", abstract=text)])
    assert checked.aspects == ["MixLoRA", "inference latency"] and checked.unsupported_aspects == []


def test_a_metric_with_a_cut_off_is_stated_whole():
    ndcg = Aspect(text="NDCG@10", kind=AspectKind.QUANTITY)
    sentence = "Our model outperforms the baselines (+37% in Recall@1 and +24% in NDCG@10)."
    assert supports_aspect(sentence, ndcg)
    assert not supports_aspect(sentence, Aspect(text="Recall@10", kind=AspectKind.QUANTITY))


def test_an_acronym_the_papers_define_for_the_aspect_states_it():
    decoding = Aspect(text="speculative decoding", kind=AspectKind.ENTITY)
    spelled = {"SD": "speculative decoding"}
    sentence = "However, the throughput gains of SD are limited by a trade-off between draft size and acceptance."
    assert supports_aspect(sentence, decoding, spelled_out=spelled)
    assert supports_aspect("Mirror-SD achieves 2.8x-5.8x wall-time speedups.", decoding, spelled_out=spelled)
    assert not supports_aspect(sentence, decoding)  # no paper defined SD
    assert not supports_aspect(sentence, decoding, spelled_out={"SD": "stable diffusion"})
