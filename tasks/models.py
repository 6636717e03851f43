"""Typed models passed between stages; ids derive from content so citations and caches are stable."""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, computed_field

_VERSION_SUFFIX = re.compile(r"v\d+$")


def content_id(*parts: object, length: int = 12) -> str:
    """Stable short id from the given parts."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:length]


# A source that cuts an author list short: "Yuning Mao et al." stands for Mao and co-authors it does not name.
_ET_AL = re.compile(r"\s*\bet\s+al\.?\s*$")
# New-style arXiv ids begin with the year and month of submission (2201.11903), old-style ones after the slash.
_ID_MONTH = re.compile(r"(?:^|/)(\d{2})(\d{2})(?:\.|\d{3})")


class Paper(BaseModel):
    """One paper as a source returned it."""

    id: str = Field(description="arXiv id without version suffix.")
    title: str
    abstract: str
    authors: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    published: str | None = Field(None, description="Date string as the source gave it (ISO where possible).")
    url: str | None = None

    @property
    def author_names(self) -> list[str]:
        """The authors' names as given, with a trailing "et al." dropped (see `unnamed_authors`)."""
        return [name for name in (_ET_AL.sub("", a) for a in self.authors) if name.split()]

    @property
    def unnamed_authors(self) -> bool:
        """Whether the source cut the author list short with "et al."."""
        return any(_ET_AL.search(a) for a in self.authors)

    @property
    def first_surname(self) -> str:
        """The first author's surname ("Mao" for "Yuning Mao" or "Yuning Mao et al."); empty when none is given."""
        names = self.author_names
        return names[0].split()[-1] if names else ""

    @property
    def link(self) -> str:
        """Where a reader finds the paper."""
        return self.url or f"https://arxiv.org/abs/{self.id}"

    @property
    def submitted(self) -> str:
        """When the paper was first submitted, as YYYY-MM (from its arXiv id), else its published date, else "9999"."""
        if match := _ID_MONTH.search(self.id):
            year = int(match[1])
            return f"{1900 + year if year >= 91 else 2000 + year}-{match[2]}"
        return self.published or "9999"


def normalize_id(raw: object) -> str:
    """arXiv id without 'arXiv:' prefix or version suffix."""
    text = str(raw).strip()
    text = text.removeprefix("arXiv:").removeprefix("arxiv:")
    text = text.rsplit("/abs/", 1)[-1]
    return _VERSION_SUFFIX.sub("", text)


def paper_text(paper: Paper) -> str:
    """The text a paper is indexed and embedded by."""
    return indexed_text(paper.title, paper.abstract)


def indexed_text(title: str, abstract: str) -> str:
    """The text a paper is indexed and embedded by, from its title and abstract (no Paper to build: quicker)."""
    return f"{title}. {abstract}"


class Message(BaseModel):
    """One turn of a conversation with the chat model."""

    role: Literal["system", "user", "assistant"]
    content: str


class SearchResult(BaseModel):
    """The ranked papers one query returned."""

    query: str
    papers: list[Paper]
    error: str | None = Field(None, description="Why the query failed, when it did.")


class RankedPaper(BaseModel):
    """A candidate after fusion and reranking, with the relevance the gate judged."""

    paper: Paper
    fused_score: float = Field(
        description="Reciprocal-rank-fusion score over the queries and the goal rerankings (similarity, term and "
        "phrase coverage, MaxSim)."
    )
    relevance: float = Field(description="Relevance to the goal, 0..1; the gate compares it to a threshold.")
    term_coverage: float = Field(description="IDF-weighted share of the goal's key terms in the paper.")
    similarity: float = Field(description="Embedding cosine between the goal and the paper.")
    matched_queries: list[str] = Field(default_factory=list)
    kept: bool = False
    dropped: bool = Field(
        False, description="Set aside by a revision as off-topic: never kept again, listed so a reader sees why."
    )


