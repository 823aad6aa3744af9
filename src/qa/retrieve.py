"""Finding the passages for a question.

Dense (Chroma) and lexical (BM25) candidates are fused by reciprocal rank; a time prior favours
what the question's time intent asks for ("this week", "last", as-of recency); an optional
cross-encoder re-orders the top candidates; a per-article cap keeps one story from filling the
top k.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np

from qa.settings import RetrievalSettings, Settings
from qa.index.filters import SearchFilters  # also re-exported: `from qa.retrieve import SearchFilters`
from qa.index.reader import IndexReader
from qa.temporal import QuestionTime
from qa.types import UNDATED, ChunkRecord, Passage


@dataclass
class _Candidate:
    chunk_id: str
    text: str
    record: ChunkRecord
    similarity: float = 0.0
    fused: float = 0.0


def _passage(c: _Candidate, score: float) -> Passage:
    return Passage(c.chunk_id, c.text, c.record, score, c.similarity)


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


def in_window(record: ChunkRecord, qtime: QuestionTime | None) -> bool | None:
    """Whether a chunk is evidence from the question's explicit time window (None: no window)."""
    window = qtime.evidence if qtime is not None else None
    if window is None:
        return None
    events = None
    if record.event_first_day != UNDATED:
        events = (date.fromordinal(record.event_first_day), date.fromordinal(record.event_last_day))
    return window.admits_chunk(record.published_at, events)


def time_prior(record: ChunkRecord, qtime: QuestionTime | None, settings: RetrievalSettings) -> float:
    """Multiplier from the question's time intent: inside an explicit window ("this week", "in
    October": ``QuestionTime.evidence``), recent for "last" questions, and a gentle news recency
    as of the question's date."""
    if qtime is None:
        return 1.0
    factor = 1.0 + settings.window_boost if in_window(record, qtime) else 1.0
    day = record.published_day
    if day == UNDATED:
        return factor
    age = max(0, qtime.as_of.toordinal() - day)
    tau = settings.recency_days_latest if qtime.recency else settings.recency_days
    if tau > 0:
        factor *= 1.0 + settings.recency_boost * math.exp(-age / tau)
    return factor


_TIME_NOISE = re.compile(r"\b(recently|recent|this week|last week|this month|this year|currently|now|newly)\b", re.I)


def retrieval_query(query: str, qtime: QuestionTime | None) -> str:
    """The question without its time words: the time prior handles "this week", and the words
    themselves only pull in passages that happen to say "this week"."""
    text = query
    if qtime is not None:
        for m in sorted(qtime.mentions, key=lambda m: m.start, reverse=True):
            text = text[: m.start] + text[m.end :]
    text = _TIME_NOISE.sub("", text)
    text = " ".join(text.split())
    return text if len(text) >= 3 else query


