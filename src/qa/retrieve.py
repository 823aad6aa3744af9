"""Finding the passages for a question.

Dense (Chroma) and lexical (BM25) candidates are fused by reciprocal rank; a time prior favours
what the question's time intent asks for ("this week", "last", as-of recency); the learned ranker
(``qa.rank``, when on) or an optional cross-encoder re-orders the candidates; a per-article cap
keeps one story from filling the top k.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import date
from functools import cached_property
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

    @cached_property
    def encoder(self) -> Any:
        """Resolved once per Retriever (one per question): finding it checks the export's weights."""
        from qa.embeddings import get_index_encoder

        s = self.settings
        return get_index_encoder(self.reader.model, s.resolved_index(), s.device, s.embed_batch_size, s.onnx)

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: SearchFilters | None = None,
        qtime: QuestionTime | None = None,
        *,
        depth: int | None = None,
    ) -> tuple[list[Passage], np.ndarray]:
        """Ranked passages (best first) and the query vector (reused by the answerer); the
        candidate pools are as deep as for ``depth`` results (default ``k``)."""
        s = self.settings
        k = k or s.search_k
        text, scored, vector = self.pool(query, depth or k, filters, qtime)
        if s.reranker:
            scored = self._rerank(text, scored, qtime)
        elif s.learned_ranking:
            from qa.rank import rerank

            scored = rerank(text, qtime, scored, s.rank_model)
        if s.window_lead:
            scored = window_first(scored, qtime, s.window_lead, s.min_relevance)
        top = (scored[0][0] if scored else 1.0) or 1.0
        passages = [_passage(c, score / top) for score, c in scored]
        return cap_per_document(passages, s.per_doc_cap, k), vector

    def for_answer(
        self,
        query: str,
        k: int,
        filters: SearchFilters | None = None,
        qtime: QuestionTime | None = None,
    ) -> tuple[list[Passage], np.ndarray]:
        """The passages to answer from: the top ``k`` and, for a question with an explicit window,
        also the in-window passages among the next ``k`` — the answer quotes only evidence from
        the window, and the ranking after its lead is by relevance, whatever the date
        (``window_first``), so the top ``k`` alone can hold too little of it."""
        window = qtime is not None and qtime.evidence is not None
        passages, vector = self.search(query, 2 * k if window else k, filters, qtime, depth=k)
        if window:
            passages = passages[:k] + [p for p in passages[k:] if in_window(p.record, qtime)]
        return passages, vector

    def pool(
        self,
        query: str,
        k: int,
        filters: SearchFilters | None = None,
        qtime: QuestionTime | None = None,
    ) -> tuple[str, list[tuple[float, Candidate]], np.ndarray]:
        """Every candidate, ordered by fused score times the time prior (best first), with the
        text matched (the question without its time words) and the query vector.

        Candidates come from the whole index and, for a question with a time cue, also from the
        cue's evidence window (its own best lexical and dense hits, however old the rest)."""
        s = self.settings
        filters = filters or SearchFilters()
        text = retrieval_query(query, qtime) if s.strip_time_words else query
        vector = self.encoder.encode_query(text)
        wide = s.rank_candidates if s.learned_ranking and not s.reranker else 0
        # (list kind, filters, weight, lexical candidates, dense candidates) of each candidate pool
        pools = [("", filters, 1.0, max(s.lexical_candidates, k * 4, wide), max(s.dense_candidates, k * 4, wide))]
        window = qtime.evidence if qtime is not None else None
        if window is not None and s.window_candidates > 0:
            n = max(s.window_candidates, k * 4)
            narrowed = window_filters(filters, window.published_from, window.published_to)
            pools.append(("window ", narrowed, s.window_pool_weight, n, n))
        lists: list[tuple[str, float, list[tuple[str, float]]]] = []  # (kind, weight, hits best first)
        with self.reader.reading():
            lexical = self.reader.lexical
            exact = self.reader.dense if s.dense_search == "exact" else None
            sims = exact.similarities(vector) if exact is not None else None
            known: dict[str, Candidate] = {}  # HNSW hits come with their text and record
            for kind, pool, weight, n_lex, n_dense in pools:
                if lexical is not None and s.lexical_weight > 0:
                    lists.append((kind + "lexical", weight * s.lexical_weight, lexical.search(text, n_lex, pool)))
                if exact is not None:
                    hits = exact.top(sims, n_dense, exact.mask(pool))
                else:
                    found = self.reader.vectors.query(vector, n=n_dense, filters=pool)
                    known.update((h.chunk_id, Candidate(h.chunk_id, h.text, h.record, h.similarity)) for h in found)
                    hits = [(h.chunk_id, h.similarity) for h in found]
                lists.append((kind + "dense", weight * s.dense_weight, hits))
            cands = self._fetch(vector, sims, lists, known)
        for kind, weight, hits in lists:
            for rank, (cid, score) in enumerate(hits, 1):
                c = cands.get(cid)
                if c is None:
                    continue
                c.fused += weight / (s.rrf_k + rank)
                if kind == "lexical":  # the ranker's features describe the whole-index lists
                    c.lexical_rank, c.lexical_score = rank, score
                elif kind == "dense":
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

    def _fetch(
        self,
        vector: np.ndarray,
        sims: np.ndarray | None,
        lists: list[tuple[str, float, list[tuple[str, float]]]],
        known: dict[str, Candidate],
    ) -> dict[str, Candidate]:
        """Text, record and cosine similarity of every candidate (dense or lexical) not ``known``
        already: with the exact matrix, from its parts (Chroma only for an older qa's parts) and
        its similarities; else from Chroma and the stored vectors."""
        ids = [cid for cid in dict.fromkeys(cid for _, _, hits in lists for cid, _ in hits) if cid not in known]
        if not ids:
            return known
        if sims is None:
            return known | {
                cid: Candidate(cid, text, record, float(np.dot(emb, vector)))
                for cid, text, record, emb in self.reader.vectors.get(ids)
            }
        exact = self.reader.dense
        cands = dict(known)
        local, elsewhere = exact.texts(ids)
        rows = [(cid, text, record) for cid, (text, record) in local.items()]
        for cid, text, record in rows + (self.reader.vectors.texts(elsewhere) if elsewhere else []):
            row = exact.row_of(cid)
            cands[cid] = Candidate(cid, text, record, float(sims[row]) if row is not None else 0.0)
        return cands


