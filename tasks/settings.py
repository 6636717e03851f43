"""One settings object for the whole kernel: env prefix SOVEREIGN_, nested groups with `__`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tasks.models import AspectKind, FindingKind


class HybridSearchSettings(BaseModel):
    """The corpus's hybrid search, tuned on the PaSa AutoScholar queries (benchmarks/results/tuning.md)."""

    channel_candidates: int = Field(300, ge=1, description="Candidates each search channel ranks before fusion.")
    feedback_docs: int = Field(
        10, ge=1, description="Leading BM25 results whose shared terms expand the query (pseudo-relevance feedback)."
    )
    feedback_terms: int = Field(10, ge=0, description="Most feedback terms added to the query.")
    feedback_min_df: int = Field(3, ge=1, description="Leading results a term must occur in to be a feedback term.")
    dense_weight: float = Field(1.0, ge=0.0, description="The dense channel's vote in the fusion.")
    dense_feedback_docs: int = Field(
        5, ge=1, description="Leading fused results whose mean vector moves the query's (dense feedback, Rocchio)."
    )
    dense_feedback_weight: float = Field(
        0.5, ge=0.0, description="The moved query's dense channel's vote in the fusion."
    )


class SearchSettings(BaseModel):
    """Where papers come from and how many each query asks for."""

    source: Literal["corpus", "arxiv"] = Field("corpus", description="Paper source: a local corpus file or live arXiv.")
    corpus: Path | None = Field(
        None, description="Local corpus (JSON Lines, .jsonl.gz or Parquet); required for source=corpus."
    )
    per_query_limit: int = Field(
        50,
        ge=1,
        le=500,
        description="Papers requested per search query; a plan of fewer than four queries asks each for more, "
        "the same total.",
    )
    arxiv_min_interval_seconds: float = Field(
        3.0, ge=0.0, description="Minimum spacing of arXiv API requests across all parallel queries."
    )
    arxiv_timeout_seconds: float = Field(20.0, gt=0, description="HTTP timeout of one arXiv request.")
    arxiv_query_url: str = Field(
        "https://export.arxiv.org/api/query?{}",
        description="arXiv API endpoint (a loopback server in tests).",
    )
    retry_delay_seconds: float = Field(
        2.0, ge=0.0, description="Base delay of the exponential backoff between search retries."
    )
    acronym_min_definitions: int = Field(
        2,
        ge=1,
        description="Retrieved abstracts that must define one of the goal's acronyms the same way (\"chain-of-thought "
        '(CoT)") before its long form is searched for and counted as the acronym.',
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "sovereign",
        description="Where corpus indexes are cached, keyed by the corpus file's content hash.",
    )
    hybrid: HybridSearchSettings = Field(
        default_factory=HybridSearchSettings, description="How the corpus's search channels are fused."
    )


class PlanSettings(BaseModel):
    """How a goal is read: which phrase is its central entity, and which words its rarest-words query holds."""

    subject_prior: float = Field(
        1.3,
        ge=1.0,
        description="A question usually names its subject first: the first topic phrase's specificity counts this "
        "much more when the central entity is chosen (benchmarks/results/planner_history.md).",
    )
    other_words_share: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="In a phrase's specificity, the share of its corpus IDF each word beyond its rarest adds: one "
        "rare name outweighs a run of common words.",
    )
    unknown_word_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Share of its (highest) IDF a word no paper of the corpus uses gets in a phrase's specificity: a "
        "word the corpus lacks names no topic it holds.",
    )
    rarest_words: int = Field(
        3,
        ge=1,
        le=10,
        description="Words in the query made of the goal's rarest words, the terms that single out its papers "
        "(benchmarks/results/retrieval.md).",
    )
    quantity_word_factor: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Rarity of a word naming a measured quantity ('trade-offs', 'accuracy') relative to a topic word "
        "when the rarest-words query is chosen: a paper need not use those words to address it.",
    )
    max_query_paper_share: float = Field(
        0.04,
        ge=0.0,
        le=1.0,
        description="Most papers of the corpus, as a share, that the word of a one-word query may occur in, unless it "
        "is the goal's central entity: 'large' (half the 96k corpus) or 'tuning' (17%) alone fill a search with papers "
        "on anything; the plan then runs fewer, deeper searches (AutoScholar, 80 questions: R@20 unchanged, gold among "
        "the candidates 0.575 -> 0.588). A goal whose topic phrases are all such words takes its most specific phrase "
        "of any kind as its central entity ('used the RealNews dataset for pretraining').",
    )
    subject_max_share: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="The subject of a question ('Do X …', 'How robust are X …') is its central entity when its rarest "
        "word is in at most this share of the corpus's papers: 'vision transformers' (14%) and 'LLM-based code "
        "generation models' (21%) are; 'large language models' (53% for 'language') in an LLM corpus names no topic "
        "and yields to the question's most specific phrase.",
    )
    generic_word_share: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="A topic of one word that at least this share of the corpus's papers use ('models' in 85% of the "
        "96k corpus) names no topic, so it is no aspect a paper must address; at 0.2, 'alignment' and (stemmed like "
        "'demonstrate') 'demonstrations' were dropped too.",
    )