class Retriever:
    def __init__(self, reader: IndexReader, settings: Settings):
        self.reader = reader
        self.settings = settings
        self._sims: np.ndarray | None = None  # the exact search's similarities for the current query

    @property
    def encoder(self) -> Any:
        from qa.embeddings import get_query_encoder

        s = self.settings
        return get_query_encoder(self.reader.model, s.resolved_index(), s.device, s.embed_batch_size, s.onnx_queries)

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: SearchFilters | None = None,
        qtime: QuestionTime | None = None,
    ) -> tuple[list[Passage], np.ndarray]:
        """Ranked passages (best first) and the query vector (reused by the answerer)."""
        s = self.settings
        k = k or s.search_k
        filters = filters or SearchFilters()
        text = retrieval_query(query, qtime) if s.strip_time_words else query
        vector = self.encoder.encode_query(text)
        self._sims = None
        lists: list[tuple[float, list[str]]] = []  # (weight, chunk ids best first) to fuse
        pools = [(filters, 1.0)]  # (filters, weight) of each candidate pool
        window = qtime.evidence if qtime is not None else None
        if window is not None and s.window_candidates > 0:  # the window's own best, however old the rest
            pools.append((window_filters(filters, window.published_from, window.published_to), s.window_pool_weight))
        with self.reader.reading():
            lexical = self.reader.lexical
            exact = self.reader.dense if s.dense_search == "exact" else None
            search_dense = self._exact if exact is not None else self._hnsw
            for i, (pool, weight) in enumerate(pools):
                n_lex = max(s.lexical_candidates if i == 0 else s.window_candidates, k * 4)
                if lexical is not None and s.lexical_weight > 0:
                    lists.append((weight * s.lexical_weight, [c for c, _ in lexical.search(text, n_lex, pool)]))
                n_dense = max(s.dense_candidates if i == 0 else s.window_candidates, k * 4)
                search_dense(vector, n_dense, pool, lists, weight)
            cands = self._fetch(vector, lists)
        for weight, ids in lists:
            for rank, cid in enumerate(ids, 1):
                if cid in cands:
                    cands[cid].fused += weight / (s.rrf_k + rank)
        scored = sorted(
            ((c.fused * time_prior(c.record, qtime, s), c) for c in cands.values()),
            key=lambda pair: pair[0],
            reverse=True,
        )
        if s.reranker:
            scored = self._rerank(text, scored, qtime)
        top = (scored[0][0] if scored else 1.0) or 1.0
        passages = [_passage(c, score / top) for score, c in scored]
        return cap_per_document(passages, s.per_doc_cap, k), vector

    def _rerank(
        self, query: str, scored: list[tuple[float, _Candidate]], qtime: QuestionTime | None
    ) -> list[tuple[float, _Candidate]]:
        """The cross-encoder's order replaces the fusion's for the top candidates; the time
        prior still applies (a reranker knows nothing of "last" or "this week"). The rest keep
        their order below them."""
        from qa.rerank import get_reranker

        s = self.settings
        head, tail = scored[: s.rerank_candidates], scored[s.rerank_candidates :]
        if not head:
            return scored
        relevance = get_reranker(s.reranker or "", s.device).scores(
            query, [f"{c.record.title}\n{c.text}" for _, c in head]
        )
        order = np.argsort(-relevance, kind="stable")
        reranked = sorted(
            ((time_prior(head[i][1].record, qtime, s) / (s.rrf_k + rank), head[i][1]) for rank, i in enumerate(order, 1)),
            key=lambda pair: pair[0],
            reverse=True,
        )
        floor = reranked[-1][0]
        ceiling = (tail[0][0] if tail else 1.0) or 1.0
        return reranked + [(0.999 * floor * score / ceiling, c) for score, c in tail]

    def _exact(
        self, vector: np.ndarray, n: int, filters: SearchFilters, lists: list[tuple[float, list[str]]], weight: float
    ) -> None:
        """Dense ranking from the memory-mapped matrix (its similarities computed once a search)."""
        exact = self.reader.dense
        if self._sims is None:
            self._sims = exact.similarities(vector)
        lists.append((weight * self.settings.dense_weight, [c for c, _ in exact.top(self._sims, n, exact.mask(filters))]))

    def _hnsw(
        self, vector: np.ndarray, n: int, filters: SearchFilters, lists: list[tuple[float, list[str]]], weight: float
    ) -> None:
        """Dense ranking from Chroma's own index (with its metadata filter)."""
        hits = self.reader.vectors.query(vector, n=n, filters=filters)
        lists.append((weight * self.settings.dense_weight, [h.chunk_id for h in hits]))

    def _fetch(self, vector: np.ndarray, lists: list[tuple[float, list[str]]]) -> dict[str, _Candidate]:
        """Text, record and cosine similarity of every candidate (dense or lexical), from Chroma."""
        ids = list(dict.fromkeys(cid for _, ranked in lists for cid in ranked))
        if not ids:
            return {}
        if self._sims is None:  # hnsw: similarities from the stored vectors
            return {
                cid: _Candidate(cid, text, record, float(np.dot(emb, vector)))
                for cid, text, record, emb in self.reader.vectors.get(ids)
            }
        exact, sims = self.reader.dense, self._sims
        cands = {}
        for cid, text, record in self.reader.vectors.texts(ids):
            row = exact.row_of(cid)
            cands[cid] = _Candidate(cid, text, record, float(sims[row]) if row is not None else 0.0)
        return cands


def window_filters(filters: SearchFilters, first: date, last: date) -> SearchFilters:
    """``filters`` narrowed to articles published from ``first`` to ``last``."""
    since = max(filters.since, first) if filters.since else first
    until = min(filters.until, last) if filters.until else last
    return replace(filters, since=since, until=until)
