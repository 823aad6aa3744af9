"""One typed settings object for every surface (CLI flags, env ``QA_*``, Python API)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Everything tunable in qa. Env vars are ``QA_<FIELD>`` (e.g. ``QA_INDEX``, ``QA_MODEL``)."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    # storage
    index: Path = Field(Path("index"), description="Folder of the on-disk index")
    collection: str = Field("articles", description="Chroma collection name")
    keep_generations: int = Field(2, ge=1, description="Index generations kept on disk (>=1)")

    # embedding
    model: str | None = Field(
        None,
        description=f"sentence-transformers model name or path; default: the index's own model, "
        f"or {DEFAULT_MODEL} (bundled) for a new index",
    )
    device: str = Field("cpu", description="torch device for the encoder")
    embed_batch_size: int = Field(32, ge=1)

    # ingest
    chunk_chars: int = Field(1000, ge=100, description="Target chunk size in characters")
    chunk_overlap_sentences: int = Field(1, ge=0, description="Sentences shared by neighbours")
    max_file_bytes: int = Field(25_000_000, ge=1, description="Larger input files are refused")
    max_text_chars: int = Field(2_000_000, ge=1, description="Longer article texts are refused")
    write_batch_chunks: int = Field(512, ge=1, description="Chunks embedded and written per batch")

    # retrieval and answers
    k: int = Field(8, ge=1, description="Passages retrieved for an answer")
    search_k: int = Field(10, ge=1, description="Results shown by `qa search`")
    per_doc_cap: int = Field(3, ge=1, description="Most passages one article may place in the top k")
    dense_candidates: int = Field(50, ge=1, description="Candidates taken from the vector index")
    lexical_candidates: int = Field(50, ge=1, description="Candidates taken from BM25")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense ranking in the fusion")
    lexical_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking (0 = dense only)")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant")
    window_boost: float = Field(0.5, ge=0, description="Boost for passages inside a question's time window")
    recency_boost: float = Field(0.3, ge=0, description="Boost for recent articles, as of the question's date")
    recency_days: float = Field(30.0, ge=0, description="Decay (days) of the recency boost; 0 = off")
    recency_days_latest: float = Field(14.0, ge=0, description="Decay for 'last/latest' questions")
    answer_sentences: int = Field(3, ge=1, le=10, description="Most sentences in an answer")
    min_relevance: float = Field(
        0.30, description="Cosine similarity a passage needs before qa answers from it"
    )

    def resolved_index(self) -> Path:
        return self.index.expanduser().resolve()
