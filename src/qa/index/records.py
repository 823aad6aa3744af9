"""What the index stores with each chunk besides its text and vector: the chunk's
``qa.types.ChunkRecord``, built at ingest (``record_of``) and kept as the chunk's Chroma metadata
(``to_chroma``/``from_chroma``: the keys on disk never change, so every older index stays
readable); the exact-search matrix and BM25 keep its day and source for their filters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from datetime import date
from typing import Any

from qa.types import UNDATED, Article, Chunk, ChunkRecord

__all__ = ["UNDATED", "ChunkRecord", "chunk_id", "from_chroma", "record_of", "to_chroma"]


def chunk_id(key: str, index: int) -> str:
    """The id of an article's ``index``-th chunk (``key``: ``Article.key``)."""
    return f"{key}-{index:05d}"


def record_of(article: Article, chunk: Chunk) -> ChunkRecord:
    """The record of one chunk of ``article``, with the days its date expressions resolve to."""
    from qa.temporal import event_days

    pub = article.published_at
    first, last, spans = event_days(chunk.text, pub)
    return ChunkRecord(
        article.doc_id, chunk.index, chunk.start, chunk.end, article.title, article.url, article.source,
        pub, pub.toordinal() if pub else UNDATED, first, last, spans,
    )


def to_chroma(record: ChunkRecord) -> dict[str, Any]:
    """The record as Chroma metadata (scalars only: the date as ISO text, "" when undated)."""
    return {**asdict(record), "published_at": record.published_iso}


def from_chroma(meta: Mapping[str, Any] | None) -> ChunkRecord:
    """Tolerant of keys an older qa did not write: a missing day is UNDATED, text "", numbers 0."""
    m = meta or {}
    values: dict[str, Any] = {}
    for f in fields(ChunkRecord):
        v = m.get(f.name)
        if f.name == "published_at":
            values[f.name] = date.fromisoformat(v) if v else None
        elif f.type == "int":
            values[f.name] = int(v) if v is not None else (UNDATED if f.name.endswith("_day") else 0)
        else:
            values[f.name] = "" if v is None else str(v)
    return ChunkRecord(**values)