class AspectKind(StrEnum):
    ENTITY = "entity"
    QUANTITY = "quantity"
    COMPARISON = "comparison"
    SETTING = "setting"
    TOPIC = "topic"


class Aspect(BaseModel):
    """One part of the goal an answer must address, typed by the role it plays in the question."""

    text: str = Field(description="The goal's own words for it, e.g. 'mixture-of-experts LoRA adapters', '7B/13B'.")
    kind: AspectKind = Field(
        description="entity: the method or entity asked about; quantity: what is measured; comparison: what it is "
        "compared with; setting: benchmarks, datasets, model families and sizes; topic: any other key phrase."
    )
    example_of: str = Field(
        "",
        description="The aspect this one is an example of, as the goal gives it: 'YaRN' in 'interpolation methods "
        "such as YaRN and NTK scaling' is an example of the methods; empty for most aspects.",
    )


class Plan(BaseModel):
    """The goal's search plan: its typed aspects and the queries that search for them."""

    goal: str
    queries: list[str]
    aspects: list[Aspect] = Field(description="Parts of the goal an answer must address, in the goal's order.")
    central: str = Field("", description="The goal's central method or entity, the most specific aspect.")
    key_terms: list[str] = Field(description="Stemmed content terms of the goal.")
    term_weights: dict[str, float] = Field(
        default_factory=dict, description="Corpus IDF of each goal term; empty when no corpus was at hand (arXiv)."
    )
    spelled_out: dict[str, str] = Field(
        default_factory=dict,
        description="The goal's acronyms with the long form the retrieved papers define them by (CoT: "
        "chain-of-thought); a text that writes the long form states the acronym.",
    )

    @property
    def aspect_texts(self) -> list[str]:
        return [a.text for a in self.aspects]

    def of_kind(self, *kinds: AspectKind) -> list[Aspect]:
        """The aspects of the given kinds, in the goal's order."""
        return [a for a in self.aspects if a.kind in kinds]


class Label(StrEnum):
    VERIFIED = "VERIFIED"
    WEAK = "WEAK"
    UNSUPPORTED = "UNSUPPORTED"
    CONTRADICTED = "CONTRADICTED"
    UNCHECKED = "UNCHECKED"


class IssueKind(StrEnum):
    NUMBER = "number"
    NAME = "name"
    NEGATION = "negation"
    DIRECTION = "direction"
    NO_SOURCE = "no_source"
    JUDGE = "judge"


# A claim with one of these says something its source does not: nothing (a judge, a score) may excuse it.
HARD_ISSUES = frozenset({IssueKind.NUMBER, IssueKind.NEGATION, IssueKind.DIRECTION, IssueKind.NO_SOURCE})


class ClaimIssue(BaseModel):
    """One consistency problem between a claim and its source."""

    kind: IssueKind
    detail: str

    @computed_field
    @property
    def hard(self) -> bool:
        """Whether the problem rules the claim out, whatever its support."""
        return self.kind in HARD_ISSUES

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.detail}"


class CrossPaperStatus(StrEnum):
    CORROBORATED = "corroborated"
    CONTESTED = "contested"
    SINGLE_SOURCE = "single-source"


class CrossCheck(BaseModel):
    """What the other kept papers' claims say of a claim: whether they back it, contest it, or say nothing."""

    status: CrossPaperStatus
    paper_ids: list[str] = Field(default_factory=list, description="The other papers that back or contest it.")
    claim_ids: list[str] = Field(default_factory=list, description="Their claims that do.")
    detail: str = Field("", description="Why it is contested, when it is.")