class RankSettings(BaseModel):
    """Fusion, reranking and the relevance gate."""

    max_papers: int = Field(8, ge=1, le=50, description="Most papers kept for analysis after the gate.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    relevance_threshold: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Relevance gate: papers scoring below it are not analysed. Kept papers are the leading ones "
        "in retrieval order that pass it (AutoScholar, 80 questions: a gold paper kept 0.125 at 0.45 by relevance "
        "order, 0.25 at 0.25 in retrieval order, where all top-8 would give 0.275).",
    )
    method_name_idf_share: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Share of the corpus's highest IDF (a term in one paper) at which a name-like word of the "
        "central entity (MixLoRA, TinyBERT) names a method; a candidate with that word in its title is the method's "
        "own paper and is kept first. On the 96k corpus 0.6 is IDF 7.1, about 1 paper in 400: common names such as "
        "LoRA or BERT (IDF 5.1) do not qualify.",
    )
    full_question_weight: float = Field(
        4.0,
        ge=0.0,
        description="Rank-fusion weight of the plan's first query, which holds all the question's key terms and "
        "retrieves best; each narrower query weighs 1 (AutoScholar, benchmarks/results/rank_weights.md).",
    )
    similarity_rank_weight: float = Field(
        0.5, ge=0.0, description="Rank-fusion weight of the candidates' embedding similarity with the goal."
    )
    coverage_rank_weight: float = Field(
        2.0,
        ge=0.0,
        description="Rank-fusion weight of the candidates ordered by how many of the goal's terms they state "
        "(AutoScholar recall@5 0.124 → 0.161 with the phrase channel).",
    )
    phrase_rank_weight: float = Field(
        2.0,
        ge=0.0,
        description="Rank-fusion weight of the candidates ordered by how many of the goal's phrases' word pairs "
        "they state side by side.",
    )
    maxsim_rank_weight: float = Field(
        20.0,
        ge=0.0,
        description="Rank-fusion weight of the token-MaxSim reranking of the leading candidates (dense extra): at "
        "20 the MaxSim order mostly decides the top of the list (sweep in benchmarks/results/rank_weights.md).",
    )
    quantity_term_weight: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Weight of a goal term naming a measured quantity ('trade-offs', 'accuracy') relative to its "
        "IDF in a paper's coverage of the goal: a paper need not use those words to address it.",
    )
    coverage_weight: float = Field(
        0.75,
        ge=0.0,
        le=1.0,
        description="Share of a paper's relevance from its lexical coverage of the goal's terms; the rest is its "
        "embedding similarity with the goal.",
    )
    maxsim_candidates: int = Field(
        30,
        ge=0,
        le=300,
        description="Leading candidates reranked by token MaxSim with the goal (dense extra); 0: none.",
    )
    keep_origin_paper: bool = Field(
        True,
        description="When the goal asks which paper introduced its central entity ('which work first introduced …'), "
        "keep first the earliest submitted candidate that states the entity in full and passes the gate "
        "(AutoScholar, 80 questions: gold kept 0.263 -> 0.275, the 5 origin questions 2 -> 3, none lost; "
        "benchmarks/results/planner_history.md).",
    )
    keep_example_papers: bool = Field(
        True,
        description="Keep first, for each rare capitalised name the goal lists right after its central entity "
        "('state space models like S4 and Hyena'), the earliest candidate whose title names it: that example's own "
        "paper. Method papers 17 -> 18 of 18 (the Hyena paper, fused rank 9); AutoScholar, 80 questions: unchanged "
        "(benchmarks/results/planner_history.md).",
    )
    keep_titled_origin: bool = Field(
        True,
        description="Keep first, whatever the question asks, the earliest submitted candidate whose title states the "
        "central entity word for word (two or more words, or one name such as LoRA) and that passes the gate: the "
        "paper that named the topic ('Fast Inference From Transformers Via Speculative Decoding' for a speculative "
        "decoding question). AutoScholar, 80 questions: gold kept 0.287 -> 0.300, one gained, none lost; with one-word "
        "names, the LoRA paper (fused rank 98) kept for 'the concept of LoRA' "
        "(benchmarks/results/planner_history.md).",
    )
    maxsim_pieces: int = Field(
        0,
        ge=0,
        description="Pieces of 128 tokens of each candidate's title and abstract that the MaxSim reranking encodes "
        "(0: all of it). Fewer cost less CPU and lose recall: at 1 piece, AutoScholar (first 60 questions) R@5 0.206 "
        "-> 0.139, R@20 0.267 -> 0.236, 1.65 times faster (benchmarks/results/planner_history.md).",
    )
    maxsim_words: int = Field(
        0,
        ge=0,
        description="Words of each candidate the MaxSim reranking encodes: its title and the abstract's sentences "
        "stating the most goal term weight, within this many words (0: the whole title and abstract). 90 words "
        "rank 1.5 times faster with AutoScholar R@5 / R@100 unchanged, but the whole flow keeps other papers: 36 "
        "long goals address 188 aspects instead of 198 (benchmarks/results/speed.md).",
    )
    maxsim_quantized: bool = Field(
        True,
        description="Encode the MaxSim candidates and the goal with MiniLM's int8 weights (ONNX Runtime dynamic "
        "quantization per channel, written once beside the exported model): 1.5-1.6 times less CPU than float32; "
        "AutoScholar, first 60 queries: R@20 and R@100 unchanged, R@5 0.206 -> 0.197 (one query; "
        "benchmarks/results/maxsim_int8.md).",
    )


