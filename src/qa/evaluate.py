"""`qa eval`: retrieval and answer quality on a dated question set (realtimeqa format).

Every question is asked as of its ``asked_on`` date, so articles published later are invisible,
as they would have been on that day. A passage "holds the answer" when the normalised gold
answer occurs in it.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.dates import parse_date
from qa.errors import UsageError
from qa.text import normalize_answer

if TYPE_CHECKING:
    from qa.assistant import Assistant
    from qa.ingest import Progress
    from qa.types import Answer, Passage

KS = (1, 5, 10)


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str
    asked_on: date

    @property
    def month(self) -> str:
        return self.asked_on.strftime("%Y-%m")

    @property
    def quarter(self) -> str:
        return f"{self.asked_on.year}-Q{(self.asked_on.month - 1) // 3 + 1}"


def load_questions(path: Path, limit: int | None = None) -> list[Question]:
    """The questions of a dataset's questions.jsonl; anything wrong with the file or a line stops
    the run with one UsageError naming the file (and the line, and the field)."""
    out: list[Question] = []
    try:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                try:
                    out.append(_question(json.loads(raw.decode("utf-8")), lineno))
                except UnicodeDecodeError as e:
                    raise UsageError(f"{path}:{lineno}: bad question record (not valid UTF-8 text, byte {e.start + 1})") from None
                except (KeyError, ValueError, TypeError) as e:
                    raise UsageError(f"{path}:{lineno}: bad question record ({e})") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None
    if not out:
        raise UsageError(f"{path}: no questions (one JSON object a line: question, answer, asked_on)")
    return out[:limit] if limit else out


def _question(rec: object, lineno: int) -> Question:
    """One line's record as a Question; KeyError/ValueError/TypeError saying what is wrong."""
    if not isinstance(rec, dict):
        raise TypeError(f"not a JSON object but {type(rec).__name__}")
    for name in ("question", "answer", "asked_on"):
        if name not in rec:
            raise ValueError(f"missing field {name!r}")
    for name in ("question", "answer"):
        if not isinstance(rec[name], str) or not rec[name].strip():
            raise ValueError(f"field {name!r} is not a non-empty text")
    try:
        asked_on = parse_date(rec["asked_on"])
    except ValueError as e:
        raise ValueError(f"field 'asked_on': {e}") from None
    if asked_on is None:
        raise ValueError("field 'asked_on' is empty")
    qid = rec.get("id", lineno)
    if isinstance(qid, bool) or not isinstance(qid, (str, int)):
        raise ValueError("field 'id' is not a text or a number")
    return Question(str(qid), rec["question"], rec["answer"], asked_on)


@dataclass
class Tally:
    n: int = 0
    hits: dict[int, int] = field(default_factory=lambda: {k: 0 for k in KS})
    rr: float = 0.0
    answered: int = 0
    answer_hits: int = 0
    ceiling: int = 0
    # questions with an explicit time cue ("this week", "recently", "in October"): QuestionTime.evidence
    cued: int = 0
    cued_top_in_window: int = 0
    cued_answered: int = 0
    cued_citation_in_window: int = 0
    cued_nothing_in_window: int = 0
    short_answered: int = 0
    short_em: int = 0
    short_f1: float = 0.0

    def add_short(self, short: str | None, gold: str) -> None:
        """A short answer (None: qa gave none) scored against the gold answer."""
        if short is None:
            return
        self.short_answered += 1
        self.short_em += exact_match(short, gold)
        self.short_f1 += token_f1(short, gold)

    def add(self, rank: int | None, answered: bool, answered_right: bool, in_corpus: bool) -> None:
        self.n += 1
        for k in KS:
            if rank is not None and rank <= k:
                self.hits[k] += 1
        if rank is not None and rank <= 10:
            self.rr += 1.0 / rank
        self.answered += answered
        self.answer_hits += answered_right
        self.ceiling += in_corpus

    def add_cued(self, top_in_window: bool, answered: bool, citation_in_window: bool, nothing: bool) -> None:
        self.cued += 1
        self.cued_top_in_window += top_in_window
        self.cued_answered += answered
        self.cued_citation_in_window += answered and citation_in_window
        self.cued_nothing_in_window += nothing

    def row(self) -> dict[str, Any]:
        n = max(self.n, 1)
        row = {
            "questions": self.n,
            **{f"recall@{k}": round(self.hits[k] / n, 4) for k in KS},
            "mrr@10": round(self.rr / n, 4),
            "answered": round(self.answered / n, 4),
            "answer_contains_gold": round(self.answer_hits / n, 4),
            "ceiling": round(self.ceiling / n, 4),
            "short_exact_match": round(self.short_em / n, 4),
            "short_f1": round(self.short_f1 / n, 4),
            "short_answered": round(self.short_answered / n, 4),
            "short_accuracy_answered": round(self.short_em / max(self.short_answered, 1), 4),
            "cued": self.cued,
        }
        if self.cued:
            row["cued_top_in_window"] = round(self.cued_top_in_window / self.cued, 4)
            row["cued_citation_in_window"] = round(self.cued_citation_in_window / max(self.cued_answered, 1), 4)
            row["cued_nothing_in_window"] = round(self.cued_nothing_in_window / self.cued, 4)
        return row