class Claim(BaseModel):
    """A finding taken from one paper, tied to the exact sentence that backs it."""

    id: str
    text: str
    paper_id: str
    source_sentence: str = Field(description="The abstract's sentence, exactly as written.")
    start: int = Field(description="Offset of the source sentence in the abstract.")
    end: int
    aspects: list[str] = Field(default_factory=list, description="Goal aspects the claim speaks to.")
    unsupported_aspects: list[str] = Field(
        default_factory=list, description="Aspects the claim names but its evidence sentence reports no finding on."
    )
    contribution: bool = Field(
        False,
        description="A statement of what the paper proposes or studies, quoted because its findings miss the entity "
        "or a topic it states: evidence of what the work does, not of what it found.",
    )
    label: Label = Label.UNCHECKED
    confidence: float = 0.0
    support: float = Field(0.0, description="Strength of support by the best evidence sentence, 0..1.")
    contradiction: float = Field(0.0, description="The entailment head's probability that the source refutes it.")
    baseline_cosine: float = Field(0.0, description="Replaced product's TF-IDF bigram cosine vs abstract.")
    baseline_verified: bool = False
    evidence: str = Field("", description="Best-aligned evidence sentence in the source.")
    issues: list[ClaimIssue] = Field(default_factory=list, description="Consistency problems found.")
    duplicates: list[str] = Field(default_factory=list, description="Ids of near-duplicate claims merged in.")
    judge: str = Field("", description="The LLM judge's verdict and reason, when a judge ran.")
    quote_exact: bool = Field(
        False, description="The claim is its source's words verbatim: matching them checks the quote, not the finding."
    )
    cross_check: CrossCheck | None = Field(None, description="Checked against the other kept papers' claims.")

    @property
    def has_hard_issue(self) -> bool:
        """Whether a number, negation or direction, or the source itself, rules the claim out."""
        return any(issue.hard for issue in self.issues)


class FindingKind(StrEnum):
    MISSING_ASPECT = "missing_aspect"
    WEAK_CLAIM = "weak_claim"
    UNSUPPORTED_CLAIM = "unsupported_claim"
    UNSUPPORTED_NUMBER = "unsupported_number"
    OFF_TOPIC_SOURCE = "off_topic_source"
    SINGLE_SOURCE = "single_source"
    NO_EVIDENCE = "no_evidence"


class Finding(BaseModel):
    """One actionable problem a reviewer found."""

    kind: FindingKind
    detail: str
    aspect: str | None = None
    claim_id: str | None = None
    paper_id: str | None = None


class Review(BaseModel):
    """One reviewer's verdict."""

    role: str
    score: float = Field(ge=0.0, le=10.0)
    findings: list[Finding] = Field(default_factory=list)
    rationale: str = ""


class TribunalResult(BaseModel):
    """The three reviews and their aggregate."""

    score: float
    reviews: list[Review]
    round: int = 0

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.reviews for f in r.findings]


class Citation(BaseModel):
    """A claim the answer cites, numbered as in References."""

    claim_id: str
    paper_id: str
    number: int


class AspectVerdict(BaseModel):
    """Whether verified evidence addresses one aspect of the goal, and with which claims and papers."""

    aspect: Aspect
    claim_ids: list[str] = Field(default_factory=list, description="Verified claims whose sentence addresses it.")
    paper_ids: list[str] = Field(default_factory=list, description="Papers those claims come from.")
    independent_papers: int = Field(
        0, description="The papers whose findings back it (not contribution statements), once per first author."
    )
    unpaired_paper_ids: list[str] = Field(
        default_factory=list,
        description="For a comparison or a setting: papers whose verified evidence addresses it but that are not on "
        "the central entity, so compare nothing with it or measured something else there.",
    )

    @property
    def addressed(self) -> bool:
        return bool(self.claim_ids)


class EvidenceRow(BaseModel):
    """One cited claim as a row of an aspect's evidence table."""

    number: int = Field(description="The paper's reference number.")
    claim_id: str
    method: str = Field(description="The method the finding is about, as the sentence or the paper's title names it.")
    setting: str = Field(description="Benchmarks, datasets or models the sentence names; empty when none.")
    value: str = Field(description="The numbers the sentence reports; empty when none.")
    direction: str = Field(description="higher, lower, parity, mixed, or empty when the sentence states no direction.")
    cross_check: str = Field("", description="corroborated, contested or single-source.")