class ExtractSettings(BaseModel):
    """Offline claim extraction."""

    claims_per_paper: int = Field(2, ge=1, le=10, description="Most claims taken from one paper.")
    max_claims: int = Field(16, ge=1, le=100, description="Most claims in one brief.")
    min_sentence_score: float = Field(
        0.25, ge=0.0, le=1.0, description="Sentences scoring below this are not findings worth a claim."
    )
    aspect_bonus: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description="Added to a sentence's score per goal aspect it addresses that the paper's sentences chosen "
        "before it do not, so a paper's claims spread over the goal's aspects.",
    )
    unaddressed_bonus: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description="Added on top of aspect_bonus per aspect that no paper before this one in the brief addresses, so "
        "a paper's sentence on an aspect the brief would otherwise miss (a comparison) wins over a second one on "
        "the entity (36 long goals: benchmarks/results/long_goal_briefs.md).",
    )
    min_finding: float = Field(
        0.4, ge=0.0, le=1.0, description="Finding strength (cues, evidence markers, numbers) a sentence needs to count."
    )
    min_chars: int = Field(40, ge=0, description="Shortest sentence taken as a claim.")
    max_chars: int = Field(900, ge=1, description="Longest sentence taken as a claim.")


class VerifySettings(BaseModel):
    """Claim verification thresholds."""

    baseline_tfidf_threshold: float = Field(
        0.15, ge=0.0, le=1.0, description="The replaced product's TF-IDF cosine cut-off (reported only)."
    )
    verified_threshold: float = Field(0.76, ge=0.0, le=1.0, description="Support score for VERIFIED.")
    weak_threshold: float = Field(0.46, ge=0.0, le=1.0, description="Support score for WEAK.")
    window_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Share of the lexical support given to the best one- or two-sentence window; the rest is the "
        "whole abstract's (tuned on SciFact train).",
    )
    semantic_share: float = Field(
        0.9,
        ge=0.0,
        le=1.0,
        description="With the dense extra, share of the support score given to the claim's projected MaxSim with the "
        "abstract; the rest is lexical (cross-validated on SciFact train, benchmarks/results/tuning.md).",
    )
    duplicate_similarity: float = Field(
        0.92, ge=0.0, le=1.0, description="Embedding cosine above which two claims are merged."
    )
    semantic_support: bool = Field(
        True,
        description="Blend the claim's token-level MaxSim with the abstract (all-MiniLM-L6-v2 token states, the "
        "`dense` extra) into the support score when the extra is installed; otherwise support is lexical only.",
    )
    entailment_head: bool = Field(
        True,
        description="With the dense extra, label claims by the entailment head (tasks/ml/entailment_head.npz, fitted "
        "on SciFact train and HealthVer dev by benchmarks/fit_entailment_head.py): support is its probability that "
        "the abstract supports the claim, and a claim it refutes is CONTRADICTED.",
    )
    supported_probability: float = Field(
        0.55,
        ge=0.0,
        le=1.0,
        description="Entailment head: support probability for VERIFIED; the lowest that keeps Refutes VERIFIED at "
        "10% on HealthVer dev (grouped 5-fold, out of fold): 0.55 verifies 26% of Supports and 10% of Refutes "
        "pairs; 0.5: 33% and 13%; 0.4: 48% and 25%.",
    )
    contradicted_probability: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Entailment head: refute probability for CONTRADICTED (when above the support probability); the "
        "lowest that keeps Supports CONTRADICTED at 10% on HealthVer dev (out of fold): 0.6 marks 27% of Refutes "
        "and 10% of Supports pairs; 0.5: 40% and 16%.",
    )
    weak_probability: float = Field(
        0.25, ge=0.0, le=1.0, description="Entailment head: support probability, after issue penalties, for WEAK."
    )
    judge_verdict_scores: dict[Literal["SUPPORTS", "NOT_ENOUGH_INFO", "REFUTES"], float] = Field(
        default_factory=lambda: {"SUPPORTS": 1.0, "NOT_ENOUGH_INFO": 0.4, "REFUTES": 0.0},
        description="How much each verdict of the chat-model judge vouches for a claim (0-1).",
    )
    judge_share: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of a judged claim's confidence that is the judge's verdict score."
    )


