"""What the learned ranker knows of a candidate passage: cheap signals, relative to its pool.

Every feature is computed from what retrieval already has (the dense and BM25 rankings, the
fused order, the chunk's record) and the passage text, and is relative where it can be (ranks,
gaps to the pool's best, days before the question's date), so a model fitted on one period's
news carries to another. Source names are never features.

``extract(query, qtime, candidates)`` gives one row per candidate, columns in ``FEATURES`` order.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from qa.temporal import QuestionTime
from qa.text import STOPWORDS
from qa.types import UNDATED, ChunkRecord

KEY_CHARS = 6  # a passage word matches a question word that starts like it (a stemmer's effect, cheaply)
WINDOW_CHARS = 80  # proximity: the most question words inside any window of this many characters
PAIR_GAP_CHARS = 12  # "interest rates", "Bank of England": adjacent question words, a stop word or two apart
AGREE_TOP = 20  # source agreement counts the articles among the best fused candidates
NO_EVENT = 10.0  # signed log-days of "the passage names no date" (beyond any real distance)

FEATURES: tuple[str, ...] = (
    # the first-stage rankings
    "dense_sim",  # cosine similarity of passage (with title) and question
    "dense_gap",  # best similarity in the pool minus this one
    "dense_rank",  # log2(1 + place in the dense list); missing → log2(1 + 2 × pool)
    "bm25_rel",  # BM25 score / the pool's best BM25 score (0 when BM25 did not find it)
    "bm25_rank",  # log2(1 + place in the BM25 list); missing → log2(1 + 2 × pool)
    "fused_rank",  # log2(1 + place in today's order: fusion × time prior)
    "fused_rel",  # fusion × prior / the best's
    "prior",  # the time prior's multiplier
    # the words of the question in the passage
    "cover",  # share of the question's content words in the passage
    "cover_idf",  # the same, weighted by rarity in the pool
    "title_cover",  # share of the question's content words in the title
    "bigrams",  # share of the question's adjacent word pairs adjacent in the passage
    "proximity",  # most question words in any 80-character window / question words
    "doc_cover",  # share of the question's words in the article's pooled passages and title
    "sent_cover",  # the best sentence's share of the question's words, weighted by rarity in the pool
    "sent_fit",  # the best sentence holds something of the asked shape the question does not name
    # time, relative to the question's date and window
    "age",  # log1p(days from publication to the as-of date); -1 when undated
    "age_rel",  # log1p(age − the pool's newest age)
    "undated",
    "in_window",  # published or reporting events inside the question's window
    "event_last",  # signed log1p(days from the latest day the passage names to the as-of date)
    "event_first",  # the same for the earliest
    "has_window",  # the question names a time ("this week", "in May")
    "recency_q",  # the question asks for the latest ("last", "most recent")
    "asks_when",
    # the article and the passage's place in it
    "doc_hits",  # log1p(candidates from the same article)
    "doc_rank",  # log2(1 + the article's place by its best candidate)
    "doc_gap",  # the article's best similarity minus this passage's
    "chunk_index",  # log1p(place of the passage in its article)
    "first_chunk",
    # agreement and answer shape
    "agree_max",  # most other articles (of the best 20) sharing one of this passage's names or numbers
    "agree_mean3",  # mean of its three best-shared names or numbers
    "numbers",  # share of the passage's words that are numbers
    "names",  # share of the passage's words that are capitalised names
    "q_number",  # the question asks how many / how much / what percentage
    "q_who",  # the question asks who
    "q_terms",  # log1p(content words of the question)
    "length",  # log(passage characters)
)

_TOKEN = re.compile(r"[a-z0-9]+")
_NAME_OR_NUMBER = re.compile(r"[A-Z0-9][A-Za-z0-9,.]*")  # one simple pass over each text (fastest form)
_WORD_REST = re.compile(r"[a-z0-9]*")
_Q_NUMBER = re.compile(r"\bhow (many|much|long|old|far)\b|\bwhat (percentage|percent|number|age|share)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]*\s+")
_NUMBER = re.compile(r"\d")
_DATE_WORD = re.compile(r"\b(?:\d{4}|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun)[a-z]*\b")
_Q_WHO = re.compile(r"^\s*(who|whom|whose)\b|\bwhich (person|man|woman|politician|leader|player|actor|singer)\b", re.IGNORECASE)


@dataclass
class Candidate:
    """One fused candidate and what each ranking said of it: what retrieval hands the ranker."""

    chunk_id: str
    text: str
    record: ChunkRecord
    similarity: float = 0.0  # cosine similarity to the question
    fused: float = 0.0  # reciprocal-rank fusion score
    prior: float = 1.0  # the time prior's multiplier
    dense_rank: int = 0  # 1-based place in the dense list; 0 = not in it
    lexical_rank: int = 0  # 1-based place in the BM25 list; 0 = not in it
    lexical_score: float = 0.0  # BM25 score (0 when not in the BM25 list)


def question_terms(query: str) -> list[str]:
    """The question's content words (lower case, no stop words), once each, in order."""
    words = _TOKEN.findall(query.lower())
    return list(dict.fromkeys(w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())))


