"""The default answerer: no LLM. It picks the few sentences of the retrieved passages that best
answer the question and cites each one; every word of the answer is quoted from an article,
except the resolved dates it adds in parentheses."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np

from qa.answer.verify import neutralise_markers
from qa.sentences import is_headline_like, is_question, sentence_spans
from qa.temporal import (
    QuestionTime,
    TimeMention,
    answer_event,
    dates_event,
    find_time_mentions,
    format_day,
    most_precise,
    with_absolute_dates,
)
from qa.text import STOPWORDS, content_words
from qa.types import Answer, Citation, Passage

NOT_FOUND = "I could not find an answer to that in the indexed articles."
NEAR_BEST = 0.06  # sentence scores this close to the best are as good an answer


@dataclass
class Candidate:
    passage: Passage
    start: int  # offsets into the article
    end: int
    text: str
    mentions: list[TimeMention]
    score: float = 0.0

    @property
    def latest(self) -> date | None:
        pub = self.passage.published_at
        days = [m.last for m in self.mentions if m.last and not m.is_bound and (pub is None or m.last <= pub)]
        return max(days) if days else pub

    @property
    def dates_an_event(self) -> bool:
        """Whether the sentence gives a date that is not only a bound ("since Storm Gorm in
        November 2023", "since 2020"): what a "when" question asks for."""
        return any(m.resolved and not m.is_bound for m in self.mentions)

    def latest_before(self, bound: date) -> date | None:
        """The latest event this sentence reports strictly before ``bound`` (None if none)."""
        days = [m.last for m in self.mentions if m.last and not m.is_bound and m.last < bound]
        if days:
            return max(days)
        if not self.mentions and self.passage.published_at and self.passage.published_at < bound:
            return self.passage.published_at
        return None


def candidates(passages: list[Passage]) -> list[Candidate]:
    """Sentences of the passages, each once (neighbouring chunks overlap); never a question."""
    seen: set[tuple[str, int]] = set()
    out: list[Candidate] = []
    for p in passages:
        for s, e in sentence_spans(p.text):
            key = (p.doc_id, p.start + s)
            if key in seen or e - s < 20 or is_headline_like(p.text[s:e]) or is_question(p.text[s:e]):
                continue
            seen.add(key)
            text = p.text[s:e]
            out.append(Candidate(p, p.start + s, p.start + e, text, find_time_mentions(text, p.published_at)))
    return out


def _lexical(question_terms: set[str], text: str) -> float:
    if not question_terms:
        return 0.0
    return len(question_terms & set(content_words(text))) / len(question_terms)


_ASKS_ENTITY = re.compile(r"^\s*(which|who|whom|whose|what|where|name)\b|\b(which|who)\b", re.I)


def score_candidates(
    question: str,
    qvec: np.ndarray,
    cands: list[Candidate],
    sentence_vectors: np.ndarray | None,
    qtime: QuestionTime,
    novelty_weight: float = 0.08,
) -> None:
    """Score each sentence; without sentence vectors its passage's similarity stands in (the
    cheap first pass that picks which sentences are worth encoding)."""
    terms = set(content_words(question))
    qtype = answer_type(question)
    if sentence_vectors is None:
        sims = np.array([c.passage.similarity for c in cands])
    else:
        sims = sentence_vectors @ qvec if len(cands) else np.zeros(0)
    for c, sim in zip(cands, sims):
        context = f"{c.passage.title} {c.passage.text}"
        c.score = (
            0.45 * float(sim)
            + 0.25 * float(c.passage.score)
            + 0.15 * _lexical(terms, c.text)
            + 0.10 * _lexical(terms, context)
        )
        if qtime.asks_when and any(m.granularity in ("day", "week", "month") and not m.is_bound for m in c.mentions):
            c.score += 0.08
        c.score += 0.06 * _answer_type_fit(qtype, c.text)
        if _ASKS_ENTITY.search(question):
            c.score += novelty_weight * novelty(question, c.text)


_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundred|thousand|million|billion)\b", re.I)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")


_CAP = re.compile(r"\b[A-Z][\w&'’.-]*")


def novelty(question: str, text: str) -> float:
    """Does the sentence name something the question does not (the likely answer)? Capitalised
    words after the first word, and numbers, that the question lacks."""
    q_words = {w.lower().strip(".'’") for w in re.findall(r"[\w&'’.-]+", question)}
    words = _CAP.findall(text)[1:] + re.findall(r"\b\d[\d,.]*\b", text)
    new = [w for w in words if w.lower().strip(".'’") not in q_words and w.lower() not in STOPWORDS]
    return min(1.0, len(new) / 2)


