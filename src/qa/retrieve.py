"""Finding the passages for a question.

Dense (Chroma) and lexical (BM25) candidates are fused by reciprocal rank; a time prior favours
what the question's time intent asks for ("this week", "last", as-of recency); the learned ranker
(``qa.rank``, when on) or an optional cross-encoder re-orders the candidates; a per-article cap
keeps one story from filling the top k.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from qa.settings import RetrievalSettings, Settings
from qa.index.filters import SearchFilters  # also re-exported: `from qa.retrieve import SearchFilters`
from qa.index.reader import IndexReader
from qa.rank.features import Candidate
from qa.temporal import QuestionTime
from qa.types import UNDATED, ChunkRecord, Passage


def _passage(c: Candidate, score: float) -> Passage:
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


def time_prior(record: ChunkRecord, qtime: QuestionTime | None, settings: RetrievalSettings) -> float:
    """Multiplier from the question's time intent: inside an asked window, recent for "last"
    questions, and a gentle news recency as of the question's date."""
    if qtime is None:
        return 1.0
    day = record.published_day
    if day == UNDATED:
        return 1.0
    as_of = qtime.as_of.toordinal()
    age = max(0, as_of - day)
    factor = 1.0
    if qtime.window:
        lo, hi = qtime.window[0].toordinal(), qtime.window[1].toordinal()
        ev_lo, ev_hi = record.event_first_day, record.event_last_day
        inside = lo <= day <= hi + 1 or (ev_lo != UNDATED and ev_lo <= hi and ev_hi >= lo)
        factor *= 1.0 + settings.window_boost if inside else 1.0
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
        text, scored, vector = self.pool(query, k, filters, qtime)
        if s.reranker:
            scored = self._rerank(text, scored, qtime)
        elif s.learned_ranking:
            from qa.rank import rerank

            scored = rerank(text, qtime, scored, s.rank_model)
        top = (scored[0][0] if scored else 1.0) or 1.0
        passages = [_passage(c, score / top) for score, c in scored]
        return cap_per_document(passages, s.per_doc_cap, k), vector

    def pool(
        self,
        query: str,
        k: int,
        filters: SearchFilters | None = None,
        qtime: QuestionTime | None = None,
    ) -> tuple[str, list[tuple[float, Candidate]], np.ndarray]:
        """Every candidate, ordered by fused score times the time prior (best first), with the
        text matched (the question without its time words) and the query vector."""
        s = self.settings
        filters = filters or SearchFilters()
        text = retrieval_query(query, qtime) if s.strip_time_words else query
        vector = self.encoder.encode_query(text)
        wide = s.rank_candidates if s.learned_ranking and not s.reranker else 0
        lists: list[tuple[str, float, list[tuple[str, float]]]] = []  # (kind, weight, hits best first)
        with self.reader.reading():
            lexical = self.reader.lexical
            if lexical is not None and s.lexical_weight > 0:
                n_lex = max(s.lexical_candidates, k * 4, wide)
                lists.append(("lexical", s.lexical_weight, lexical.search(text, n_lex, filters)))
            exact = self.reader.dense if s.dense_search == "exact" else None
            search_dense = self._exact if exact is not None else self._hnsw
            cands = search_dense(vector, max(s.dense_candidates, k * 4, wide), filters, lists)
        for kind, weight, hits in lists:
            for rank, (cid, score) in enumerate(hits, 1):
                c = cands.get(cid)
                if c is None:
                    continue
                c.fused += weight / (s.rrf_k + rank)
                if kind == "lexical":
                    c.lexical_rank, c.lexical_score = rank, score
                else:
                    c.dense_rank = rank
        for c in cands.values():
            c.prior = time_prior(c.record, qtime, s)
        scored = sorted(((c.fused * c.prior, c) for c in cands.values()), key=lambda pair: pair[0], reverse=True)
        return text, scored, vector

    def _rerank(
        self, query: str, scored: list[tuple[float, Candidate]], qtime: QuestionTime | None
    ) -> list[tuple[float, Candidate]]:
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
        self, vector: np.ndarray, n: int, filters: SearchFilters, lists: list[tuple[str, float, list[tuple[str, float]]]]
    ) -> dict[str, Candidate]:
        """Dense ranking from the memory-mapped matrix; texts and metadata of every candidate
        (dense or lexical) from Chroma."""
        s, exact = self.settings, self.reader.dense
        sims = exact.similarities(vector)
        keep = exact.mask(filters)
        lists.append(("dense", s.dense_weight, exact.top(sims, n, keep)))
        similarity: dict[str, float] = {}
        for _, _, hits in lists:
            for cid, _ in hits:
                if cid not in similarity:
                    row = exact.row_of(cid)
                    similarity[cid] = float(sims[row]) if row is not None else 0.0
        return {
            cid: Candidate(cid, text, record, similarity[cid])
            for cid, text, record in self.reader.vectors.texts(list(similarity))
        }

    def _hnsw(
        self, vector: np.ndarray, n: int, filters: SearchFilters, lists: list[tuple[str, float, list[tuple[str, float]]]]
    ) -> dict[str, Candidate]:
        """Dense ranking from Chroma's own index (with its metadata filter)."""
        s, vectors = self.settings, self.reader.vectors
        hits = vectors.query(vector, n=n, filters=filters)
        lists.append(("dense", s.dense_weight, [(h.chunk_id, h.similarity) for h in hits]))
        cands = {h.chunk_id: Candidate(h.chunk_id, h.text, h.record, h.similarity) for h in hits}
        missing = list(dict.fromkeys(cid for _, _, hits_ in lists for cid, _ in hits_ if cid not in cands))
        if missing:
            for cid, text, record, emb in vectors.get(missing):
                cands[cid] = Candidate(cid, text, record, float(np.dot(emb, vector)))
        return cands
