"""Plain data passed between layers: Article → Chunk → Passage → Answer/Citation."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from qa.index.records import UNDATED


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

    @property
    def key(self) -> str:
        """Short stable key derived from the document identity (used in chunk ids)."""
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
class Passage:
    """A retrieved chunk with its article metadata and a relevance score (higher is better)."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    score: float
    title: str = ""
    url: str = ""
    source: str = ""
    published_at: date | None = None
    similarity: float = 0.0  # cosine similarity to the question (relevance threshold)
    event_last: int = UNDATED  # ordinal of the latest date the passage mentions, if any

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
class Answer:
    question: str
    answer: str
    answered: bool
    citations: tuple[Citation, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "question": self.question,
            "answer": self.answer,
            "answered": self.answered,
            "citations": [c.to_dict() for c in self.citations],
        }
        d.update(self.extra)
        return d