def answer_type(question: str) -> str:
    q = question.lower()
    if re.search(r"\bhow (?:much|many|long|far|old|big|large)\b|\bwhat (?:percentage|number|amount)\b", q):
        return "number"
    if re.search(r"^\s*who\b|\bwho (?:is|was|won|will|has|had)\b|\bwhich (?:person|team|company|country)\b", q):
        return "name"
    return ""


def _answer_type_fit(qtype: str, text: str) -> float:
    if qtype == "number":
        return 1.0 if _NUMBER.search(text) else 0.0
    if qtype == "name":
        return 1.0 if _NAME.search(text) else 0.0
    return 0.0


def choose(cands: list[Candidate], qtime: QuestionTime, n: int) -> list[Candidate]:
    """Best sentence first; for "last/latest" questions the most recent of the near-best ones;
    for a "when" question the best that dates an event, if it is near-best."""
    ranked = sorted(cands, key=lambda c: c.score, reverse=True)
    if qtime.before:  # "before that": only what happened before the bound, latest first
        bound = qtime.before
        dated = [c for c in ranked if c.latest_before(bound)]
        if not dated:
            return []
        top = dated[0].score
        close = [c for c in dated if c.score >= top - NEAR_BEST]
        close.sort(key=lambda c: (c.latest_before(bound), c.score), reverse=True)
        chosen = close[:1]
        for c in close[1:]:
            if len(chosen) >= min(n, 2):
                break
            if c.latest_before(bound) < chosen[-1].latest_before(bound):  # type: ignore[operator]
                chosen.append(c)  # the event before that one, for context
        return chosen
    if not ranked:
        return []
    best = ranked[0]
    if qtime.recency:
        close = [c for c in ranked if c.score >= best.score - NEAR_BEST and c.latest]
        if close:
            best = max(close, key=lambda c: (c.latest, c.score))
    elif qtime.asks_when and not best.dates_an_event:
        best = next((c for c in ranked if c.score >= best.score - NEAR_BEST and c.dates_an_event), best)
    chosen = [best]
    for c in ranked:
        if len(chosen) >= n:
            break
        if c is best or c.score < best.score * 0.9:
            continue
        if any(c.passage.doc_id == o.passage.doc_id and c.start == o.start for o in chosen):
            continue
        chosen.append(c)
    return chosen


def annotate(c: Candidate, skip: TimeMention | None = None) -> str:
    """The sentence with each date that does not name its year followed by its absolute date
    (except ``skip``, already stated in the answer's lead)."""
    return with_absolute_dates(c.text, c.mentions, skip)


def dated_lead(c: Candidate, qtime: QuestionTime) -> tuple[str, TimeMention | None]:
    """``sentence_date`` of a candidate sentence."""
    return sentence_date(c.mentions, c.passage.published_at, qtime)


def sentence_date(
    found: list[TimeMention], published: date | None, qtime: QuestionTime
) -> tuple[str, TimeMention | None]:
    """When the answer's lead sentence happened, stated absolutely: the direct answer to a "when"
    question, and for any other question the date of the news it quotes ("On Sunday 9 November
    2025", or "Reported Monday 10 November 2025" when the sentence names no date) — so an old
    story is never mistaken for this week's. Also the mention it states (not annotated again)."""
    # the date a comparison counts from ("since Storm Gorm in November 2023") is another event's
    mentions = [m for m in found if not m.since] if qtime.asks_when else [m for m in found if dates_event(m)]
    if qtime.asks_when or mentions:
        if not mentions:
            if published:
                return f"By {published.strftime('%-d %B %Y')} (the article's date)", None
            return "", None
        mentions = most_precise([m for m in mentions if not m.is_bound] or mentions)
        if qtime.before:
            mentions = [m for m in mentions if m.last and m.last < qtime.before] or mentions
        pick = max(mentions, key=lambda m: (m.last or date.min)) if qtime.recency else mentions[0]
        if not pick.resolved:
            text = pick.text[:1].upper() + pick.text[1:]
            return f"{text} (the article has no publication date, so the exact date is unknown)", pick
        prep = {"day": "On", "month": "In", "year": "In", "week": "In the week of"}[pick.granularity]
        return f"{prep} {pick.label()}", pick
    if published:
        return f"Reported {format_day(published)}", None
    return "", None