class AspectTable(BaseModel):
    """An aspect's evidence table and the sentences composed from it, each citing the rows it uses."""

    aspect: str
    rows: list[EvidenceRow]
    sentences: list[str]
    also: list[str] = Field(default_factory=list, description="Further aspects these same findings address.")


class Draft(BaseModel):
    """The brief under review: the answer and the evidence it rests on."""

    goal: str
    plan: Plan
    papers: list[RankedPaper] = Field(description="Papers kept by the relevance gate.")
    candidates_considered: int = 0
    claims: list[Claim]
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    answered: bool = Field(description="Whether verified evidence answers the goal at all.")
    coverage: list[AspectVerdict] = Field(default_factory=list, description="Per aspect of the goal, its evidence.")
    tables: list[AspectTable] = Field(default_factory=list, description="Per addressed aspect, its evidence table.")
    summary_removed: list[str] = Field(
        default_factory=list, description="Sentences of the model's summary that the claims they cite do not support."
    )
    revision_round: int = 0
    revision_notes: list[str] = Field(default_factory=list)


class RevisionPlan(BaseModel):
    """What revise decided to do with the tribunal's findings."""

    queries: list[str] = Field(default_factory=list, description="Follow-up searches for missing aspects.")
    drop_claim_ids: list[str] = Field(default_factory=list)
    drop_paper_ids: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class Policy(StrEnum):
    AUTO_APPROVE = "AUTO_APPROVE"
    SOFT_APPROVE = "SOFT_APPROVE"
    HUMAN_REVIEW = "HUMAN_REVIEW"
    REJECT = "REJECT"


class Decision(BaseModel):
    """Approval policy and the reasons for it."""

    policy: Policy
    score: float
    failed_gates: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)

    @property
    def approved(self) -> bool:
        return self.policy is Policy.AUTO_APPROVE


class OwnerReview(BaseModel):
    """What the owner decided about a draft held for review, who decided and when."""

    status: Literal["approved", "rejected", "timed_out"]
    reviewer: str = Field("", description="Who decided, as they gave it; empty when nobody answered.")
    comment: str = ""
    decided_at: str = Field(description="UTC time of the decision, or of the timeout.")


class EmbeddingSet(BaseModel):
    """Vectors for papers and claims, labelled with the model that made them."""

    model: str
    dimension: int
    paper_vectors: dict[str, list[float]] = Field(default_factory=dict)
    claim_vectors: dict[str, list[float]] = Field(default_factory=dict)


class StageUsage(BaseModel):
    """What one stage's model calls cost: calls, tokens from the responses' usage, and time."""

    model: str = ""
    calls: int = Field(0, description="Requests answered by the endpoint (retries not counted).")
    cached_calls: int = Field(0, description="Calls answered from the content cache, free.")
    retries: int = Field(0, description="Requests repeated after a 429, 5xx, timeout or malformed reply.")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_seconds: float = 0.0


class Report(BaseModel):
    """Everything a run produced; serialised as report.json."""

    run_id: str
    created_at: str
    goal: str
    source: str
    plan: Plan
    draft: Draft
    tribunal: TribunalResult
    tribunal_history: list[TribunalResult] = Field(default_factory=list)
    decision: Decision
    candidates: list[RankedPaper] = Field(default_factory=list, description="Every paper ranked, kept or not.")
    search_errors: list[str] = Field(default_factory=list)
    settings: dict
    settings_hash: str
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    embedding_model: str = ""
    chat_model: str = Field("", description="Chat model behind the LLM stages; empty when they ran offline.")
    llm_usage: dict[str, StageUsage] = Field(default_factory=dict, description="Model calls per stage.")
    owner_review: OwnerReview | None = Field(None, description="The owner's decision on a HUMAN_REVIEW draft.")
