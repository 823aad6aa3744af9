"""Plain data passed between layers: Article → Chunk → Passage → Answer/Citation."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, ClassVar, Generic, TypeVar, overload

T = TypeVar("T")

UNDATED = -1
"""The day ordinal of "no date": an undated article, a chunk that names no date. Below every real
ordinal (those start at 1), so "undated or on/before day d" is the one range (-inf, d]."""


def short_hash(text: str, n: int = 16) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:n]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Article:
    """A cleaned article ready to chunk. ``text`` is the cleaned body all offsets refer to."""

    doc_id: str
    text: str
    title: str = ""
    url: str = ""
    source: str = ""
    published_at: date | None = None
    authors: tuple[str, ...] = ()
    path: str = ""  # where it was read from (file path, "-" for stdin)
    line: int | None = field(default=None, compare=False)  # its record's line (JSONL) or position (JSON, API)

    @property
    def key(self) -> str:
        """Short stable key derived from the document identity (used in chunk ids). On a shared
        Chroma server each write gets a key of its own (``qa.index.shared.server_key``)."""
        return short_hash(self.doc_id)

    @property
    def hash(self) -> str:
        """Content hash: what decides whether a re-ingested document changed."""
        meta = f"{self.title}\x00{self.published_at}\x00{self.source}\x00{self.url}\x00"
        return content_hash(meta + self.text)

    @property
    def text_hash(self) -> str:
        """Hash of the body only: equal bodies under different ids are duplicates."""
        return content_hash(" ".join(self.text.split()).lower())


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned span of an article: ``article.text[start:end] == text``."""

    chunk_id: str
    doc_id: str
    index: int
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk's citation and filter data, so a hit needs no other look-up; ``event_*``: the days
    its resolved date expressions span ("on Saturday" → 2025-11-15), UNDATED/"" when none."""

    doc_id: str
    chunk_index: int
    start: int
    end: int
    title: str = ""
    url: str = ""
    source: str = ""
    published_at: date | None = None
    published_day: int = UNDATED
    event_first_day: int = UNDATED
    event_last_day: int = UNDATED
    event_dates: str = ""

    @property
    def published_iso(self) -> str:
        return self.published_at.isoformat() if self.published_at else ""


class _FromRecord(Generic[T]):
    """A read-only attribute of a Passage that is a field of its record."""

    def __init__(self, name: str):
        self.name = name

    @overload
    def __get__(self, passage: None, owner: type) -> _FromRecord[T]: ...
    @overload
    def __get__(self, passage: Passage, owner: type) -> T: ...
    def __get__(self, passage: Passage | None, owner: type) -> T | _FromRecord[T]:
        return self if passage is None else getattr(passage.record, self.name)


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: its text, its record (citation and time data) and how it ranked (higher
    is better)."""

    chunk_id: str
    text: str
    record: ChunkRecord
    score: float
    similarity: float = 0.0  # cosine similarity to the question (relevance threshold)

    # the record's fields, read through: passage.title is passage.record.title
    doc_id: ClassVar[_FromRecord[str]] = _FromRecord("doc_id")
    start: ClassVar[_FromRecord[int]] = _FromRecord("start")
    end: ClassVar[_FromRecord[int]] = _FromRecord("end")
    title: ClassVar[_FromRecord[str]] = _FromRecord("title")
    url: ClassVar[_FromRecord[str]] = _FromRecord("url")
    source: ClassVar[_FromRecord[str]] = _FromRecord("source")
    published_at: ClassVar[_FromRecord[date | None]] = _FromRecord("published_at")
    event_last: ClassVar[_FromRecord[int]] = _FromRecord("event_last_day")  # latest day it mentions

    def to_dict(self, rank: int) -> dict[str, Any]:
        return {
            "rank": rank,
            "score": round(float(self.score), 4),
            "text": self.text,
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class Citation:
    """One quoted sentence backing an answer: ``quote`` is ``article.text[start:end]``."""

    n: int
    quote: str
    text: str  # the whole passage the quote came from
    doc_id: str
    title: str
    url: str
    source: str
    published_at: date | None
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["published_at"] = self.published_at.isoformat() if self.published_at else None
        return d


@dataclass(frozen=True)
class ShortAnswer:
    """The answer in a few words ("Buffalo Bills", "31", "15 November 2025"): ``[start, end)`` is
    its span in the cleaned text of the article citation ``n`` quotes (inside the quote); for a
    date, ``text`` is the resolved date the span says. ``type`` is the kind of answer the question
    asked for (person, place, organisation, number, date, thing, …); ``confidence`` the reader's
    (0–1), at least the ``short_answer_threshold`` setting."""

    text: str
    type: str
    confidence: float
    n: int
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NOT_ANSWERED = "the question was not answered"
GENERATED = "only the extractive answer is read for a short answer"


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    answered: bool
    citations: tuple[Citation, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    short_answer: ShortAnswer | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "question": self.question,
            "answer": self.answer,
            "answered": self.answered,
            "citations": [c.to_dict() for c in self.citations],
            "short_answer": self.short_answer.to_dict() if self.short_answer else None,
            "short_answer_reason": self.short_answer_reason,
        }
        d.update((k, v) for k, v in self.extra.items() if k != "short_answer_reason")
        return d

    @property
    def short_answer_reason(self) -> str | None:
        """Why there is no short answer (None when there is one): the reader's reason
        (``extra["short_answer_reason"]``, qa.answer.lead), else that nothing was answered, else
        that the answer was generated."""
        if self.short_answer is not None:
            return None
        return self.extra.get("short_answer_reason") or (GENERATED if self.answered else NOT_ANSWERED)
