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
    from qa.types import Answer
    from qa.ingest import Progress

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


def load_questions(path: Path, limit: int | None = None) -> list[Question]:
    out: list[Question] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                out.append(Question(str(rec.get("id", lineno)), rec["question"], rec["answer"], parse_date(rec["asked_on"])))  # type: ignore[arg-type]
            except (KeyError, ValueError, TypeError) as e:
                raise UsageError(f"{path}:{lineno}: bad question record ({e})") from None
    return out[:limit] if limit else out


@dataclass
class Tally:
    n: int = 0
    hits: dict[int, int] = field(default_factory=lambda: {k: 0 for k in KS})
    rr: float = 0.0
    answer_hits: int = 0
    ceiling: int = 0
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

    def add(self, rank: int | None, answered_right: bool, in_corpus: bool) -> None:
        self.n += 1
        for k in KS:
            if rank is not None and rank <= k:
                self.hits[k] += 1
        if rank is not None and rank <= 10:
            self.rr += 1.0 / rank
        self.answer_hits += answered_right
        self.ceiling += in_corpus

    def row(self) -> dict[str, Any]:
        n = max(self.n, 1)
        return {
            "questions": self.n,
            **{f"recall@{k}": round(self.hits[k] / n, 4) for k in KS},
            "mrr@10": round(self.rr / n, 4),
            "answer_contains_gold": round(self.answer_hits / n, 4),
            "ceiling": round(self.ceiling / n, 4),
            "short_exact_match": round(self.short_em / n, 4),
            "short_f1": round(self.short_f1 / n, 4),
            "short_answered": round(self.short_answered / n, 4),
            "short_accuracy_answered": round(self.short_em / max(self.short_answered, 1), 4),
        }


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
    search: Callable[[Question, int], list[str]],
    answer: Callable[[Question], Answer | str] | None,
    corpus: CorpusIndex,
    *,
    k: int = 10,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    overall = Tally()
    by_month: dict[str, Tally] = defaultdict(Tally)
    latencies: list[float] = []
    for i, q in enumerate(questions):
        t0 = time.perf_counter()
        texts = search(q, max(k, 10))
        latencies.append(time.perf_counter() - t0)
        rank = first_hit(q.answer, texts[:k])
        right, short = False, None
        if answer is not None:
            got = answer(q)
            text = got if isinstance(got, str) else got.answer
            right = first_hit(q.answer, [text]) is not None
            if not isinstance(got, str) and got.short_answer is not None:
                short = got.short_answer.text
        inside = q.answer in corpus
        for tally in (overall, by_month[q.month]):
            tally.add(rank, right, inside)
            tally.add_short(short, q.answer)
        if progress:
            progress(i + 1)
    latencies.sort()
    return {
        "overall": overall.row(),
        "by_month": {m: by_month[m].row() for m in sorted(by_month)},
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
    corpus = CorpusIndex(a.text for a in bot.articles())

    def search(q: Question, n: int) -> list[str]:
        return [p.text for p in bot.search(q.question, n, as_of=q.asked_on)]

    def answer(q: Question) -> Answer:
        return bot.ask(q.question, as_of=q.asked_on)

    result = evaluate(questions, search, answer if with_answers else None, corpus, k=k)
    result["index"] = {"documents": report.documents, "chunks": report.chunks, "ingest_seconds": round(ingest_s, 1)}
    result["k"] = k
    return result