class TermMatcher:
    """Finds the question's words in a lower-cased text: a word of ``KEY_CHARS`` letters or
    more matches any word starting with its first ``KEY_CHARS`` ("election" ~ "elections",
    "elected"); a shorter one matches itself with a plain ending ("bank" ~ "banks"). Substring
    search, not a regular expression: this runs over every candidate of every query."""

    ENDINGS = ("", "s", "es", "ed", "ing")

    def __init__(self, terms: list[str]):
        self.keys = [(t[:KEY_CHARS], len(t) < KEY_CHARS) for t in terms]

    def find(self, lowered: str) -> list[tuple[int, int, int]]:
        """(term number, start, end) of every match, in text order."""
        out = []
        for i, (k, short) in enumerate(self.keys):
            at = lowered.find(k)
            while at != -1:
                if at == 0 or not lowered[at - 1].isalnum():
                    end = _WORD_REST.match(lowered, at + len(k)).end()  # type: ignore[union-attr]
                    if not short or lowered[at + len(k) : end] in self.ENDINGS:
                        out.append((i, at, end))
                at = lowered.find(k, at + 1)
        out.sort(key=lambda h: h[1])
        return out


def _slog(days: float) -> float:
    return math.copysign(math.log1p(abs(days)), days)


def _best_window(hits: list[tuple[int, int, int]], width: int) -> int:
    """Most distinct terms among the (term, start, end) matches inside any ``width``-character
    window."""
    best, lo = 0, 0
    counts: dict[int, int] = defaultdict(int)
    for term, start, _ in hits:
        counts[term] += 1
        while start - hits[lo][1] >= width:
            t = hits[lo][0]
            counts[t] -= 1
            if not counts[t]:
                del counts[t]
            lo += 1
        best = max(best, len(counts))
    return best


def _adjacent_pairs(hits: list[tuple[int, int, int]], text: str) -> set[tuple[int, int]]:
    """Question-word pairs (i, i+1) that occur next to each other (a short gap apart)."""
    out = set()
    for (a, _, a_end), (b, b_start, _) in pairwise(hits):
        if b == a + 1 and b_start - a_end <= PAIR_GAP_CHARS and "." not in text[a_end:b_start]:
            out.add((a, b))
    return out


