"""One settings object for the whole kernel: env prefix SOVEREIGN_, nested groups with `__`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SearchSettings(BaseModel):
    """Where papers come from and how many each query asks for."""

    source: Literal["corpus", "arxiv"] = Field("corpus", description="Paper source: a local corpus file or live arXiv.")
    corpus: Path | None = Field(
        None, description="Local corpus (JSON Lines, .jsonl.gz or Parquet); required for source=corpus."
    )
    per_query_limit: int = Field(50, ge=1, le=500, description="Papers requested per search query.")
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
    cache_dir: Path = Field(
        Path.home() / ".cache" / "sovereign",
        description="Where corpus indexes are cached, keyed by the corpus file's content hash.",
    )


class RankSettings(BaseModel):
    """Fusion, reranking and the relevance gate."""

    max_papers: int = Field(8, ge=1, le=50, description="Most papers kept for analysis after the gate.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    relevance_threshold: float = Field(
        0.45, ge=0.0, le=1.0, description="Relevance gate: papers scoring below it are not analysed."
    )


class ExtractSettings(BaseModel):
    """Offline claim extraction."""

    claims_per_paper: int = Field(2, ge=1, le=10, description="Most claims taken from one paper.")
    max_claims: int = Field(16, ge=1, le=100, description="Most claims in one brief.")
    min_sentence_score: float = Field(
        0.25, ge=0.0, le=1.0, description="Sentences scoring below this are not findings worth a claim."
    )


class VerifySettings(BaseModel):
    """Claim verification thresholds."""

    baseline_tfidf_threshold: float = Field(
        0.15, ge=0.0, le=1.0, description="The replaced product's TF-IDF cosine cut-off (reported only)."
    )
    verified_threshold: float = Field(0.6, ge=0.0, le=1.0, description="Support score for VERIFIED.")
    weak_threshold: float = Field(0.35, ge=0.0, le=1.0, description="Support score for WEAK.")
    duplicate_similarity: float = Field(
        0.92, ge=0.0, le=1.0, description="Embedding cosine above which two claims are merged."
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


class Settings(BaseSettings):
    """Effective settings of a run; their hash goes into every report."""

    model_config = SettingsConfigDict(
        env_prefix="SOVEREIGN_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    search: SearchSettings = Field(default_factory=SearchSettings)
    rank: RankSettings = Field(default_factory=RankSettings)
    extract: ExtractSettings = Field(default_factory=ExtractSettings)
    verify: VerifySettings = Field(default_factory=VerifySettings)
    tribunal: TribunalSettings = Field(default_factory=TribunalSettings)
    out_dir: Path = Field(Path("runs"), description="Directory under which each run publishes its brief.")
    max_goal_chars: int = Field(1000, ge=10, description="Longest research goal accepted.")

    def fingerprint(self) -> str:
        """Short stable hash of the settings that shape results."""
        payload = self.model_dump_json(exclude={"out_dir"})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def with_overrides(
        self,
        source: str | None = None,
        corpus: str | Path | None = None,
        max_papers: int | None = None,
        max_revision_rounds: int | None = None,
        out_dir: str | Path | None = None,
    ) -> Settings:
        """A validated copy with the run's own parameters applied (None keeps the configured value)."""
        data = self.model_dump()
        updates = {
            ("search", "source"): source,
            ("search", "corpus"): corpus,
            ("rank", "max_papers"): max_papers,
            ("tribunal", "max_revision_rounds"): max_revision_rounds,
        }
        for (group, key), value in updates.items():
            if value is not None:
                data[group][key] = value
        if out_dir is not None:
            data["out_dir"] = out_dir
        return Settings.model_validate(data)
