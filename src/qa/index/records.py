"""What the index stores with each chunk besides its text and vector: one typed record.

Chroma keeps it as the chunk's metadata (``to_chroma``/``from_chroma``: the keys on disk never
change, so every older index stays readable); the exact-search matrix and BM25 keep its day and
source for their filters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.types import Article, Chunk

UNDATED = -1
"""The day ordinal of "no date": an undated article, a chunk that names no date. Below every real
ordinal (those start at 1), so "undated or on/before day d" is the one range (-inf, d]."""


def chunk_id(key: str, index: int) -> str:
    """The id of an article's ``index``-th chunk (``key``: ``Article.key``)."""
    return f"{key}-{index:05d}"


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

    @classmethod
    def of(cls, article: Article, chunk: Chunk) -> ChunkRecord:
        from qa.temporal import event_days

        pub = article.published_at
        first, last, spans = event_days(chunk.text, pub)
        return cls(
            doc_id=article.doc_id,
            chunk_index=chunk.index,
            start=chunk.start,
            end=chunk.end,
            title=article.title,
            url=article.url,
            source=article.source,
            published_at=pub,
            published_day=pub.toordinal() if pub else UNDATED,
            event_first_day=first,
            event_last_day=last,
            event_dates=spans,
        )

    @property
    def published_iso(self) -> str:
        return self.published_at.isoformat() if self.published_at else ""

    def to_chroma(self) -> dict[str, Any]:
        return {
            "event_first_day": self.event_first_day,
            "event_last_day": self.event_last_day,
            "event_dates": self.event_dates,
            "doc_id": self.doc_id,
            "chunk_index": self.chunk_index,
            "start": self.start,
            "end": self.end,
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "published_at": self.published_iso,
            "published_day": self.published_day,
        }

    @classmethod
    def from_chroma(cls, meta: Mapping[str, Any] | None) -> ChunkRecord:
        """Tolerant of keys an older qa did not write (they take the defaults)."""
        m = meta or {}
        pub = m.get("published_at") or ""
        return cls(
            doc_id=str(m.get("doc_id", "")),
            chunk_index=int(m.get("chunk_index", 0)),
            start=int(m.get("start", 0)),
            end=int(m.get("end", 0)),
            title=str(m.get("title", "")),
            url=str(m.get("url", "")),
            source=str(m.get("source", "")),
            published_at=date.fromisoformat(pub) if pub else None,
            published_day=int(m.get("published_day", UNDATED)),
            event_first_day=int(m.get("event_first_day", UNDATED)),
            event_last_day=int(m.get("event_last_day", UNDATED)),
            event_dates=str(m.get("event_dates", "")),
        )
