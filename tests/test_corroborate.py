"""Cross-paper check: a verified claim is corroborated, contested or single-source by the other papers' claims."""

from __future__ import annotations

import pytest
from factories import sentence_claim

from tasks.corroborate import conflicting_number, corroborate, cross_check_one, opposite_direction, quantity_values
from tasks.ml.dense import dense_installed
from tasks.ml.entail import head_installed
from tasks.models import Claim, CrossPaperStatus, Label
from tasks.settings import VerifySettings

LEXICAL = VerifySettings(semantic_support=False)


def finding(claim_id: str, paper_id: str, text: str, label: Label = Label.VERIFIED, aspects=("MoE LoRA",)) -> Claim:
    return sentence_claim(claim_id, paper_id, text, aspects=list(aspects), label=label)


def test_the_same_quantity_moving_the_other_way_is_a_conflict():
    assert opposite_direction("MoE LoRA reduces inference latency by 30%.", "MoE LoRA increases latency.") == "latenc"
    assert opposite_direction("MoE LoRA reduces latency.", "MoE LoRA improves accuracy.") == ""
    assert opposite_direction("MoE LoRA reduces latency.", "MoE LoRA reduces latency too.") == ""
    # "more than 2×" bounds a value; it moves nothing
    assert opposite_direction("RACER gives more than 2× speedup.", "Small drafts reduce speedups.") == ""
    assert opposite_direction("RACER gives a higher speedup.", "Small drafts reduce speedups.") == "speedup"


def test_a_cue_about_another_quantity_is_no_conflict():
    memory = "Sparse MoE LoRA reduces GPU memory during fine-tuning by 35% and reaches comparable accuracy."
    assert opposite_direction(memory, "An auxiliary balancing loss improves accuracy by 1.8 points.") == ""
    assert opposite_direction(memory, "MoE LoRA increases GPU memory use.") == "memori"
    # a word after the quantity that makes it another: both of these are gains
    scissorhands = "Scissorhands reduces the inference memory usage of the KV cache by up to 5X."
    assert opposite_direction(scissorhands, "SAGE-KV achieves 4x higher memory efficiency than StreamLLM.") == ""
    assert opposite_direction("Our method achieves a 2x accuracy loss reduction.", "It improves accuracy by 3%.") == ""
    # a direction denied is none: keeping memory as it was does not contest reducing it
    kept = "QuAILoRA adds a small overhead without increasing the memory cost of fine-tuning."
    assert opposite_direction(kept, "QZO can reduce the total memory cost by more than 18x.") == ""
    assert (
        opposite_direction("It not only increases memory use but also latency.", "It reduces memory use.") == "memori"
    )


def test_a_claim_another_paper_contradicts_is_contested_with_that_paper():
    ours = finding("a", "p1", "MoE LoRA reduces inference latency by 30% over dense LoRA.")
    theirs = finding("b", "p2", "MoE LoRA increases inference latency over dense LoRA.")
    check = cross_check_one(ours, [ours, theirs], LEXICAL)
    assert check.status is CrossPaperStatus.CONTESTED
    assert check.paper_ids == ["p2"] and check.claim_ids == ["b"]
    assert "latenc" in check.detail and "p2" in check.detail


def test_claims_of_the_same_paper_other_aspects_or_unsupported_labels_do_not_count():
    ours = finding("a", "p1", "MoE LoRA reduces inference latency by 30%.")
    same_paper = finding("b", "p1", "MoE LoRA increases inference latency.")
    other_aspect = finding("c", "p2", "QLoRA increases inference latency.", aspects=("QLoRA",))
    refuted = finding("d", "p3", "MoE LoRA increases inference latency.", label=Label.UNSUPPORTED)
    check = cross_check_one(ours, [ours, same_paper, other_aspect, refuted], LEXICAL)
    assert check.status is CrossPaperStatus.SINGLE_SOURCE and check.paper_ids == []


def test_only_verified_claims_are_cross_checked():
    verified = finding("a", "p1", "MoE LoRA reduces inference latency by 30%.")
    weak = finding("b", "p2", "MoE LoRA reduces inference latency.", label=Label.WEAK)
    checked = corroborate([verified, weak], LEXICAL)
    assert checked[0].cross_check is not None and checked[1].cross_check is None


@pytest.mark.skipif(not (dense_installed() and head_installed()), reason="dense extra or entailment head absent")
def test_a_paraphrase_in_another_paper_corroborates():
    ours = finding("a", "p1", "Mixture-of-experts LoRA adapters outperform dense LoRA on multi-task mixtures.")
    theirs = finding(
        "b", "p2", "On multi-task mixtures, dense LoRA is outperformed by mixture-of-experts LoRA adapters."
    )
    check = cross_check_one(ours, [ours, theirs], VerifySettings())
    assert check.status is CrossPaperStatus.CORROBORATED and check.paper_ids == ["p2"]


def test_a_different_value_for_the_same_quantity_and_setting_is_a_conflict():
    ours = finding("a", "p1", "MixLoRA reaches 85.2% accuracy on GLUE with LLaMA-2 7B.")
    theirs = finding("b", "p2", "On GLUE, MixLoRA accuracy is 78.1%.")
    check = cross_check_one(ours, [ours, theirs], LEXICAL)
    assert check.status is CrossPaperStatus.CONTESTED and check.paper_ids == ["p2"]
    assert "78.1%" in check.detail and "GLUE" in check.detail


def test_values_on_another_setting_in_another_unit_or_agreeing_do_not_conflict():
    ours = "MixLoRA reaches 85.2% accuracy on GLUE."
    assert conflicting_number(ours, "On MMLU, MixLoRA accuracy is 78.1%.") == ("", "")
    assert conflicting_number(ours, "On GLUE, MixLoRA accuracy rises by 1.5 points.") == ("", "")
    assert conflicting_number(ours, "On GLUE, MixLoRA accuracy is 85.2%.") == ("", "")
    assert conflicting_number(ours, "MixLoRA accuracy is 78.1%.") == ("", "")  # no setting named
    assert quantity_values("LLaMA-2 7B reaches 85.2% accuracy") == {"accuraci": {"85.2%"}}  # 7B is no value
    # a score is the score of what names it: a FID score and a CLIP score of two models do not conflict
    imagen = "Imagen achieves a FID score of 7.27 on the COCO dataset."
    assert conflicting_number(imagen, "Muse achieves a FID of 7.88 on COCO, with a CLIP score of 0.32.") == ("", "")
    assert conflicting_number(imagen, "On COCO, the FID score of Imagen is 8.1.") == ("fid score", "COCO, FID")


@pytest.mark.skipif(not (dense_installed() and head_installed()), reason="dense extra or entailment head absent")
def test_the_head_refuting_another_papers_finding_contests_nothing():
    # refute probability 0.80 in benchmarks/results/contested.md, and no disagreement: background vs another method
    ours = finding(
        "a",
        "p1",
        "Existing methods like low-rank adaptations (LoRA) are efficient but lack flexibility, while "
        "Mixture-of-Experts (MoE) architectures enhance model capacity at the cost of more & under-utilized "
        "parameters.",
    )
    theirs = finding(
        "b",
        "p2",
        "From the perspective of feature sparsity, we systematically show that non-linearity in conventional adapters "
        "impairs performance, whereas our linear adapter enhances it by enabling more flexible model capacity.",
    )
    assert cross_check_one(ours, [ours, theirs], VerifySettings()).status is not CrossPaperStatus.CONTESTED
