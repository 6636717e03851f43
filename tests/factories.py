"""Hand-built, realistic run data for tests: a Report and its EmbeddingSet without running the pipeline."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from tasks.coverage import aspect_verdicts
from tasks.models import (
    Aspect,
    AspectKind,
    Citation,
    Claim,
    ClaimIssue,
    Decision,
    Draft,
    EmbeddingSet,
    Finding,
    FindingKind,
    IssueKind,
    Label,
    Paper,
    Plan,
    Policy,
    RankedPaper,
    Report,
    Review,
    TribunalResult,
    content_id,
)
from tasks.settings import Settings

GOAL = "How does retrieval augmentation reduce hallucination in open-domain question answering?"
ASPECTS = [
    Aspect(text="retrieval augmentation", kind=AspectKind.ENTITY),
    Aspect(text="hallucination rate", kind=AspectKind.QUANTITY),
    Aspect(text="open-domain question answering", kind=AspectKind.TOPIC),
    Aspect(text="evaluation benchmarks", kind=AspectKind.SETTING),
]
QUERIES = [
    "retrieval augmentation hallucination open-domain question answering",
    "retrieval-augmented generation factuality",
    "hallucination rate large language models retrieval",
    "open-domain QA benchmark grounding evidence",
]
HOSTILE_TITLE = 'Grounding <img src="http://127.0.0.1:9/x.png"> answers with **bold** retrieval'
HOSTILE_SENTENCE = (
    'Retrieval <link href="file:///etc/passwd"> grounding lowers the **bold** hallucination rate by 31% on NQ.'
)

# (id, title, authors, published, sentences as (text, aspects), relevance, kept)
_PAPERS = [
    (
        "2403.01017",
        "Retrieval-Augmented Generation Reduces Hallucination in Open-Domain Question Answering",
        ["Mei Tanaka", "Oskar Lindqvist", "Priya Raman", "Daniel Okafor"],
        "2024-03-02",
        [
            (
                "Conditioning the generator on retrieved passages lowers the hallucination rate from 27% to 11% on "
                "Natural Questions.",
                ["retrieval augmentation", "hallucination rate"],
            ),
            (
                "Gains are largest for long-tail entities that the parametric memory covers poorly.",
                ["open-domain question answering"],
            ),
        ],
        0.82,
        True,
    ),
    (
        "2311.04522",
        "When Does Retrieval Help? A Study of Evidence Quality in Open-Domain QA",
        ["Lucía Fernández", "Henrik Baum"],
        "2023-11-08",
        [
            (
                "Irrelevant retrieved passages increase hallucination compared with closed-book answering.",
                ["hallucination rate", "retrieval augmentation"],
            ),
            (
                "A reranker that filters low-quality evidence recovers most of the accuracy lost to noisy retrieval.",
                ["open-domain question answering"],
            ),
        ],
        0.74,
        True,
    ),
    (
        "2405.11873",
        "Measuring Faithfulness of Retrieval-Augmented Language Models with Attributed Answers",
        ["Sung-min Park", "Amara Nwosu", "Felix Hartmann", "Ines Duarte", "Tomasz Wójcik"],
        "2024-05-20",
        [
            (
                "Answers that cite retrieved passages are judged faithful 89% of the time by human annotators.",
                ["hallucination rate"],
            ),
            (
                "Automatic attribution scores correlate with human faithfulness judgements at 0.71 Spearman.",
                ["evaluation benchmarks"],
            ),
        ],
        0.66,
        True,
    ),
    (
        "2402.09918",
        "Self-Checking Generation for Question Answering over Wikipedia",
        ["Arjun Mehta", "Claire Dubois", "Kenji Watanabe"],
        "2024-02-15",
        [
            (
                "Verifying each generated sentence against retrieved evidence removes 40% of unsupported statements.",
                ["retrieval augmentation", "hallucination rate"],
            ),
            ("The verification step adds about 30% latency per answer.", ["open-domain question answering"]),
        ],
        0.58,
        True,
    ),
    (
        "2310.02231",
        "Scaling Laws for Dense Passage Retrievers",
        ["Nora Lindgren", "Samuel Achebe"],
        "2023-10-04",
        [("Retriever quality improves log-linearly with the number of training pairs.", [])],
        0.38,
        False,
    ),
    (
        "2401.07764",
        "Compressing Key-Value Caches for Long-Context Inference",
        ["Yuki Sato"],
        "2024-01-15",
        [("Quantising the key-value cache to four bits halves memory with little loss in perplexity.", [])],
        0.12,
        False,
    ),
]
_LABELS = [Label.VERIFIED, Label.VERIFIED, Label.WEAK, Label.VERIFIED, Label.UNSUPPORTED]
_SUPPORT = {Label.VERIFIED: 0.78, Label.WEAK: 0.44, Label.UNSUPPORTED: 0.12, Label.UNCHECKED: 0.0}
_DECISIONS = {
    Policy.AUTO_APPROVE: (7.4, [], ["score 7.40 ≥ 6.5"]),
    Policy.SOFT_APPROVE: (5.6, [], ["score 5.60 < 6.5 after 1 revision round(s)"]),
    Policy.HUMAN_REVIEW: (
        6.9,
        ["answer cites unverified claims: 5f0c2a9e41d7"],
        ["a hard gate failed; the owner must review", "answer cites unverified claims: 5f0c2a9e41d7"],
    ),
    Policy.REJECT: (1.4, [], ["score 1.40 below the floor 2.0"]),
}
STAGE_SECONDS = {
    "plan_queries": 0.02,
    "search": 1.84,
    "merge_rank": 0.41,
    "extract_claims": 0.33,
    "verify_claims": 0.52,
    "embed": 0.61,
    "tribunal": 0.27,
    "decide_policy": 0.01,
}


def _ranked(spec: tuple, hostile: bool, rank: int) -> RankedPaper:
    paper_id, title, authors, published, sentences, relevance, kept = spec
    texts = [text for text, _ in sentences]
    if hostile and rank == 0:
        title, texts = HOSTILE_TITLE, [HOSTILE_SENTENCE, *texts[1:]]
    paper = Paper(
        id=paper_id,
        title=title,
        abstract=" ".join(texts),
        authors=authors,
        categories=["cs.CL"],
        published=published,
    )
    return RankedPaper(
        paper=paper,
        fused_score=round(1 / (60 + rank) + 1 / (61 + rank), 4),
        relevance=relevance,
        term_coverage=round(relevance * 0.9, 2),
        similarity=round(relevance * 0.8 + 0.1, 2),
        matched_queries=QUERIES[: 4 - rank % 3],
        kept=kept,
    )


def _claim(index: int, ranked: RankedPaper, position: int, aspects: list[str]) -> Claim:
    abstract = ranked.paper.abstract
    sentence = [s if s.endswith(".") else s + "." for s in abstract.split(". ")][position]
    start = abstract.index(sentence)
    label = _LABELS[index % len(_LABELS)]
    cosine = 0.31 if label is not Label.UNSUPPORTED else 0.17
    return Claim(
        id=content_id(ranked.paper.id, index, sentence),
        text=sentence,
        paper_id=ranked.paper.id,
        source_sentence=sentence,
        start=start,
        end=start + len(sentence),
        aspects=aspects,
        label=label,
        confidence=round(_SUPPORT[label] * 0.95, 2),
        support=_SUPPORT[label],
        baseline_cosine=cosine,
        baseline_verified=cosine >= 0.15,
        evidence=sentence,
        issues=[ClaimIssue(kind=IssueKind.DIRECTION, detail="states a stronger effect than its source sentence")]
        if label is Label.UNSUPPORTED
        else [],
    )


def _claims(kept: list[RankedPaper], count: int) -> list[Claim]:
    """count claims taken round-robin from the kept papers, then from their next sentences."""
    claims = []
    for index in range(count):
        ranked = kept[index % len(kept)]
        sentences = next(s[4] for s in _PAPERS if s[0] == ranked.paper.id)
        position = (index // len(kept)) % len(sentences)
        claims.append(_claim(index, ranked, position, sentences[position][1]))
    return claims


def _answer(claims: list[Claim]) -> tuple[str, list[Citation]]:
    numbers: dict[str, int] = {}
    citations, sentences = [], []
    for claim in (c for c in claims if c.label is Label.VERIFIED):
        number = numbers.setdefault(claim.paper_id, len(numbers) + 1)
        citations.append(Citation(claim_id=claim.id, paper_id=claim.paper_id, number=number))
        sentences.append(f"{claim.text.rstrip('.')} [{number}].")
    if not sentences:
        return "The retrieved literature does not answer the question with verified evidence.", []
    opening = "Retrieval augmentation reduces hallucination when the retrieved evidence is relevant."
    return f"{opening} {' '.join(sentences[:2])}\n\n{' '.join(sentences[2:])}".strip(), citations


def _findings(claims: list[Claim], aspects: list[str]) -> list[Finding]:
    covered = {a for c in claims if c.label is Label.VERIFIED for a in c.aspects}
    findings = [
        Finding(kind=FindingKind.MISSING_ASPECT, detail=f"No verified claim addresses “{a}”.", aspect=a)
        for a in aspects
        if a not in covered
    ]
    for claim in claims:
        if claim.label is Label.WEAK:
            findings.append(
                Finding(
                    kind=FindingKind.WEAK_CLAIM,
                    detail=f"Weak support: {claim.text}",
                    claim_id=claim.id,
                    paper_id=claim.paper_id,
                )
            )
        if claim.label is Label.UNSUPPORTED:
            findings.append(
                Finding(
                    kind=FindingKind.UNSUPPORTED_CLAIM,
                    detail=f"Unsupported: {claim.text}",
                    claim_id=claim.id,
                    paper_id=claim.paper_id,
                )
            )
    return findings


def _tribunal(score: float, findings: list[Finding], round_: int) -> TribunalResult:
    claim_findings = [f for f in findings if f.kind is not FindingKind.MISSING_ASPECT]
    aspect_findings = [f for f in findings if f.kind is FindingKind.MISSING_ASPECT]
    reviews = [
        Review(
            role="skeptic",
            score=max(0.0, score - 0.6),
            findings=claim_findings,
            rationale="Checked every cited claim against its source sentence.",
        ),
        Review(
            role="validator",
            score=min(10.0, score + 0.4),
            findings=[],
            rationale="Citations resolve to kept papers and numbers match their evidence.",
        ),
        Review(
            role="synthesizer",
            score=min(10.0, score + 0.2),
            findings=aspect_findings,
            rationale="Compared the answer's coverage with the goal's aspects.",
        ),
    ]
    return TribunalResult(score=score, reviews=reviews, round=round_)


def make_report(
    policy: Policy = Policy.AUTO_APPROVE,
    claims: int = 3,
    hostile: bool = False,
    run_id: str = "run-20250314-a1b2c3",
) -> Report:
    """A small, realistic Report; hostile=True puts HTML/Markdown injection into a title and abstract."""
    ranked = [_ranked(spec, hostile, rank) for rank, spec in enumerate(_PAPERS)]
    kept = [r for r in ranked if r.kept]
    claim_list = _claims(kept, claims)
    answer, citations = _answer(claim_list)
    score, gates, reasons = _DECISIONS[policy]
    revision_round = 1 if policy is Policy.SOFT_APPROVE else 0
    findings = _findings(claim_list, [a.text for a in ASPECTS])
    tribunal = _tribunal(score, findings, revision_round)
    history = [_tribunal(round(score - 1.1, 1), findings, 0)] if revision_round else []
    history.append(tribunal)
    plan = Plan(
        goal=GOAL,
        queries=QUERIES,
        aspects=ASPECTS,
        central="retrieval augmentation",
        key_terms=["retriev", "augment", "hallucin", "open-domain", "question", "answer"],
    )
    settings = Settings(_env_file=None)
    draft = Draft(
        goal=GOAL,
        plan=plan,
        papers=kept,
        candidates_considered=len(ranked),
        claims=claim_list,
        answer=answer,
        citations=citations,
        answered=bool(citations),
        coverage=aspect_verdicts(plan, claim_list, kept),
        revision_round=revision_round,
        revision_notes=["Searched again for “evaluation benchmarks”."] if revision_round else [],
    )
    return Report(
        run_id=run_id,
        created_at="2025-03-14T09:30:00+00:00",
        goal=GOAL,
        source="corpus tests/fixtures/mini_corpus.jsonl",
        plan=plan,
        draft=draft,
        tribunal=tribunal,
        tribunal_history=history,
        decision=Decision(policy=policy, score=score, failed_gates=gates, reasons=reasons),
        candidates=ranked,
        search_errors=[],
        settings=settings.model_dump(mode="json"),
        settings_hash=settings.fingerprint(),
        stage_seconds=dict(STAGE_SECONDS),
        embedding_model="lsa-tfidf-128",
    )


def _unit_vector(key: str, dimension: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    vector = np.random.default_rng(seed).standard_normal(dimension)
    return (vector / np.linalg.norm(vector)).astype(np.float32).tolist()


def make_embeddings(report: Report, dimension: int = 8, skip: tuple[str, ...] = ()) -> EmbeddingSet:
    """Deterministic unit vectors for every candidate paper and claim of the report, except the ids in skip."""
    papers = (rp.paper.id for rp in report.candidates)
    claims = (c.id for c in report.draft.claims)
    return EmbeddingSet(
        model=report.embedding_model or "lsa-tfidf-128",
        dimension=dimension,
        paper_vectors={p: _unit_vector(p, dimension) for p in papers if p not in skip},
        claim_vectors={c: _unit_vector(c, dimension) for c in claims if c not in skip},
    )


# Fields of report.json that differ between two runs publishing the same brief.
VOLATILE = {"run_id", "created_at", "stage_seconds"}


def brief_content(directory: Path) -> dict:
    """A published brief's content: report.json less run-specific fields, and its Parquet tables."""
    report = json.loads((directory / "report.json").read_text())
    for where in ("result_storage", "out_dir"):
        report["settings"].pop(where, None)
    tables = {name: pq.read_table(directory / name).to_pylist() for name in ("claims.parquet", "papers.parquet")}
    return {**{k: v for k, v in report.items() if k not in VOLATILE}, **tables}


