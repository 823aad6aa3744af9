"""An extractive answer led by its short answer and the date of the news that says it: "Buffalo
Bills (reported Monday 6 February 2023) [1]: <the sentence that says it> [1] <the other sentences> [2] …".

The sentence holding the short answer becomes citation 1 (the other citations renumbered after
it), so the short answer's span always lies inside citation 1's quote. "When" questions keep the
extractive answer's dated lead ("On Saturday 15 November 2025 [1]: …"): their short answer is
that date (``qa.temporal.answer_event``), its span the date expression in citation 1. With no
confident short answer the extractive answer is returned as it was, with the reason.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from qa.answer.extractive import Candidate, annotate, sentence_date
from qa.answer.judge import threshold
from qa.answer.qtype import question_type
from qa.answer.short import Reading, Winner, read, winner
from qa.answer.spans import Analyzer, date_label, date_span
from qa.answer.verify import neutralise_markers
from qa.temporal import answer_event, find_time_mentions
from qa.text import normalize_answer
from qa.types import Answer, Citation, Passage, ShortAnswer

if TYPE_CHECKING:
    from qa.settings import Settings
    from qa.temporal import QuestionTime

NOT_CONFIDENT = "no confident short answer"
NOT_SHORT = "the question does not ask for a short answer (a choice among options, true or false, why)"
DISABLED = "short answers are off (short_answer_pipeline is empty)"

_SEGMENT = re.compile(r"\s*(.*?)\s*\[(\d+)\](:?)", re.S)


def with_short_answer(
    answer: Answer,
    question: str,
    relevant: list[Passage],
    qtime: QuestionTime,
    settings: Settings,
    analyzer: Analyzer | None,
) -> Answer:
    """``answer`` (extractive, from ``relevant``) led by its short answer when the reader is
    confident; otherwise unchanged, with ``extra["short_answer_reason"]``."""
    if not answer.answered or not answer.citations:
        return answer
    if analyzer is None:
        return _without(answer, DISABLED)
    qtype = question_type(question)
    if not qtype.answerable:
        return _without(answer, NOT_SHORT)
    quoted = [(c.doc_id, c.start, c.end) for c in answer.citations]
    reading = read(question, relevant, qtime, settings, analyzer, qtype=qtype, quoted=quoted)
    if qtime.asks_when:
        return _dated(answer, reading, qtime, threshold(settings, judged=False))
    best = winner(reading, threshold(settings, reading.judged))
    if best is None:
        return _without(_quoting_likeliest(answer, reading, settings.answer_sentences), NOT_CONFIDENT)
    return _led(answer, best, settings.answer_sentences, qtime)


def _without(answer: Answer, reason: str) -> Answer:
    return replace(answer, extra={**answer.extra, "short_answer_reason": reason})


def _quoting_likeliest(answer: Answer, reading: Reading, max_sentences: int) -> Answer:
    """With no confident short answer, the sentences that may answer include the one holding the
    reader's best-supported candidate (in place of the last quoted sentence), never named as the
    answer: the answers then hold the gold answer for 0.356 of the development set's January–March
    questions instead of 0.333, April–June 0.262 instead of 0.243 (bench/README.md, "Which
    sentences are quoted")."""
    if not reading.candidates or max_sentences < 2:  # citation 1, the dated lead's, stays
        return answer
    occ = reading.candidates[0].best
    s, e = occ.sentence
    if any(c.doc_id == occ.passage.doc_id and c.start <= s and e <= c.end for c in answer.citations):
        return answer
    segments = _segments(answer.answer)
    kept = segments[: max_sentences - 1]
    first, body = _quote(occ.passage, occ.sentence)
    by_n = {c.n: c for c in answer.citations}
    citations = [by_n[n] for _, n in kept] + [replace(first, n=len(kept) + 1)]
    lead = answer.answer[: answer.answer.index("[1]:") + 4] if "[1]:" in answer.answer else ""
    parts = ([lead] if lead else []) + [f"{b} [{n}]" for b, n in kept] + [f"{body} [{len(kept) + 1}]"]
    return replace(answer, answer=" ".join(parts), citations=tuple(citations))


def _segments(text: str) -> list[tuple[str, int]]:
    """An extractive answer's quoted sentences and their citation numbers, in order (its lead,
    "… [1]:", left out)."""
    return [(m.group(1), int(m.group(2))) for m in _SEGMENT.finditer(text) if not m.group(3)]


def _quote(p: Passage, sentence: tuple[int, int]) -> tuple[Citation, str]:
    """A citation (numbered 0) of the sentence at article offsets ``sentence`` of ``p``, and the
    sentence as the answer shows it (dates annotated, markers neutralised)."""
    s, e = sentence
    text = p.text[s - p.start : e - p.start]
    body = neutralise_markers(annotate(Candidate(p, s, e, text, find_time_mentions(text, p.published_at))))
    return Citation(0, text, p.text, p.doc_id, p.title, p.url, p.source, p.published_at, s, e), body


def _dated(answer: Answer, reading: Reading, qtime: QuestionTime, threshold: float) -> Answer:
    """A "when" answer keeps its dated lead; its short answer is the lead's date, spanned in
    citation 1, as confident as the reader's votes for that date."""
    event = answer_event(answer, qtime)
    first = answer.citations[0]
    mention = next(
        (m for m in find_time_mentions(first.quote, first.published_at)
         if event is not None and m.first == event.first and m.last == event.last and not m.is_bound),
        None,
    )
    if event is None or mention is None:
        return _without(answer, NOT_CONFIDENT)
    label = date_label(mention.first, mention.last, mention.granularity)
    key = normalize_answer(label)
    # the lead's date against the reader's best-supported date: which of several dates a "last"
    # or "before that" question wants is the lead's rule (qa.temporal), not a vote, nor the
    # judge's pick among the dates (its probabilities are not what this threshold was chosen on)
    top = max((c.score for c in reading.candidates), default=0.0)
    votes = next((c.score for c in reading.candidates if c.key == key), 0.0)
    confidence = min(1.0, votes / top) if top > 0 else 0.0
    if confidence < threshold:
        return _without(answer, NOT_CONFIDENT)
    s, e = date_span(first.quote, mention)
    short = ShortAnswer(label, "date", round(confidence, 3), 1, first.start + s, first.start + e)
    return replace(answer, short_answer=short)


def _led(answer: Answer, best: Winner, max_sentences: int, qtime: QuestionTime) -> Answer:
    """The answer's sentences with the one holding ``best`` first, led by ``best`` and the date
    of the news that sentence reports ("Harbour City FC (reported Monday 10 March 2025) [1]: …"):
    an old story is never mistaken for this week's."""
    segments = _segments(answer.answer)
    by_n = {c.n: c for c in answer.citations}
    holding = next(
        (c for c in answer.citations
         if c.doc_id == best.passage.doc_id and c.start <= best.start and best.end <= c.end),
        None,
    )
    if holding is not None:
        first_body = next(body for body, n in segments if n == holding.n)
        first = holding
    else:
        first, first_body = _quote(best.passage, best.sentence)
    rest = [(body, n) for body, n in segments if holding is None or n != holding.n][: max_sentences - 1]
    citations = [replace(first, n=1)] + [replace(by_n[n], n=i) for i, (_, n) in enumerate(rest, 2)]
    when, _ = sentence_date(find_time_mentions(first.quote, first.published_at), first.published_at, qtime)
    dated = f" ({when[:1].lower()}{when[1:]})" if when else ""
    parts = [f"{best.text}{dated} [1]:", f"{first_body} [1]"] + [f"{body} [{i}]" for i, (body, _) in enumerate(rest, 2)]
    short = ShortAnswer(best.text, best.kind, round(best.confidence, 3), 1, best.start, best.end)
    return replace(answer, answer=" ".join(parts), citations=tuple(citations), short_answer=short)
