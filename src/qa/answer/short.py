"""Short answers: who, what, where, how many, when — a span of an article, with its citation.

A reader in the AskMSR tradition, built from parts that run offline: the question's expected
answer type (``qa.answer.qtype``); candidate spans from the sentences of the best passages
(``qa.answer.spans``: spaCy entities and noun chunks, patterns for numbers, amounts and dates);
each occurrence scored by its passage's rank and time prior (``qa.retrieve.time_prior``), its
sentence's share of the question's words and its closeness to them, and how well its type fits;
votes summed over independent articles; never something the question itself names. Below the
confidence threshold (a setting) there is no short answer: the quoted sentences stand alone.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import snowballstemmer

from qa.answer.qtype import QuestionType, question_type, singular
from qa.answer.spans import NOUN_PHRASE, NUMERIC_CORE, Analyzer, Span, pattern_spans
from qa.sentences import is_headline_like, is_question, sentence_spans
from qa.temporal import find_time_mentions
from qa.text import STOPWORDS, normalize_answer
from qa.types import Passage

if TYPE_CHECKING:
    from qa.settings import Settings
    from qa.temporal import QuestionTime, Window


@dataclass(frozen=True)
class Weights:
    """The reader's scoring constants (chosen on the development set's January–March)."""

    rank_scale: float = 8.0  # passage weight 1 / (1 + rank / rank_scale)
    sentence_floor: float = 0.2  # a sentence's weight: floor + its share of the question's words
    close_scale: float = 4.0  # closeness 1 / (1 + words apart / close_scale)
    close_floor: float = 0.15  # closeness when the sentence has none of the question's words
    type_match: float = 1.0
    type_near: float = 0.5  # an entity of a related label ("quantity" for "number")
    type_mismatch: float = 0.05
    np_for_entity: float = 0.15  # a noun chunk when an entity is expected
    thing_entity: float = 0.7  # an entity when any noun phrase will do
    thing_np: float = 0.5
    head_match: float = 1.0  # a noun chunk whose head is the question's head noun
    same_doc: float = 0.25  # a second occurrence in the same article counts this much
    quoted: float = 1.0  # boost of a sentence the extractive answer quotes (its first: full, then less)
    named_penalty: float = 0.8  # share of the candidate's words the question names, times this
    max_words: int = 8
    tiling: str = "shorter"  # "shorter": a candidate inside longer ones also gets a share of their votes (both forms stay, the judge picks); "longer": gives them its votes
    tile_share: float = 0.5  # with "shorter": the share of a longer candidate's votes its parts get


WEIGHTS = Weights()

_NEAR = {
    "number": {"MONEY", "PERCENT", "ORDINAL", "DATE"},
    "quantity": {"DATE", "TIME"},
    "money": {"CARDINAL", "QUANTITY"},
    "percent": {"CARDINAL", "QUANTITY"},
    "duration": {"CARDINAL"},
    "place": {"ORG", "NORP"},
    "organisation": {"PRODUCT", "GPE", "PERSON", "FAC", "WORK_OF_ART"},
    "person": {"ORG", "NORP"},
    "product": {"WORK_OF_ART"},
    "title": {"PRODUCT", "ORG", "EVENT", "PERSON"},
    "event": {"ORG", "WORK_OF_ART", "FAC"},
    "group": {"ORG"},
}
NUMERIC_LABELS = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "ORDINAL", "DATE", "TIME"})
_JUNK = frozenset(
    "he she it they them we us you i him her his hers its their this that these those who which what "
    "one ones people thing things way ways time times year years day days week weeks month months "
    "today yesterday tomorrow something someone anything everyone everything part lot number".split()
)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    return snowballstemmer.stemmer("english")


_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.-]*[A-Za-z0-9]|[A-Za-z0-9]")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word.lower().replace("’", "'").removesuffix("'s")))


def _stems(words: list[str]) -> list[str]:
    return [_stem(w) for w in words]


@dataclass
class Winner:
    """The reader's answer: ``text`` (for a date, its absolute form), its ``kind`` (qtype), the
    reader's ``confidence`` (0–1), and where it is said: ``[start, end)`` in the cleaned text of
    the article ``passage`` comes from (``sentence`` is the ``[start, end)`` of its sentence)."""

    text: str
    kind: str
    confidence: float
    passage: Passage
    start: int
    end: int
    sentence: tuple[int, int]
    key: str = ""  # normalised text: how votes were counted


@dataclass
class Occurrence:
    passage: Passage
    rank: int
    sentence: tuple[int, int]  # article offsets
    span: Span  # offsets in the sentence
    text: str
    score: float
    # what the score was made of (the judge's features, qa.answer.judge)
    fit: float = 0.0  # type fit
    close: float = 0.0  # closeness to the question's words
    overlap: float = 0.0  # the sentence's share of the question's words
    quoted: float = 0.0  # the extractive answer's boost of its sentence (0: not quoted)
    quoted_rank: int = -1  # which of the quoted sentences it is in (0: the first; -1: none)
    prior: float = 1.0  # its passage's time prior
    named: float = 0.0  # share of its words the question names


@dataclass
class Candidate:
    key: str
    occurrences: list[Occurrence] = field(default_factory=list)
    score: float = 0.0
    absorbed: list[Occurrence] = field(default_factory=list)  # of shorter candidates merged in
    probability: float = 0.0  # the judge's, when it judged the reading

    @property
    def best(self) -> Occurrence:
        """Its best occurrence (its own, never one of a shorter candidate merged into it)."""
        return max(self.occurrences, key=lambda o: o.score)

    def shown(self, kind: str) -> str:
        """What a short answer of this kind shows: the best occurrence's text, or for a date the
        date it resolves to."""
        occ = self.best
        return occ.span.head if kind == "date" and occ.span.head else occ.text


@dataclass
class Reading:
    """What the reader made of the passages: the expected type and the ranked candidates."""

    qtype: QuestionType
    candidates: list[Candidate]
    judged: bool = False  # ordered by the judge (qa.answer.judge), each with its probability

    @property
    def confidence(self) -> float:
        if self.judged:
            return self.candidates[0].probability if self.candidates else 0.0
        return confidence(self.candidates)


def confidence(cands: list[Candidate]) -> float:
    """The winner's share of the top candidates' votes, damped when it has little support."""
    if not cands:
        return 0.0
    top = cands[0].score
    total = sum(c.score for c in cands[:5])
    share = top / total if total > 0 else 0.0
    return share * (1.0 - math.exp(-top / 0.5))


@dataclass
class _Sentence:
    passage: Passage
    rank: int
    start: int  # article offsets
    end: int
    text: str
    overlap: float  # share of the question's words in it
    positions: list[int]  # word indexes of the question's words in it
    words: list[tuple[int, int]]  # (start, end) of each word, sentence offsets


def _question_terms(question: str) -> set[str]:
    words = [w for w in _WORD.findall(question) if w.lower() not in STOPWORDS and len(w) > 1]
    return set(_stems(words))


def _sentences(passages: list[Passage], terms: set[str], window: Window | None = None) -> list[_Sentence]:
    """The sentences worth reading; with a time cue only those its window admits as evidence (the
    rule the quoted sentences obey: ``Window.admits_sentence``)."""
    seen: set[tuple[str, int]] = set()
    out: list[_Sentence] = []
    for rank, p in enumerate(passages):
        for s, e in sentence_spans(p.text):
            key = (p.doc_id, p.start + s)
            text = p.text[s:e]
            if key in seen or e - s < 15 or is_question(text) or is_headline_like(text):
                continue
            if window is not None and not window.admits_sentence(p.published_at, find_time_mentions(text, p.published_at)):
                continue
            seen.add(key)
            words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
            stems = _stems([text[a:b] for a, b in words])
            positions = [i for i, st in enumerate(stems) if st in terms]
            overlap = len({stems[i] for i in positions}) / len(terms) if terms else 0.0
            out.append(_Sentence(p, rank, p.start + s, p.start + e, text, overlap, positions, words))
    return out


def select_sentences(sentences: list[_Sentence], limit: int, rank_scale: float) -> list[_Sentence]:
    """The ``limit`` sentences most worth reading: most of the question's words, in the best
    passages (spaCy costs a few milliseconds a sentence)."""
    ranked = sorted(sentences, key=lambda s: (s.overlap + 0.05) / (1 + s.rank / rank_scale), reverse=True)
    return ranked[:limit]


def heads_match(qtype: QuestionType, span: Span) -> bool:
    """A noun chunk whose head is the question's head noun ("which seed" → "the oldest seeds")."""
    return bool(qtype.head) and span.label == NOUN_PHRASE and singular(span.head) == qtype.head


