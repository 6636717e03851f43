"""Long, specific goals whose method has its own paper in the 96k corpus: is that paper kept, and where does it rank?

The goals were written as researchers write them (a method, what is measured, benchmarks, model sizes) and each names
a method whose own paper is in the corpus. They were used to find the goal-parsing rules of
benchmarks/results/planner_history.md (2026-11-30), so this is a tuning set: it guards those rules, it does not
report on unseen goals. Retrieval runs in process (plan, search, rank), as `sovereign search` does.
Run: .venv/bin/python -m benchmarks.method_papers
"""

from __future__ import annotations

import time

from benchmarks.common import combined_corpus, write_results
from tasks.models import normalize_id
from tasks.retrieve import IN_PROCESS, retrieve
from tasks.settings import Settings
from tasks.sources.paper_source import CorpusSource

# (goal, the arXiv id of the paper that introduced the method it asks about)
GOALS = [
    (
        "How does grouped-query attention compare with multi-head and multi-query attention in inference speed, KV "
        "cache memory and quality on summarization benchmarks for T5-XXL and 7B decoder models?",
        "2305.13245",
    ),
    (
        "Is there evidence that scaling the number of in-context examples to hundreds or thousands (many-shot "
        "in-context learning) beats fine-tuning on classification tasks for Gemini 1.5 Pro or Claude 3?",
        "2404.11018",
    ),
    (
        "Which methods fine-tune fewer than 1% of parameters yet match full fine-tuning on SuperGLUE with T5-XXL, "
        "and how do prompt tuning and P-tuning v2 differ at smaller model scales?",
        "2110.07602",
    ),
    (
        "How does Toolformer's self-supervised API call insertion affect zero-shot accuracy on math and question "
        "answering benchmarks for a 6.7B GPT-J model compared with larger models without tools?",
        "2302.04761",
    ),
    (
        "How much does Medusa's multiple decoding heads speed up generation for Vicuna 7B and 33B compared with "
        "speculative decoding using a separate draft model?",
        "2401.10774",
    ),
    (
        "Does self-instruct bootstrapping of instruction data from GPT-3 improve performance on "
        "SuperNaturalInstructions and user-oriented instructions compared with vanilla GPT-3 and InstructGPT?",
        "2212.10560",
    ),
    (
        "How much do retrieval-enhanced transformers like RETRO with a 2 trillion token database reduce perplexity "
        "on the Pile compared with models of 25 times more parameters?",
        "2112.04426",
    ),
    (
        "How does the Chinchilla compute-optimal scaling of parameters and training tokens change loss and "
        "downstream accuracy compared with Gopher at the same compute budget?",
        "2203.15556",
    ),
    (
        "How does the Tree of Thoughts framework with breadth-first search over reasoning steps improve success "
        "rates on Game of 24 and creative writing compared with chain-of-thought prompting for GPT-4?",
        "2305.10601",
    ),
    (
        "How does ring attention scale context length to millions of tokens across TPU devices, and what "
        "throughput and memory per device does it report compared with blockwise parallel transformers?",
        "2310.01889",
    ),
    (
        "How does QLoRA 4-bit NormalFloat quantization affect MMLU accuracy and GPU memory when fine-tuning LLaMA "
        "7B, 13B and 65B compared with 16-bit full fine-tuning?",
        "2305.14314",
    ),
    (
        "How does GPTQ 3-bit and 4-bit weight quantization change perplexity on WikiText-2 and zero-shot accuracy "
        "for OPT-175B and LLaMA-2 70B compared with round-to-nearest quantization?",
        "2210.17323",
    ),
    (
        "Does structured pruning with SparseGPT or Wanda at 50% unstructured sparsity keep zero-shot accuracy and "
        "WikiText perplexity for LLaMA 7B to 65B without retraining?",
        "2301.00774",
    ),
    (
        "How does PagedAttention in vLLM change serving throughput and KV cache memory waste for 13B models under "
        "high request concurrency compared with Hugging Face TGI and FasterTransformer?",
        "2309.06180",
    ),
    (
        "Which evaluation methods use GPT-4 as a judge for open-ended chat responses, and how well does the judge "
        "agree with human preferences on MT-Bench and Chatbot Arena?",
        "2306.05685",
    ),
    (
        "Which datasets and metrics are used to evaluate long-form factuality of LLM answers, e.g. FActScore or "
        "SAFE, and how well do they agree with human annotators?",
        "2305.14251",
    ),
    (
        "What do mechanistic interpretability studies find about induction heads in small attention-only "
        "transformers, and how do they relate to in-context learning ability during training phase changes?",
        "2209.11895",
    ),
    (
        "How do state space models like S4 and Hyena handle long-range dependencies on the Long Range Arena "
        "benchmark compared with efficient transformers such as Performer and Longformer?",
        "2302.10866",
    ),
]


def outcome(goal: str, paper_id: str, source: CorpusSource, settings: Settings) -> dict:
    """Where the method's paper ended up for the goal: its rank among the candidates, kept or not, the entity."""
    started = time.perf_counter()
    found = retrieve(goal, source, settings, IN_PROCESS)
    ids = [r.paper.id for r in found.ranked]
    target = normalize_id(paper_id)
    rank = ids.index(target) + 1 if target in ids else None
    return {
        "goal": goal,
        "paper": target,
        "central": found.plan.central,
        "rank": rank,
        "kept": rank is not None and found.ranked[rank - 1].kept,
        "seconds": round(time.perf_counter() - started, 2),
    }


def report(rows: list[dict]) -> str:
    """The per-goal table and the share kept."""
    kept = sum(r["kept"] for r in rows)
    lines = [
        f"Method's own paper kept: {kept} of {len(rows)} long goals (in-process retrieval, 96k corpus).",
        "",
        "| method paper | kept | rank | central entity | goal |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['paper']} | {'yes' if r['kept'] else 'no'} | {r['rank'] or '—'} | {r['central']} | {r['goal'][:90]}… |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    settings = Settings()
    corpus = combined_corpus(settings.search.cache_dir)
    source = CorpusSource.open(corpus, settings.search.cache_dir, settings.search.hybrid)
    rows = [outcome(goal, paper, source, settings) for goal, paper in GOALS]
    write_results("method_papers", {"rows": rows}, report(rows))


if __name__ == "__main__":
    main()