class TribunalSettings(BaseModel):
    """Review, revision and approval policy."""

    approve_threshold: float = Field(6.5, ge=0.0, le=10.0, description="Score needed to approve.")
    reject_floor: float = Field(2.0, ge=0.0, le=10.0, description="Below this score the draft is rejected.")
    max_revision_rounds: int = Field(1, ge=0, le=5, description="Revision rounds when the score is low.")
    off_topic_below: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Kept papers under this relevance that back no verified claim are off-topic.",
    )
    min_independent_papers: int = Field(
        2,
        ge=1,
        le=10,
        description="Papers with different first authors that must address the central entity and every measured "
        "quantity before a brief is approved.",
    )
    min_addressed_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Share of the goal's aspects that verified evidence must address before a brief is published as "
        "a soft-approved draft; below it the retrieved literature is off the question (a generic 'graph neural "
        "networks' addressed, none of five other aspects) and the brief is held for the owner.",
    )
    setback_margin: float = Field(
        0.1,
        ge=0.0,
        le=10.0,
        description="How much lower a revised draft that answers as many aspects may score and still be kept: a "
        "revision that drops the unsupported claims the tribunal named can lose a few hundredths of a point.",
    )
    aspect_weights: dict[AspectKind, float] = Field(
        default_factory=lambda: {
            AspectKind.ENTITY: 2.0,
            AspectKind.QUANTITY: 1.5,
            AspectKind.COMPARISON: 1.0,
            AspectKind.TOPIC: 1.0,
            AspectKind.SETTING: 0.5,
        },
        description="Weight of each kind of goal aspect in the synthesizer's coverage score.",
    )
    finding_penalties: dict[FindingKind, float] = Field(
        default_factory=lambda: {
            FindingKind.NO_EVIDENCE: 3.0,
            FindingKind.MISSING_ASPECT: 0.5,
            FindingKind.SINGLE_SOURCE: 0.75,
            FindingKind.OFF_TOPIC_SOURCE: 0.5,
            FindingKind.UNSUPPORTED_NUMBER: 0.4,
            FindingKind.UNSUPPORTED_CLAIM: 0.4,
            FindingKind.WEAK_CLAIM: 0.2,
        },
        description="Points a finding takes off the score of the role that reports it (0-10 scale).",
    )