def _type_fit(qtype: QuestionType, span: Span, sentence: str, w: Weights) -> float:
    if qtype.kind == "thing":
        if span.label == NOUN_PHRASE:
            if heads_match(qtype, span):
                return w.head_match
            return w.thing_np
        if span.label in NUMERIC_LABELS:
            return w.type_mismatch
        return w.thing_entity
    if span.label in qtype.labels:
        return w.type_match
    if span.label in _NEAR.get(qtype.kind, ()):
        return w.type_near
    if span.label == NOUN_PHRASE:
        capitalised = sentence[span.start : span.start + 1].isupper()
        return w.np_for_entity * (2.0 if capitalised and qtype.wants_entity else 1.0)
    return w.type_mismatch


_INITIALS = re.compile(r"\b([a-z]) (?=[a-z]\b)")


def answer_words(text: str) -> list[str]:
    """Normalised words, singular, initials joined ("U.S." → "us")."""
    return [singular(w) for w in _INITIALS.sub(r"\1", normalize_answer(text)).split()]


def _question_words(question: str) -> set[str]:
    return set(answer_words(question))


_UNIT = re.compile(r"\s*([A-Za-z-]+)")  # used with .match(text, pos): anchored at pos
_YEAR = re.compile(r"(?:in |since |by )?(?:19|20)\d\d")
_CLOCK = re.compile(r"\d:\d\d|\b[ap]\.?m\b", re.I)
_DURATION = re.compile(r"\b(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|centuries|century)\b", re.I)
_OLD = re.compile(r"[\s-]*(?:years?|yrs?)?[\s-]*old\b", re.I)


