"""The Answer that compares: an aspect's evidence table and the sentences composed from it."""

from __future__ import annotations

import re

from factories import sentence_claim

from tasks.compare import direction, evidence_table, values
from tasks.models import Aspect, AspectKind, Claim, CrossCheck, CrossPaperStatus, EvidenceRow, Paper, Plan

PLAN = Plan(
    goal="MixLoRA accuracy on GLUE",
    queries=[],
    aspects=[
        Aspect(text="MixLoRA", kind=AspectKind.ENTITY),
        Aspect(text="accuracy", kind=AspectKind.QUANTITY),
        Aspect(text="GLUE", kind=AspectKind.SETTING),
    ],
    key_terms=[],
)


def row_of(sentence: str, title: str = "", aspects: tuple[str, ...] = ("accuracy",), plan: Plan = PLAN) -> EvidenceRow:
    """The accuracy table's one row for a claim that is the sentence, from a paper with this title."""
    papers = {"p1": Paper(id="p1", title=title, abstract="")}
    filed = sentence_claim("a", "p1", sentence, aspects=list(aspects))
    (row,) = evidence_table("accuracy", [filed], {"p1": 1}, plan, papers).rows
    return row


def claim(claim_id: str, paper_id: str, text: str, status=CrossPaperStatus.SINGLE_SOURCE) -> Claim:
    return sentence_claim(claim_id, paper_id, text, aspects=["accuracy"], cross_check=CrossCheck(status=status))


def test_direction_values_and_parity_read_from_the_sentence():
    assert direction("MixLoRA improves accuracy by 4.2%.") == "higher"
    assert direction("It reduces memory by 40%.") == "lower"
    assert direction("Accuracy is comparable to dense LoRA.") == "parity"
    assert direction("It reduces memory but improves accuracy.") == "mixed"
    assert direction("We describe the method.") == ""
    # a gain or loss that names no quantity rising or falling
    assert direction("Our 8B judge achieves a speedup of 9x over Llama-405B.") == "higher"
    assert direction("It outperforms EAGLE-3 by 1.62x on out-of-domain data.") == "higher"
    assert direction("Decoding is 2x slower than greedy search.") == "lower"
    assert direction("Our approach demonstrates superior performance on the CoVoST-2 benchmark.") == "higher"
    assert direction("Byte-level models remain inferior to subword models on translation.") == "lower"
    assert direction("It reduces latency and outperforms EAGLE-3.") == "lower"  # the quantity's own direction rules
    assert values("In 2023, LLaMA-2 7B reached 85.2% on GLUE, +4.2% on 9/11 tasks.") == ["85.2%", "+4.2%", "9/11"]


def test_values_keep_thousands_counts_and_units_whole_and_drop_bare_details_beside_them():
    assert values("The router adds 9% training time when fewer than 1,000 examples are available.") == ["9%"]
    assert values("It matches LoRA within 0.5% on 9 of 11 tasks while training 1.6x faster.") == [
        "0.5%",
        "9 of 11",
        "1.6x",
    ]
    assert values("It cuts parameters by 10,000 times and memory by 3 times.") == ["10,000 times", "3 times"]
    assert values("70% of tokens go to one expert after 2 epochs; balancing adds 1.8 points.") == ["70%", "1.8 points"]
    assert values("Perplexity falls from 12.3 to 10.1.") == ["12.3", "10.1"]  # no unit anywhere: the bare numbers
    assert values("We observe that (1) hard tasks hold easier subtasks and (2) drafts run in parallel.") == []
    assert values("Accuracy rises (3 of 4 tasks) to 71 (from 64).") == ["3 of 4"]


def test_values_written_as_words_capitals_ranges_or_latex_read_as_the_reader_sees_them():
    assert values("It gives up to an 81 percent additional speedup and 85.2 % accuracy.") == ["81%", "85.2%"]
    assert values("It runs 2.84X faster, a 2X-3X or 3–5× acceleration, and 2-3x less memory.") == [
        "2.84X",
        "2X-3X",
        "3–5×",
        "2-3x",
    ]
    assert values("It prunes 3-5 layers, 40% of them.") == ["40%"]  # a range of counts, no factor: a detail
    # a range of percentages is one value, not a first bare number and a negative second
    assert values("It speeds up byte-level models by 28%-100% and gains 8–10 % on GLUE.") == ["28%-100%", "8–10%"]
    assert values("On the BIRD split (n=1534, k=5), accuracy rises from 52.1 to 55.3.") == ["52.1", "55.3"]
    # a metric's cutoff and a name's version are not values
    assert values("On MultiVENT 2.0++, CLaMR improves nDCG@10 by 25.6 and Recall@3 by 4.2 percentage points.") == [
        "4.2 percentage points"
    ]
    row = row_of(r"RACER achieves more than $2\times$ speedup on GLUE.", "RACER: Retrieval-Augmented Drafting")
    assert row.value == "2×"
    assert row_of("MixLoRA improves about 937; accuracy over PEFT methods.", "MixLoRA").value == "9%"


