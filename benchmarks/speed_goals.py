"""Long, specific research goals for the user-side speed benchmark (benchmarks/speed.py), written for the LLM corpus."""

from __future__ import annotations

LONG_GOALS = [
    "How does QLoRA 4-bit NormalFloat quantization affect MMLU accuracy and GPU memory when fine-tuning LLaMA 7B, 13B "
    "and 65B compared with 16-bit full fine-tuning?",
    "What end-to-end latency and throughput gains does speculative decoding with a small draft model give for 70B "
    "models on HumanEval and GSM8K compared with standard autoregressive decoding?",
    "How much does FlashAttention-2 reduce training memory and wall-clock time for 7B and 13B transformers at 8k and "
    "32k context lengths compared with standard attention?",
    "Does retrieval-augmented generation with dense passage retrieval improve factual accuracy on Natural Questions "
    "and TriviaQA for 7B models compared with closed-book fine-tuned 70B models?",
    "How does GPTQ 3-bit and 4-bit weight quantization change perplexity on WikiText-2 and zero-shot accuracy for "
    "OPT-175B and LLaMA-2 70B compared with round-to-nearest quantization?",
    "What is the effect of direct preference optimization versus PPO-based RLHF on AlpacaEval win rate, MT-Bench "
    "score and training stability for 7B chat models?",
    "How well do rotary position embedding interpolation methods such as YaRN and NTK scaling extend LLaMA 7B context "
    "to 64k tokens on LongBench and passkey retrieval accuracy?",
    "How does PagedAttention in vLLM change serving throughput and KV cache memory waste for 13B models under high "
    "request concurrency compared with Hugging Face TGI and FasterTransformer?",
    "Do mixture-of-experts models such as Mixtral 8x7B match dense 70B models on MMLU, GSM8K and HumanEval while "
    "using fewer active parameters and less inference compute?",
    "How effective is chain-of-thought prompting with self-consistency at improving GSM8K and MATH accuracy for 7B, "
    "13B and 70B models compared with greedy direct answering?",
    "What are the accuracy and memory trade-offs of KV cache compression with H2O heavy-hitter eviction on LongBench "
    "and needle-in-a-haystack for 7B models at 32k context?",
    "How does LoRA rank affect downstream accuracy on GLUE and instruction-following benchmarks compared with full "
    "fine-tuning for RoBERTa-large and LLaMA 7B under a fixed memory budget?",
    "Does knowledge distillation from GPT-4 generated instructions let 7B and 13B student models approach teacher "
    "accuracy on MMLU, BBH and AlpacaEval?",
    "How do SmoothQuant W8A8 activation quantization and AWQ 4-bit weight quantization compare in latency, memory and "
    "accuracy on MMLU for LLaMA 13B and 70B?",
    "What hallucination rates do 7B and 70B instruction-tuned models show on TruthfulQA and FActScore, and does "
    "retrieval augmentation reduce them?",
    "How does Mamba's selective state space architecture compare with transformers in language modeling perplexity, "
    "inference throughput and long-context recall at 1B to 3B parameters?",
    "How much do code-specialized models such as Code Llama 7B, 13B and 34B improve pass@1 on HumanEval and MBPP over "
    "general LLaMA-2 models of the same size?",
    "What are the energy consumption and carbon emissions of pretraining 7B to 175B parameter language models, and "
    "how do hardware efficiency and data center location change them?",
    "Does structured pruning with SparseGPT or Wanda at 50% unstructured sparsity keep zero-shot accuracy and "
    "WikiText perplexity for LLaMA 7B to 65B without retraining?",
    "How does multilingual instruction tuning affect cross-lingual transfer accuracy on XNLI, TyDiQA and MGSM for "
    "7B and 13B models compared with English-only tuning?",
    "How vulnerable are aligned 7B and 70B chat models to jailbreak prompts and adversarial suffixes measured by "
    "attack success rate on AdvBench, and which defenses reduce it?",
    "How does scaling test-time compute with best-of-N sampling and process reward models change MATH and GSM8K "
    "accuracy for 7B models compared with scaling model size to 70B?",
]