def shape(qtype: QuestionType, span: Span, sentence: str, qwords: set[str]) -> tuple[int, int] | None:
    """The part of a span that answers a question of this type, or None if it cannot: a number
    question takes the number (with its unit unless the question names it: "how many years" →
    "30"), a date question a date."""
    start, end = span.start, span.end
    if qtype.wants_number:
        if span.label == "TIME" or _YEAR.fullmatch(sentence[start:end]) or _CLOCK.search(sentence, start, end):
            return None
        m = NUMERIC_CORE.search(sentence, start, end)
        if not m:
            return None
        if span.label == "DATE" and not _DURATION.search(sentence, m.end(), end):
            return None  # "Thursday", "Nov. 7, 1907": not a count
        start = m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
        if qtype.kind in ("number",) or qtype.wh == "how old":
            return start, m.end()
        unit = _UNIT.match(sentence, m.end(), end)
        if unit and (singular(unit.group(1)) in qwords or _OLD.match(sentence, m.end(), end)):
            return start, m.end()
        return start, end
    if qtype.kind == "date" and span.label not in ("DATE", "TIME", "CARDINAL"):
        return None
    return start, end


def read(
    question: str,
    passages: list[Passage],
    qtime: QuestionTime,
    settings: Settings,
    analyzer: Analyzer,
    *,
    weights: Weights = WEIGHTS,
    qtype: QuestionType | None = None,
    quoted: list[tuple[str, int, int]] = (),  # type: ignore[assignment]
) -> Reading:
    """Score every candidate span of the best sentences of ``passages`` (ranked best first).
    ``quoted``: (doc_id, start, end) of the sentences the extractive answer quotes, best first —
    the sentence encoder's judgement of which sentences answer, which the reader trusts more."""
    from qa.retrieve import time_prior

    qtype = qtype or question_type(question)
    if not qtype.answerable or not passages:
        return Reading(qtype, [])
    w = weights
    terms = _question_terms(question)
    qwords = _question_words(question)
    sentences = _sentences(passages, terms, qtime.evidence)
    boost: dict[int, float] = {}
    quote_rank: dict[int, int] = {}
    for i, (doc, qs, qe) in enumerate(quoted):
        for sent in sentences:
            if sent.passage.doc_id == doc and sent.start < qe and qs < sent.end:
                boost.setdefault(id(sent), w.quoted / (1 + i))
                quote_rank.setdefault(id(sent), i)
    chosen = [s for s in sentences if id(s) in boost]
    chosen += select_sentences([s for s in sentences if id(s) not in boost], settings.short_answer_sentences, w.rank_scale)
    analyses = analyzer.analyse([s.text for s in chosen])
    prior = {id(p): time_prior(p.record, qtime, settings) for p in passages}
    cands: dict[str, Candidate] = {}
    for sent, spans in zip(chosen, analyses):
        passage_weight = prior[id(sent.passage)] / (1 + sent.rank / w.rank_scale)
        sentence_weight = (w.sentence_floor + sent.overlap) * (1.0 + boost.get(id(sent), 0.0))
        all_spans = pattern_spans(sent.text, sent.passage.published_at) + list(spans)
        seen_spans: set[tuple[int, int]] = set()
        for span in all_spans:
            shaped = shape(qtype, span, sent.text, qwords)
            if shaped is None or shaped in seen_spans:
                continue
            seen_spans.add(shaped)
            text = sent.text[shaped[0] : shaped[1]]
            if qtype.kind == "date" and span.head:
                key = normalize_answer(span.head)  # the resolved date: "Monday" and "15 May" agree
            else:
                key = normalize_answer(text)
            words = answer_words(text)
            if not words or len(words) > w.max_words or key in _JUNK:
                continue
            named = sum(x in qwords for x in words) / len(words)
            if named >= 1.0:
                continue  # never an entity the question itself names
            fit = _type_fit(qtype, span, sent.text, w)
            close = _closeness(sent, span, w)
            score = passage_weight * sentence_weight * close * fit * (1.0 - w.named_penalty * named)
            if score <= 0:
                continue
            cand = cands.setdefault(key, Candidate(key))
            shown = Span(shaped[0], shaped[1], span.label, span.head)
            cand.occurrences.append(Occurrence(
                sent.passage, sent.rank, (sent.start, sent.end), shown, text, score,
                fit, close, sent.overlap, boost.get(id(sent), 0.0), quote_rank.get(id(sent), -1),
                prior[id(sent.passage)], named))
    ranked = _merge(_total(list(cands.values()), w)) if w.tiling == "longer" else _share(_total(list(cands.values()), w), w.tile_share)
    reading = Reading(qtype, ranked)
    from qa.answer.judge import judge, model_for

    model = model_for(settings)
    return judge(reading, model) if model is not None else reading