class ApprovalSettings(BaseModel):
    """The owner's review of drafts held by the HUMAN_REVIEW policy."""

    timeout_seconds: int = Field(
        0,
        ge=0,
        description="How long a HUMAN_REVIEW run waits paused for the owner's decision (the UI form or "
        "`sovereign approve`) before it publishes as a draft; 0 publishes the draft without waiting.",
    )
    poll_seconds: int = Field(10, ge=1, description="How often a paused run checks whether the owner answered.")


class LlmSettings(BaseModel):
    """Chat model and embedder backends: NVIDIA NIM (hosted or self-hosted) or the offline ones."""

    backend: Literal["auto", "nim", "offline"] = Field(
        "auto", description="LLM stages: nim, offline, or auto (nim when NVIDIA_API_KEY is set, else offline)."
    )
    embedder: Literal["auto", "nim", "offline"] = Field(
        "auto", description="Embedder: nim, offline, or auto (nim when NVIDIA_API_KEY is set, else offline)."
    )
    nim_base_url: str = Field(
        "https://integrate.api.nvidia.com/v1",
        description="NIM endpoint (also SOVEREIGN_NIM_BASE_URL); set it to a self-hosted NIM, e.g. http://host:8000/v1.",
    )
    chat_model: str = Field(
        "meta/llama-3.3-70b-instruct", description="Chat model of every LLM stage (also SOVEREIGN_NIM_CHAT_MODEL)."
    )
    embed_model: str = Field("nvidia/nv-embedqa-e5-v5", description="Embedding model (also SOVEREIGN_NIM_EMBED_MODEL).")
    embed_dimension: int = Field(1024, ge=1, description="Vector size the embedding model must return.")
    embed_batch_size: int = Field(50, ge=1, le=512, description="Texts per embeddings request.")
    embed_truncate: Literal["NONE", "START", "END"] = Field(
        "END", description="How the NIM cuts a text longer than the model's context (NONE makes it an error)."
    )
    temperature: float = Field(0.1, ge=0.0, le=2.0, description="Sampling temperature of the chat model.")
    max_tokens: int = Field(1024, ge=16, description="Most tokens one chat reply may have.")
    timeout_seconds: float = Field(60.0, gt=0, description="HTTP timeout of one NIM request.")
    max_attempts: int = Field(
        3, ge=1, le=10, description="Asks per structured reply: a malformed reply is re-asked, then the stage fails."
    )
    max_retries: int = Field(4, ge=0, le=10, description="Retries of one request on 429, 5xx, timeouts.")
    retry_base_seconds: float = Field(
        2.0, ge=0.0, description="Base delay of the exponential backoff (with jitter) between request retries."
    )
    retry_max_seconds: float = Field(60.0, ge=0.0, description="Longest wait between retries, Retry-After included.")
    requests_per_minute: float = Field(
        40.0, ge=0.0, description="NIM requests per minute across the run (a Prefect global rate limit); 0 = none."
    )


class EmbedSettings(BaseModel):
    """`sovereign corpus embed`: the flow that embeds a corpus's papers in chunks on a process pool or Dask."""

    chunk_papers: int = Field(
        512,
        ge=1,
        description="Papers per embedding task: the unit a finished run skips and a killed run redoes (MiniLM: "
        "about a minute of one single-core worker, benchmarks/results/embedding.md; NIM: ten requests of 50).",
    )
    chunks_in_flight: int = Field(
        16,
        ge=1,
        description="Chunks submitted and not yet stored: their texts wait in memory (about 0.5 MB a chunk); keep "
        "it above the number of workers so none idles.",
    )
    local_workers: int = Field(0, ge=0, description="Processes of the local pool; 0: one per core.")
    onnx_threads: int = Field(
        0,
        ge=0,
        description="ONNX Runtime threads of one MiniLM process; 0: one per core. The local pool gives each of its "
        "processes its share of the cores; set it on Dask workers that share a machine.",
    )
    ann_min_papers: int = Field(
        500_000,
        ge=0,
        description="Corpora of at least this many papers also get an approximate nearest-neighbour index of their "
        "vectors (usearch HNSW, int8), which the dense channel searches instead of the exact product: at 96k the "
        "exact product takes ~6 ms and the index finds 91% of the exact top 300 (benchmarks/results/scale.md).",
    )
    task_retries: int = Field(2, ge=0, le=10, description="Retries of a failed chunk before the run gives it up.")
    retry_delay_seconds: float = Field(10.0, ge=0.0, description="Wait before retrying a failed chunk.")