def test_a_papers_own_method_names_its_row_and_a_value_is_never_a_setting():
    sentence = "LoRA matches full fine-tuning within 0.5% accuracy on GLUE while training 1.6x faster."
    row = row_of(sentence, "LoRA: Low-Rank Adaptation of Large Language Models", ("MixLoRA", "accuracy"))
    assert (row.method, row.setting, row.value) == ("LoRA", "GLUE", "0.5%, 1.6x")


def test_the_name_that_does_the_findings_verb_is_its_method_not_a_setting():
    rows = {
        "Across code (HumanEval) and math (GSM8K), GTO increases acceptance length by 7.4%.": (
            "GTO",
            "HumanEval, GSM8K",
        ),
        "Combining both cascades, CS Drafting achieves up to an 81 percent speedup.": ("CS Drafting", ""),
        "We show that SpecVocab can achieve 8.1% more throughput than EAGLE-3.": ("SpecVocab", "EAGLE-3"),
        "Experiments on GLUE show that Domino achieves 5.49× speedup under SGLang serving.": ("Domino", "GLUE"),
        "Specifically, CGPO shows improvements of 7.4% in AlpacaEval-2.": ("CGPO", "AlpacaEval-2"),
        # a name's -ing form is a condition, not who did it; a capitalised first word must be a name
        "On GLUE it is 1.5× faster, with FP16 reaching up to 740 TFLOPs/s.": ("MixLoRA", "GLUE"),
        "Results show gains of 3% accuracy on GLUE.": ("MixLoRA", "GLUE"),
        "Experiments on GLUE show gains of 3% accuracy.": ("MixLoRA", "GLUE"),  # no subject: the goal's entity
        # a value before a noun does nothing; a benchmark named beside the finding is where it was measured
        "We demonstrate up to a 1.56x speedup and a 33x reduction on GLUE.": ("MixLoRA", "GLUE"),
        "Our evaluations on SQuAD and HarmBench show that it reaches 98% accuracy.": ("MixLoRA", "SQuAD, HarmBench"),
    }
    for sentence, (method, setting) in rows.items():
        row = row_of(sentence, "Bridging Draft Policy Misalignment", ("MixLoRA", "accuracy"))
        assert (row.method, row.setting) == (method, setting), sentence


def test_where_several_names_do_a_verb_the_papers_own_is_its_method():
    sentence = "On GLUE, 16-bit LoRA achieves superior accuracy, but LoTA-QAF still outperforms other methods."
    assert row_of(sentence, "LoTA-QAF: Lossless Ternary Adaptation for Fine-Tuning").method == "LoTA-QAF"


def test_a_name_the_papers_title_gives_is_its_method_when_no_name_does_the_verb():
    title = "OmniQuant: Omnidirectionally Calibrated Quantization for LLMs"
    row = row_of("Experiments validate OmniQuant's accuracy on GLUE.", title)
    assert (row.method, row.setting) == ("OmniQuant", "GLUE")
    # a short name is no title's word by being inside one ("OR" of "for")
    assert row_of("On OR problems it attains 54% accuracy.", title).method == ""


def test_a_setting_of_several_words_is_named_as_the_goal_wrote_it():
    settings = [
        Aspect(text="Natural Questions", kind=AspectKind.SETTING),
        Aspect(text="TriviaQA", kind=AspectKind.SETTING),
    ]
    plan = PLAN.model_copy(update={"aspects": [*PLAN.aspects, *settings]})
    sentence = "GAR achieves state-of-the-art exact match on Natural Questions and TriviaQA, 3.2 points over DPR."
    row = row_of(sentence, "GAR", plan=plan)
    assert row.setting == "Natural Questions, TriviaQA"


def test_list_markers_are_not_reported_values():
    assert values("It has three parts: 1) a cross-view module; 2) a memory bank; 3) an alignment loss.") == []
    assert values("(1) hard tasks gain 4.2% and (2) easy ones 1.1%.") == ["4.2%", "1.1%"]
    # a name's version or a figure's number is no value; a count after a sentence's opening word is
    assert values("Imagen 3 is preferred over DALL-E 2 by raters in Table 2 with 87% wins.") == ["87%"]
    assert values("In 3 of 5 tasks it wins.") == ["3 of 5"]
    # a list whose "2)" is in the next sentence
    assert values("Experiments reveal that 1) xTrimoPGLM outperforms baselines in 18 benchmarks.") == ["18"]
    assert values("Accuracy rises (from 3 to 1) as depth grows.") == ["3", "1"]
    assert values("Accuracy rises by 3 (from 71 to 74).") == ["3", "71", "74"]
    assert values("Accuracy rises (from 3 to 4) on GLUE.") == ["3", "4"]