def _closeness(sent: _Sentence, span: Span, w: Weights) -> float:
    if not sent.positions:
        return w.close_floor
    first = next((i for i, (a, b) in enumerate(sent.words) if b > span.start), len(sent.words))
    last = next((i for i, (a, b) in enumerate(sent.words) if b >= span.end), len(sent.words) - 1)
    inside = [p for p in sent.positions if first <= p <= last]
    if inside and len(inside) == len(sent.positions):
        return w.close_floor
    gaps = [min(abs(p - first), abs(p - last)) for p in sent.positions if p < first or p > last]
    return 1.0 / (1.0 + (min(gaps) if gaps else 0) / w.close_scale)


def _total(cands: list[Candidate], w: Weights) -> list[Candidate]:
    """A candidate's votes: its best occurrence in each article, plus a little for repeats."""
    for c in cands:
        by_doc: dict[str, list[float]] = defaultdict(list)
        for o in c.occurrences:
            by_doc[o.passage.doc_id].append(o.score)
        c.score = sum(max(s) + w.same_doc * (sum(s) - max(s)) for s in by_doc.values())
    return sorted(cands, key=lambda c: c.score, reverse=True)


def form_words(key: str) -> frozenset[str] | None:
    """A candidate's words as a form of a name, for tiling ("Harvard" is a form of "Harvard
    University"); None for anything with a digit: "2 percent" is not a form of "2.1 percent"
    (normalised "2 1 percent"), nor "Apollo 11" of "Apollo 11 mission"'s numbers."""
    return None if any(ch.isdigit() for ch in key) else frozenset(key.split())


def _merge(cands: list[Candidate]) -> list[Candidate]:
    """AskMSR tiling: a candidate whose words are all in a longer one ("Biden", "Joe Biden") gives
    it its votes."""
    out: list[Candidate] = []
    for c in sorted(cands, key=lambda c: len(c.key.split()), reverse=True):
        words = form_words(c.key)
        host = next((o for o in out if words and (ow := form_words(o.key)) and words < ow and len(ow) <= len(words) + 2), None)
        if host is not None:
            host.absorbed.extend(c.occurrences)
            host.score += c.score
        else:
            out.append(c)
    return sorted(out, key=lambda c: c.score, reverse=True)


def _share(cands: list[Candidate], share: float) -> list[Candidate]:
    """Tiling the other way: a candidate inside longer ones ("Twitter" in "Twitter Inc") also
    gets ``share`` of their votes, so the common core of several forms can win."""
    own = [(f, c.score) for c in cands if (f := form_words(c.key))]
    for c in cands:
        words = form_words(c.key)
        if words:
            c.score += share * sum(s for f, s in own if words < f)
    return sorted(cands, key=lambda c: c.score, reverse=True)


def winner(reading: Reading, threshold: float) -> Winner | None:
    """The winner, when the reader is confident enough."""
    if not reading.candidates:
        return None
    conf = reading.confidence
    if not conf >= threshold:  # also a NaN confidence: never an answer
        return None
    best = reading.candidates[0]
    occ = best.best
    start = occ.sentence[0] + occ.span.start
    text = best.shown(reading.qtype.kind)
    return Winner(text, reading.qtype.kind, conf, occ.passage, start, start + len(occ.text),
                       occ.sentence, best.key)


def rerank(passages: list[Passage], answer: Winner | None) -> list[Passage]:
    """The passages holding the short answer first (in their order), then the others."""
    if answer is None:
        return passages
    needle = f" {answer.key} "
    holding = [p for p in passages if needle in f" {normalize_answer(p.text)} "]
    return holding + [p for p in passages if not any(p is h for h in holding)]