class _FlatNimEnv(PydanticBaseSettingsSource):
    """The NIM names users know (SOVEREIGN_NIM_BASE_URL, …) as a low-priority source of the `llm` group."""

    NAMES = {
        "SOVEREIGN_NIM_BASE_URL": "nim_base_url",
        "SOVEREIGN_NIM_CHAT_MODEL": "chat_model",
        "SOVEREIGN_NIM_EMBED_MODEL": "embed_model",
    }

    def get_field_value(self, field, field_name):  # unused: __call__ builds the whole group
        return None, field_name, False

    def __call__(self) -> dict:
        env_file = self.settings_cls.model_config.get("env_file")
        found = {k.upper(): v for k, v in dotenv_values(env_file).items() if v} if env_file else {}
        found.update({k.upper(): v for k, v in os.environ.items()})
        llm = {field: found[name] for name, field in self.NAMES.items() if found.get(name)}
        return {"llm": llm} if llm else {}


class NimCredentials(BaseSettings):
    """The NVIDIA API key, kept apart from Settings so it never reaches a report, a hash or a cache key."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("NVIDIA_API_KEY", "SOVEREIGN_NVIDIA_API_KEY"))

    def resolves_offline(self, choice: str) -> bool:
        """Whether a backend choice (auto, nim, offline) means the offline backend: offline, or auto without a key."""
        return choice == "offline" or (choice == "auto" and self.api_key is None)


class Settings(BaseSettings):
    """Effective settings of a run; their hash goes into every report."""

    model_config = SettingsConfigDict(
        env_prefix="SOVEREIGN_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    search: SearchSettings = Field(default_factory=SearchSettings)
    plan: PlanSettings = Field(default_factory=PlanSettings)
    rank: RankSettings = Field(default_factory=RankSettings)
    extract: ExtractSettings = Field(default_factory=ExtractSettings)
    verify: VerifySettings = Field(default_factory=VerifySettings)
    tribunal: TribunalSettings = Field(default_factory=TribunalSettings)
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    result_storage: Path | None = Field(
        None,
        description="Where finished stages' results are persisted so retries and re-runs reuse them; "
        "unset uses Prefect's own PREFECT_LOCAL_STORAGE_PATH (~/.prefect/storage).",
    )
    out_dir: Path = Field(Path("runs"), description="Directory under which each run publishes its brief.")
    max_goal_chars: int = Field(1000, ge=10, description="Longest research goal accepted.")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        """The usual sources, then the flat SOVEREIGN_NIM_* names (SOVEREIGN_LLM__* win over them)."""
        return init_settings, env_settings, dotenv_settings, file_secret_settings, _FlatNimEnv(settings_cls)

    def fingerprint(self) -> str:
        """Short stable hash of the settings that shape results."""
        # where results go and how long the owner may take do not change what a brief says
        payload = self.model_dump_json(exclude={"out_dir", "approval", "result_storage"})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def with_overrides(
        self,
        source: str | None = None,
        corpus: str | Path | None = None,
        max_papers: int | None = None,
        max_revision_rounds: int | None = None,
        out_dir: str | Path | None = None,
        approval_timeout_seconds: int | None = None,
        llm: str | None = None,
        embedder: str | None = None,
    ) -> Settings:
        """A validated copy with the run's own parameters applied (None keeps the configured value)."""
        data = self.model_dump()
        updates = {
            ("search", "source"): source,
            ("search", "corpus"): corpus,
            ("rank", "max_papers"): max_papers,
            ("tribunal", "max_revision_rounds"): max_revision_rounds,
            ("approval", "timeout_seconds"): approval_timeout_seconds,
            ("llm", "backend"): llm,
            ("llm", "embedder"): embedder,
        }
        for (group, key), value in updates.items():
            if value is not None:
                data[group][key] = value
        if out_dir is not None:
            data["out_dir"] = out_dir
        return Settings.model_validate(data)