def test_a_number_the_goal_names_is_not_a_reported_value():
    counted = PLAN.model_copy(update={"goal": "Is tuning on 1,000 curated examples (LIMA) enough for alignment?"})
    sentence = "We fine-tune LIMA on only 1,000 curated prompts, and it wins 43% of comparisons."
    assert row_of(sentence, "LIMA", plan=counted).value == "43%"
    plan = PLAN.model_copy(
        update={
            "goal": "How do models do on Game of 24?",
            "aspects": [*PLAN.aspects, Aspect(text="Game of 24", kind=AspectKind.TOPIC)],
        }
    )
    assert row_of("On the 24 Game task it solves 74 puzzles where others solve 4.", "X", plan=plan).value == "74, 4"
    held = PLAN.model_copy(update={"goal": "What accuracy does Wanda keep at 50% sparsity?"})
    assert row_of("At 50% sparsity Wanda loses 2.1% accuracy.", "Wanda", plan=held).value == "2.1%"


def test_the_table_names_method_setting_value_direction_and_cross_check():
    claims = [
        claim("a", "p1", "We improve accuracy on GLUE by 4.2% over dense LoRA.", CrossPaperStatus.CONTESTED),
        claim("b", "p2", "Adapters of this kind reach comparable accuracy on MMLU with LLaMA-2."),
    ]
    papers = {
        "p1": Paper(id="p1", title="MixLoRA: experts of LoRA", abstract=""),
        "p2": Paper(id="p2", title="X", abstract=""),
    }
    table = evidence_table("accuracy", claims, {"p1": 1, "p2": 2}, PLAN, papers)
    first, second = table.rows
    assert (first.number, first.method, first.setting, first.value, first.direction, first.cross_check) == (
        1,
        "MixLoRA",
        "GLUE",
        "4.2%",
        "higher",
        "contested",
    )
    assert (second.setting, second.value, second.direction) == ("MMLU, LLaMA-2", "", "parity")
    assert 2 <= len(table.sentences) <= 4
    assert table.sentences[0] == "Of 2 findings from 2 papers, 1 reports an increase or gain [1], 1 parity [2]."
    assert any("contest [1]" in s for s in table.sentences)


def test_every_composed_sentence_cites_only_rows_of_its_table():
    claims = [
        claim(c, f"p{i}", t)
        for i, (c, t) in enumerate([("a", "Accuracy rises by 3% on GLUE."), ("b", "Accuracy drops by 1% on MMLU.")])
    ]
    papers = {f"p{i}": Paper(id=f"p{i}", title="", abstract="") for i in range(2)}
    table = evidence_table("accuracy", claims, {"p0": 3, "p1": 7}, PLAN, papers)
    for sentence in table.sentences:
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", sentence)}
        assert cited and cited <= {3, 7}, sentence
    assert "not directly comparable" in " ".join(table.sentences)  # 3% on GLUE, 1% on MMLU


def test_names_resolutions_metrics_and_factors_are_neither_values_nor_settings():
    assert values("On ImageNet 256x256, SiT-XL/2+IG achieves FID=5.31 and FID=1.75.") == ["5.31", "1.75"]
    assert values("Built on LightningDiT-B/1 at 256×256 it reaches an FID of 4.00.") == ["4.00"]
    assert values("It is 3× faster and 2.5x cheaper.") == ["3×", "2.5x"]
    assert values("A 1.8B-parameter pipeline matches it at 0.4 s.") == ["0.4"]  # not the "1" of 1.8B
    plan = PLAN.model_copy(
        update={"aspects": [*PLAN.aspects, Aspect(text="ImageNet 256x256", kind=AspectKind.SETTING)]}
    )
    for sentence, setting in [
        ("TransDiff reaches an FID of 1.61 and an IS of 293.4, with x2 faster inference.", ""),
        ("On ImageNet 256x256, SiT-XL/2+IG achieves FID=5.31 at 80 epochs.", "ImageNet 256x256"),
        ("On MS COCO 2017-5k, InstaFlow reaches an FID of 23.3.", "MS COCO 2017-5k"),  # names side by side: one
    ]:
        row = row_of(sentence, "Guidance for diffusion", plan=plan)
        assert row.setting == setting and row.method not in {"ImageNet", "FID", "IS"}, row