def first_hit(gold: str, texts: Iterable[str]) -> int | None:
    g = normalize_answer(gold)
    if not g:
        return None
    for rank, text in enumerate(texts, 1):
        if f" {g} " in f" {normalize_answer(text)} ":
            return rank
    return None


def exact_match(prediction: str, gold: str) -> bool:
    """SQuAD exact match: equal after normalisation (case, accents, punctuation, articles)."""
    return bool(normalize_answer(gold)) and normalize_answer(prediction) == normalize_answer(gold)


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 between the normalised prediction and gold answer."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


class CorpusIndex:
    """Which gold answers occur anywhere in the corpus (the ceiling of any retriever)."""

    def __init__(self, texts: Iterable[str]):
        self._blob = " " + " | ".join(normalize_answer(t) for t in texts) + " "

    def __contains__(self, gold: str) -> bool:
        g = normalize_answer(gold)
        return bool(g) and f" {g} " in self._blob


def evaluate(
    questions: list[Question],
    search: Callable[[Question, int], list[Passage]],
    answer: Callable[[Question], Answer] | None,
    corpus: CorpusIndex,
    *,
    k: int = 10,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Recall of the passages, answers containing the gold answer, and — for questions with an
    explicit time cue — how often the top passage and the answer's first citation were published
    in the cue's window (``QuestionTime.evidence``: the 14 days up to the question for "this
    week", the period itself for "this month", "in October") and how often qa said it had
    nothing from that window."""
    from qa.temporal import question_time

    overall = Tally()
    by_month: dict[str, Tally] = defaultdict(Tally)
    by_quarter: dict[str, Tally] = defaultdict(Tally)
    latencies: list[float] = []
    for i, q in enumerate(questions):
        t0 = time.perf_counter()
        passages = search(q, max(k, 10))
        latencies.append(time.perf_counter() - t0)
        rank = first_hit(q.answer, [p.text for p in passages[:k]])
        reply = answer(q) if answer is not None else None
        answered = bool(reply and reply.answered)
        right = answered and first_hit(q.answer, [reply.answer]) is not None  # type: ignore[union-attr]
        inside = q.answer in corpus
        short = reply.short_answer.text if reply is not None and reply.short_answer is not None else None
        window = question_time(q.question, q.asked_on).evidence
        for tally in (overall, by_month[q.month], by_quarter[q.quarter]):
            tally.add(rank, answered, right, inside)
            tally.add_short(short, q.answer)
            if window is not None:
                top = bool(passages) and window.holds_day(passages[0].published_at)
                cited = answered and bool(reply.citations) and window.holds_day(reply.citations[0].published_at)  # type: ignore[union-attr]
                tally.add_cued(top, answered, cited, bool(reply and reply.extra.get("nothing_in_window")))
        if progress:
            progress(i + 1)
    latencies.sort()
    return {
        "overall": overall.row(),
        "by_month": {m: by_month[m].row() for m in sorted(by_month)},
        "by_quarter": {p: by_quarter[p].row() for p in sorted(by_quarter)},
        "search_ms_p50": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
        "search_ms_p95": round(1000 * latencies[int(len(latencies) * 0.95)], 1) if latencies else None,
    }


def read_dataset_articles(dataset: Path) -> Path:
    path = dataset / "articles.jsonl"
    if not path.exists():
        raise UsageError(f"{path}: no such file (a dataset folder holds articles.jsonl and questions.jsonl)")
    return path


def run_eval(
    bot: Assistant,
    dataset: Path,
    *,
    k: int = 10,
    limit: int | None = None,
    with_answers: bool = True,
    progress: Progress | None = None,
    on_question: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Index the dataset's articles with ``bot`` (incrementally: a kept --index is reused), then
    ask every question as of its date and score the passages and the extractive answers."""
    articles = read_dataset_articles(dataset)
    qpath = dataset / "questions.jsonl"
    if not qpath.exists():
        raise UsageError(f"{qpath}: no such file")
    questions = load_questions(qpath, limit)
    t0 = time.perf_counter()
    report = bot.ingest([str(articles)], progress=progress)
    ingest_s = time.perf_counter() - t0
    if report.errors:  # a dataset is scored whole or not at all: a dropped article lowers every score
        first, more = report.errors[0], len(report.errors) - 1
        also = f" (and {more} more)" if more else ""
        where = first.path if first.line is None else f"{first.path}:{first.line}"
        raise UsageError(f"{where}: {first}{also}; a dataset's articles must all be read")
    corpus = CorpusIndex(a.text for a in bot.articles())

    def search(q: Question, n: int) -> list[Passage]:
        return bot.search(q.question, n, as_of=q.asked_on)

    def answer(q: Question) -> Answer:
        return bot.ask(q.question, as_of=q.asked_on)

    total = len(questions)
    result = evaluate(questions, search, answer if with_answers else None, corpus, k=k,
                      progress=(lambda done: on_question(done, total)) if on_question else None)
    result["backend"] = bot.settings.llm if with_answers else None
    result["index"] = {"documents": report.documents, "chunks": report.chunks, "ingest_seconds": round(ingest_s, 1)}
    result["k"] = k
    result["ranking"] = bot.ranking()
    return result