def window_first(
    scored: list[tuple[float, Candidate]], qtime: QuestionTime | None, n: int, floor: float
) -> list[tuple[float, Candidate]]:
    """For a question with an explicit window ("this week", "in October"), its ``n`` best
    candidates from inside the window (``in_window``) that are relevant enough to answer from
    (cosine similarity ≥ ``floor``, the answer's ``min_relevance``) first, scored as high as the
    best, then the rest in their order: the window's own evidence leads whatever older story
    matches the words better, and the passages after it are still the most relevant ones.
    Chosen on the development set's January–March over boosting every in-window candidate,
    which pushed in-window passages without the answer above older ones with it (AnswerRecall@5
    0.492 → 0.513, top result in the window 0.971 → 0.931; without the floor 1.0, but an
    unrelated story from the window would lead)."""
    if qtime is None or qtime.evidence is None or not scored:
        return scored
    lead = [pair for pair in scored if pair[1].similarity >= floor and in_window(pair[1].record, qtime)][:n]
    if not lead:
        return scored
    top = scored[0][0]
    ids = {id(c) for _, c in lead}
    return [(max(score, top), c) for score, c in lead] + [pair for pair in scored if id(pair[1]) not in ids]


def window_filters(filters: SearchFilters, first: date, last: date) -> SearchFilters:
    """``filters`` narrowed to articles published from ``first`` to ``last``."""
    since = max(filters.since, first) if filters.since else first
    until = min(filters.until, last) if filters.until else last
    return replace(filters, since=since, until=until)