# A real-looking abstract the verifier tests check claims against.
MOE_LORA_PAPER = Paper(
    id="2405.90002",
    title="When Do Mixture-of-Experts Adapters Beat Dense LoRA?",
    abstract=(
        "We compare eight MoE LoRA variants with dense LoRA fine-tuning across 20 datasets. "
        "MoE LoRA adapters outperform dense LoRA on heterogeneous multi-task mixtures, while dense LoRA "
        "matches them on single-task fine-tuning at 30% lower inference latency."
    ),
)


def attempt_task_runs(api: Callable[..., object], flow_run_id: str, attempt: int, expected: set[str], wait: float):
    """(task, state) of the task runs of one attempt of a flow run, once the API has recorded all of them final.

    `api(method, path, json=…)` answers from the Prefect API; its events arrive shortly after a run ends.
    """
    body = {"task_runs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200}
    deadline = time.monotonic() + wait
    while True:
        runs = [r for r in api("POST", "/task_runs/filter", json=body) if r["flow_run_run_count"] == attempt]
        final = [r for r in runs if r["state"] and r["state"]["type"] in {"COMPLETED", "FAILED", "CRASHED"}]
        if len(final) == len(runs) and expected <= {r["task_key"].rsplit("-", 1)[0] for r in runs}:
            return Counter((r["task_key"].rsplit("-", 1)[0], r["state"]["name"]) for r in runs)
        assert time.monotonic() < deadline, f"task runs of attempt {attempt} not all recorded: {runs}"
        time.sleep(0.2)


def sentence_claim(claim_id: str, paper_id: str, text: str, **fields) -> Claim:
    """A claim that is its own source sentence, with any other fields given."""
    return Claim(id=claim_id, text=text, paper_id=paper_id, source_sentence=text, start=0, end=len(text), **fields)
