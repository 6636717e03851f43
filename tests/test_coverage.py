"""Which aspects of the goal a sentence addresses."""

from __future__ import annotations

import pytest

from tasks.coverage import aspects_addressed
from tasks.models import Aspect, AspectKind, Plan

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