def is_relevant(question: str, passages: list[Passage], min_relevance: float) -> list[Passage]:
    """The passages relevant enough to answer from: similar enough to the question and sharing
    at least one of its content words."""
    relevant = [p for p in passages if p.similarity >= min_relevance]
    terms = set(content_words(question))
    if relevant and terms and not any(_lexical(terms, f"{p.title} {p.text}") > 0 for p in relevant):
        return []
    return relevant


def extractive_answer(
    question: str,
    relevant: list[Passage],
    qvec: np.ndarray,
    encoder: Any,
    *,
    qtime: QuestionTime,
    max_sentences: int = 3,
    shortlist: int,
) -> Answer:
    """The answer from ``relevant`` (``is_relevant``'s passages, best first) for ``question``,
    whose time intent is ``qtime`` (as of ``qtime.as_of``). With an explicit window ("this week",
    "in October") only sentences that are evidence from it are quoted; with none, qa says so and
    shows the most recent relevant sentence it has, dated (``nothing_in_window``)."""
    extra: dict[str, Any] = {"as_of": qtime.as_of.isoformat(), "backend": "extractive", "model": None, "fallback": False}
    window = qtime.evidence
    if window is not None:
        extra["window"] = {"from": window.published_from.isoformat(), "to": window.published_to.isoformat(), "label": window.label}
    if not relevant:
        return Answer(question, NOT_FOUND, False, (), extra)
    cands = candidates(relevant)
    outside: list[Candidate] = []
    if window is not None:
        inside = [c for c in cands if window.admits_sentence(c.passage.published_at, c.mentions)]
        outside, cands = [c for c in cands if c not in inside], inside
    if not cands:
        return nothing_in_window(question, outside, qvec, encoder, qtime, extra, shortlist)
    cands = _scored(question, cands, qvec, encoder, qtime, shortlist)
    chosen = choose(cands, qtime, max_sentences)
    citations: list[Citation] = []
    parts: list[str] = []
    for n, c in enumerate(chosen, 1):
        citations.append(_citation(n, c))
        skip = None
        if n == 1:
            lead, skip = dated_lead(c, qtime)
            if lead:
                parts.append(f"{lead} [1]:")
        sentence = neutralise_markers(annotate(c, skip))
        parts.append(f"{sentence} [{n}]")
    answer = Answer(question, " ".join(parts), True, tuple(citations), extra)
    if chosen:
        event = answer_event(answer, qtime)
        extra["event"] = event.to_dict() if event else None
    return answer


def _scored(question: str, cands: list[Candidate], qvec: np.ndarray, encoder: Any, qtime: QuestionTime, shortlist: int) -> list[Candidate]:
    """The candidates scored with their own sentence vectors: the best ``shortlist`` of them by a
    cheap first pass (encoding every sentence of 8 passages costs ~0.5 s on 2 cores)."""
    if len(cands) > shortlist:
        score_candidates(question, qvec, cands, None, qtime)
        cands = sorted(cands, key=lambda c: c.score, reverse=True)[:shortlist]
    score_candidates(question, qvec, cands, encoder.encode([c.text for c in cands]), qtime)
    return cands


def _citation(n: int, c: Candidate) -> Citation:
    p = c.passage
    return Citation(n, c.text, p.text, p.doc_id, p.title, p.url, p.source, p.published_at, c.start, c.end)


def nothing_in_window(
    question: str,
    outside: list[Candidate],
    qvec: np.ndarray,
    encoder: Any,
    qtime: QuestionTime,
    extra: dict[str, Any],
    shortlist: int,
) -> Answer:
    """No relevant evidence from the question's window: say so plainly, and show the most recent
    relevant sentence qa has (of those nearly as good as the best), with its date — never as the
    answer (``answered`` is false)."""
    window = qtime.evidence
    assert window is not None
    head = f"Nothing in the indexed articles published {window.label} answers that."
    extra = {**extra, "nothing_in_window": True}
    if not outside:
        return Answer(question, head, False, (), extra)
    cands = _scored(question, outside, qvec, encoder, replace(qtime, evidence=None), shortlist)
    best = max(c.score for c in cands)
    near = [c for c in cands if c.score >= best - NEAR_BEST]
    latest = max(near, key=lambda c: (c.passage.published_at or date.min, c.score))
    when = latest.passage.published_at
    dated = f"from {format_day(when)}" if when else "undated"
    text = f"{head} The most recent relevant article is {dated}: {neutralise_markers(annotate(latest))} [1]"
    return Answer(question, text, False, (_citation(1, latest),), extra)