def _best_sentence(text: str, hits: list[tuple[int, int, int]], idf: list[float]) -> tuple[int, int, float]:
    """(start, end, rarity-weighted share of the question's words) of the sentence holding most
    of them."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]
    best, span, start, seen = 0.0, (0, ends[0]), 0, set()
    place = 0
    for end in ends:
        while place < len(hits) and hits[place][1] < end:
            seen.add(hits[place][0])
            place += 1
        weight = sum(idf[t] for t in seen)
        if weight > best:
            best, span = weight, (start, end)
        start, seen = end, set()
    return span[0], span[1], best


def _fits(sentence: str, lowered: str, query_terms: set[str], asks: str) -> bool:
    """Whether a sentence holds something of the shape the question asks for that the question
    does not already name: a number for "how many", a date for "when", else a name."""
    if asks == "number":
        return bool(_NUMBER.search(sentence))
    if asks == "when":
        return bool(_DATE_WORD.search(lowered))
    return any(w.lower().strip(".,") not in query_terms for w in _NAME_OR_NUMBER.findall(sentence[1:]) if w[0].isupper())


def _names(text: str, query_terms: set[str]) -> tuple[set[str], int]:
    """The capitalised words and numbers of a passage that the question does not already name,
    and how many numbers it has."""
    found = _NAME_OR_NUMBER.findall(text)
    numbers = sum(1 for m in found if m[0].isdigit())
    words = set(" ".join(found).replace(",", "").lower().split())
    return {w.rstrip(".") for w in words if w[0].isdigit() or len(w) > 2} - STOPWORDS - query_terms, numbers


def extract(query: str, qtime: QuestionTime | None, candidates: Sequence[Candidate]) -> np.ndarray:
    """One row of ``FEATURES`` per candidate; ``candidates`` in today's order (fusion × prior,
    best first)."""
    n = len(candidates)
    X = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if n == 0:
        return X
    f = {name: X[:, i] for i, name in enumerate(FEATURES)}  # column views
    terms = question_terms(query)
    nq = max(len(terms), 1)
    matcher = TermMatcher(terms)
    term_set = set(terms)
    n_pairs = max(len(terms) - 1, 0)
    asks_number = bool(_Q_NUMBER.search(query))

    # per passage: the question words it holds (and where), its names and numbers
    lowered = [c.text.lower() for c in candidates]
    hits = [matcher.find(t) for t in lowered]
    held = [{t for t, _, _ in h} for h in hits]
    titles: dict[str, set[int]] = {}
    for c in candidates:
        if c.record.doc_id not in titles:
            titles[c.record.doc_id] = {t for t, _, _ in matcher.find(c.record.title.lower())}
    title_held = [titles[c.record.doc_id] for c in candidates]
    df: dict[int, int] = defaultdict(int)
    for h, th in zip(held, title_held):
        for t in h | th:
            df[t] += 1
    idf = [math.log((n + 1) / (df[t] + 0.5)) for t in range(len(terms))]
    idf_total = sum(idf) or 1.0
    names, numbers = zip(*(_names(c.text, term_set) for c in candidates))

    # the first-stage rankings
    missing_rank = math.log2(1 + 2 * n)
    sims = np.array([c.similarity for c in candidates], dtype=np.float64)
    f["dense_sim"][:] = sims
    f["dense_gap"][:] = sims.max() - sims
    f["dense_rank"][:] = [math.log2(1 + c.dense_rank) if c.dense_rank else missing_rank for c in candidates]
    bm25 = np.array([c.lexical_score if c.lexical_rank else 0.0 for c in candidates])
    f["bm25_rel"][:] = bm25 / (bm25.max() or 1.0)
    f["bm25_rank"][:] = [math.log2(1 + c.lexical_rank) if c.lexical_rank else missing_rank for c in candidates]
    f["fused_rank"][:] = np.log2(2 + np.arange(n))
    fused = np.array([c.fused * c.prior for c in candidates])
    f["fused_rel"][:] = fused / (fused.max() or 1.0)
    f["prior"][:] = [c.prior for c in candidates]

    # the question's words
    f["cover"][:] = [len(h) / nq for h in held]
    f["cover_idf"][:] = [sum(idf[t] for t in h) / idf_total for h in held]
    f["title_cover"][:] = [len(th) / nq for th in title_held]
    if n_pairs:
        f["bigrams"][:] = [len(_adjacent_pairs(h, t)) / n_pairs for h, t in zip(hits, lowered)]
    f["proximity"][:] = [_best_window(h, WINDOW_CHARS) / nq if h else 0.0 for h in hits]
    asks = "number" if asks_number else "when" if qtime is not None and qtime.asks_when else "name"
    for i, (c, h, low) in enumerate(zip(candidates, hits, lowered)):
        if h:
            a, b, weight = _best_sentence(low, h, idf)
            f["sent_cover"][i] = weight / idf_total
            f["sent_fit"][i] = _fits(c.text[a:b], low[a:b], term_set, asks)

    # articles: their candidates, best place, best similarity, words covered
    by_doc: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(candidates):
        by_doc[c.record.doc_id].append(i)
    doc_place = {d: p for p, d in enumerate(by_doc, 1)}  # dict order: by best candidate
    doc_best = {d: float(sims[idx].max()) for d, idx in by_doc.items()}
    doc_words = {d: len(set().union(*(held[i] for i in idx), titles[d])) for d, idx in by_doc.items()}
    docs = [c.record.doc_id for c in candidates]
    f["doc_cover"][:] = [doc_words[d] / nq for d in docs]
    f["doc_hits"][:] = [math.log1p(len(by_doc[d]) - 1) for d in docs]
    f["doc_rank"][:] = [math.log2(1 + doc_place[d]) for d in docs]
    f["doc_gap"][:] = [doc_best[d] for d in docs] - sims
    f["chunk_index"][:] = [math.log1p(c.record.chunk_index) for c in candidates]
    f["first_chunk"][:] = [float(c.record.chunk_index == 0) for c in candidates]

    # time
    pub = np.array([c.record.published_day for c in candidates], dtype=np.int64)
    dated = pub != UNDATED
    as_of = qtime.as_of.toordinal() if qtime is not None else (int(pub[dated].max()) if dated.any() else 0)
    age = np.maximum(0, as_of - pub)
    newest = int(age[dated].min()) if dated.any() else 0
    f["age"][:] = np.where(dated, np.log1p(age), -1.0)
    f["age_rel"][:] = np.where(dated, np.log1p(np.maximum(0, age - newest)), 0.0)
    f["undated"][:] = ~dated
    ev_first = np.array([c.record.event_first_day for c in candidates], dtype=np.int64)
    ev_last = np.array([c.record.event_last_day for c in candidates], dtype=np.int64)
    has_event = ev_last != UNDATED
    f["event_last"][:] = np.where(has_event, np.sign(as_of - ev_last) * np.log1p(np.abs(as_of - ev_last)), NO_EVENT)
    f["event_first"][:] = np.where(has_event, np.sign(as_of - ev_first) * np.log1p(np.abs(as_of - ev_first)), NO_EVENT)
    if qtime is not None:
        if qtime.window:
            lo, hi = qtime.window[0].toordinal(), qtime.window[1].toordinal()
            inside = (dated & (pub >= lo) & (pub <= hi + 1)) | (has_event & (ev_first <= hi) & (ev_last >= lo))
            f["in_window"][:] = inside
            f["has_window"][:] = 1.0
        f["recency_q"][:] = float(qtime.recency)
        f["asks_when"][:] = float(qtime.asks_when)

    # source agreement: in how many of the best candidates' articles each name occurs
    pool_names: dict[str, set[str]] = defaultdict(set)  # article → names in its candidates
    top_names: dict[str, set[str]] = defaultdict(set)  # the same, among the best AGREE_TOP
    for i, (d, ns) in enumerate(zip(docs, names)):
        pool_names[d] |= ns
        if i < AGREE_TOP:
            top_names[d] |= ns
    in_pool: Counter[str] = Counter()
    in_top: Counter[str] = Counter()
    for ns in pool_names.values():
        in_pool.update(ns)
    for ns in top_names.values():
        in_top.update(ns)
    half = len(by_doc) / 2
    telling = {m for m, k in in_top.items() if in_pool[m] <= half}  # names in most articles tell nothing
    for i, (d, ns) in enumerate(zip(docs, names)):
        own = top_names.get(d, set())
        shared = sorted((in_top[m] - (m in own) for m in ns & telling), reverse=True)
        if shared:
            f["agree_max"][i] = shared[0]
            f["agree_mean3"][i] = sum(shared[:3]) / 3.0

    # answer shape
    n_words = np.array([max(t.count(" ") + 1, 1) for t in lowered], dtype=np.float64)
    f["numbers"][:] = np.array(numbers) / n_words
    f["names"][:] = np.array([len(ns) for ns in names]) / n_words
    f["q_number"][:] = float(asks_number)
    f["q_who"][:] = float(bool(_Q_WHO.search(query)))
    f["q_terms"][:] = math.log1p(len(terms))
    f["length"][:] = [math.log(max(len(c.text), 1)) for c in candidates]
    return X