class RunParameters(BaseModel):
    """A research run's own parameters: the research flow's signature, the sweep's per-goal options and
    `Settings.with_overrides` agree with these (tests/test_structure.py), and prefect.yaml and the CLI use them."""

    source: Literal["corpus", "arxiv"] = "corpus"
    corpus: str | None = None
    max_papers: int | None = None
    max_revision_rounds: int | None = None
    out_dir: str = "runs"
    approval_timeout_seconds: int | None = None
    llm_backend: str | None = None
    embedder_backend: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> RunParameters:
        """The parameters that give a run these settings."""
        return cls(
            source=settings.search.source,
            corpus=str(settings.search.corpus) if settings.search.corpus else None,
            max_papers=settings.rank.max_papers,
            max_revision_rounds=settings.tribunal.max_revision_rounds,
            out_dir=str(settings.out_dir),
            approval_timeout_seconds=settings.approval.timeout_seconds,
            llm_backend=settings.llm.backend,
            embedder_backend=settings.llm.embedder,
        )

    def settings(self) -> Settings:
        """The settings a run with these parameters uses (None keeps the configured value)."""
        return Settings().with_overrides(
            source=self.source,
            corpus=self.corpus,
            max_papers=self.max_papers,
            max_revision_rounds=self.max_revision_rounds,
            out_dir=self.out_dir,
            approval_timeout_seconds=self.approval_timeout_seconds,
            llm=self.llm_backend,
            embedder=self.embedder_backend,
        )


def result_storage() -> Path | None:
    """Directory of persisted stage results: SOVEREIGN_RESULT_STORAGE when set, else None (Prefect's default)."""
    path = Settings().result_storage
    return path.expanduser().resolve() if path else None


class LocalServerSettings(BaseSettings):
    """The local Prefect server that CLI commands share when PREFECT_API_URL is unset (SOVEREIGN_SERVER__*)."""

    model_config = SettingsConfigDict(env_prefix="SOVEREIGN_SERVER__", env_file=".env", extra="ignore")

    auto_start: bool = Field(
        True,
        description="`run` and `sweep` start the local server when none is running and PREFECT_API_URL is unset; "
        "false leaves them on Prefect's ephemeral server, started afresh by every command.",
    )
    home: Path = Field(
        Path.home() / ".sovereign" / "server",
        description="The local server's directory: its SQLite database, PREFECT_HOME, state file, lock and log.",
    )
    start_timeout_seconds: float = Field(
        120.0, gt=0, description="Longest wait for a started server to answer (about 12 s on a fresh database)."
    )
    health_timeout_seconds: float = Field(
        5.0, gt=0, description="HTTP timeout of one health check; a server that does not answer in it is replaced."
    )
    stop_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a stopped server may take to exit after SIGTERM before it is killed."
    )
    warm_worker: bool = Field(
        True,
        description="Start a Prefect task worker beside the server that keeps the kernel imported and corpus indexes "
        "and models loaded: an offline `run` on the local server runs there instead of in a fresh process.",
    )
    worker_pickup_timeout_seconds: float = Field(
        120.0,
        gt=0,
        description="Longest wait for the warm worker to take up a run (a new worker imports the kernel first); past "
        "it the run goes ahead in-process.",
    )


class CorpusIndexSettings(BaseSettings):
    """How corpus indexes are built and appended to (SOVEREIGN_INDEX__*): memory and speed, not what a search finds."""

    model_config = SettingsConfigDict(env_prefix="SOVEREIGN_INDEX__", env_file=".env", extra="ignore")

    batch_papers: int = Field(
        20_000, ge=1, description="Papers read, tokenised and written per batch while building or appending."
    )
    writer_heap_mb: int = Field(
        400,
        ge=16,
        description="Memory of the lexical index writer (tantivy) before it flushes a segment to disk: more means "
        "fewer, larger segments and a higher peak RSS (benchmarks/results/scale.md).",
    )
    tokenize_workers: int = Field(
        2,
        ge=1,
        le=32,
        description="Processes that tokenise papers while the index is built, past its first batch; 1 tokenises in "
        "the building process (tokenising is most of a build's time).",
    )
    writer_threads: int = Field(
        1, ge=1, le=8, description="Indexing threads of the lexical writer; Python's tokenising is the bottleneck."
    )
    lsa_fit_papers: int = Field(
        100_000,
        ge=1_000,
        description="Papers (an even random sample beyond this many) the TF-IDF + SVD model and the term IDF are "
        "fitted on: at least the 96k benchmark corpus, whose model is then the same as fitted on every paper.",
    )
