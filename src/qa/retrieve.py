"""Finding the passages for a question: dense search over Chroma, per-article caps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from qa.settings import Settings
from qa.store import IndexReader
from qa.types import Passage


@dataclass(frozen=True)
class SearchFilters:
    since: date | None = None
    until: date | None = None
    source: str | None = None

    def chroma_where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.since:
            clauses.append({"published_day": {"$gte": self.since.toordinal()}})
        if self.until:
            clauses.append({"published_day": {"$lte": self.until.toordinal()}})
        if self.since or self.until:
            clauses.append({"published_day": {"$gte": 0}})  # dated articles only
        if self.source:
            clauses.append({"source": self.source})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _passage(chunk_id: str, text: str, meta: dict[str, Any], score: float) -> Passage:
    pub = meta.get("published_at") or ""
    return Passage(
        chunk_id=chunk_id,
        doc_id=str(meta.get("doc_id", "")),
        text=text,
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        score=score,
        title=str(meta.get("title", "")),
        url=str(meta.get("url", "")),
        source=str(meta.get("source", "")),
        published_at=date.fromisoformat(pub) if pub else None,
    )


def cap_per_document(passages: list[Passage], cap: int, k: int) -> list[Passage]:
    """Keep at most ``cap`` passages of any one article, so one story cannot fill the top k."""
    seen: dict[str, int] = {}
    out: list[Passage] = []
    for p in passages:
        if seen.get(p.doc_id, 0) >= cap:
            continue
        seen[p.doc_id] = seen.get(p.doc_id, 0) + 1
        out.append(p)
        if len(out) >= k:
            break
    return out


class Retriever:
    def __init__(self, reader: IndexReader, settings: Settings):
        self.reader = reader
        self.settings = settings

    @property
    def encoder(self) -> Any:
        from qa.embeddings import get_encoder

        return get_encoder(self.reader.model, self.settings.device, self.settings.embed_batch_size)

    def search(
        self, query: str, k: int | None = None, filters: SearchFilters | None = None
    ) -> tuple[list[Passage], np.ndarray]:
        """Ranked passages (best first) and the query vector (reused by the answerer)."""
        k = k or self.settings.search_k
        vector = self.encoder.encode_query(query)
        where = (filters or SearchFilters()).chroma_where()
        with self.reader.reading():
            hits = self.reader.vectors.query(vector, n=k * 4, where=where)
        passages = [_passage(h.chunk_id, h.text, h.metadata, h.similarity) for h in hits]
        return cap_per_document(passages, self.settings.per_doc_cap, k), vector
