"""The short-answer judge: how likely each of the reader's candidates is to be the answer.

The reader (``qa.answer.short``) finds candidate spans and votes on them by hand-set rules. Its
vote share is a poor confidence: on the development set's January–March, accuracy when answered
stayed at 0.42–0.49 whatever the threshold. The judge is a small model over what the reader
knows of each candidate (its votes and their share, how many articles and sentences carry it,
the best passage's rank and time prior, its type fit, closeness to the question's words, whether
the extractive answer quotes it, its shape), trained on the 2024 training set only
(``bench/short_answers.py --train-judge``) with "is this candidate the gold answer" as the label, and
shipped as ``judge.json`` beside this module (kilobytes, evaluated with numpy). Its output is a
probability: the candidates are re-ordered by it and the winner's probability is the confidence
the ``short_answer_threshold`` setting is compared with.

Without a usable model file (or with ``short_answer_judge`` off) the reader's own vote share is
the confidence, against its own default threshold (``threshold``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.answer.short import NUMERIC_LABELS, WEIGHTS, Reading, form_words, heads_match
from qa.answer.spans import NOUN_PHRASE
from qa.modelfile import Model, ModelFile

if TYPE_CHECKING:
    from qa.settings import AnswerSettings

TOP = 15  # candidates judged per question: the reader's best by votes

_KIND_GROUP = {"thing": 0, "number": 2, "money": 2, "percent": 2, "quantity": 2, "duration": 2, "date": 3}

FEATURES: tuple[str, ...] = (
    "log_votes", "share_of_top5", "votes_vs_top", "votes_vs_next", "rank",
    "articles", "occurrences", "best_passage_rank", "mean_passage_rank",
    "overlap", "closeness", "fit", "type_match", "named", "quoted", "quoted_first",
    "prior", "words", "chars", "is_entity", "is_noun_phrase", "is_numeric", "capitalised",
    "has_digit", "kind_thing", "kind_entity", "kind_number", "kind_date", "head_match",
    "top_share", "inside_longer", "holds_shorter", "part_of_same_kind", "all_caps", "is_outlet",
)


JUDGE = ModelFile(
    "qa-short-answer-judge", 1, FEATURES, Path(__file__).with_name("judge.json"),
    what="short-answer judge", fallback="using the reader's votes",
    retrain="bench/short_answers.py --train-judge", logger="qa.answer",
)


def features(reading: Reading, top: int = TOP) -> np.ndarray:
    """One row per candidate of ``reading`` (its first ``top``), columns ``FEATURES``."""
    cands = reading.candidates[:top]
    if not cands:
        return np.zeros((0, len(FEATURES)))
    scores = [c.score for c in reading.candidates]
    top5 = sum(scores[:5]) or 1.0
    best = scores[0] or 1.0
    same_doc = WEIGHTS.same_doc
    group = _KIND_GROUP.get(reading.qtype.kind, 1)
    forms = [form_words(c.key) for c in reading.candidates[:50]]  # "Harvard" in "Harvard University"
    labels = [c.best.span.label for c in reading.candidates[:50]]
    rows = []
    for i, c in enumerate(cands):
        occs = c.occurrences
        o = c.best
        docs = {x.passage.doc_id for x in occs + c.absorbed}
        nxt = scores[i + 1] if i + 1 < len(scores) else 0.0
        label = o.span.label
        text = o.text
        rows.append([
            math.log(max(c.score, 1e-9)),
            c.score / top5,
            c.score / best,
            math.log((c.score + 1e-6) / (nxt + 1e-6)),
            math.log1p(i),
            len(docs),
            math.log1p(_damped(occs, same_doc)),
            min(x.rank for x in occs),
            sum(x.rank for x in occs) / len(occs),
            max(x.overlap for x in occs),
            max(x.close for x in occs),
            max(x.fit for x in occs),
            float(label in reading.qtype.labels),
            min(x.named for x in occs),
            max(x.quoted for x in occs),
            float(any(x.quoted_rank == 0 for x in occs)),
            max(x.prior for x in occs),
            len(c.key.split()),
            math.log1p(len(c.key)),
            float(label not in NUMERIC_LABELS and label != NOUN_PHRASE),
            float(label == NOUN_PHRASE),
            float(label in NUMERIC_LABELS),
            float(text[:1].isupper()),
            float(any(ch.isdigit() for ch in text)),
            float(group == 0), float(group == 1), float(group == 2), float(group == 3),
            float(heads_match(reading.qtype, o.span)),
            scores[0] / top5,
            float(sum(1 for f in forms if forms[i] and f and forms[i] < f)),
            float(sum(1 for f in forms if forms[i] and f and f < forms[i])),
            # "Paltrow" beside "Gwyneth Paltrow", both PERSON: a part of a name
            float(any(forms[i] and f and forms[i] < f and lab == label for f, lab in zip(forms, labels))),
            float(sum(ch.isalpha() for ch in text) >= 2 and text.isupper()),  # datelines: "WASHINGTON –"
            float(any(_is_outlet(c.key, x.passage.source) for x in occs)),  # "USA TODAY" in its own story
        ])
    return np.asarray(rows, dtype=np.float64)


def _damped(occs: list, same_doc: float) -> float:
    """Occurrences counted as the reader's votes count them: an article's first in full, its
    repeats at ``same_doc`` each, so one article saying a thing five times is not five sources."""
    per_doc: dict[str, int] = {}
    for o in occs:
        per_doc[o.passage.doc_id] = per_doc.get(o.passage.doc_id, 0) + 1
    return sum(1 + same_doc * (n - 1) for n in per_doc.values())


def _is_outlet(key: str, source: str) -> bool:
    """The candidate names the outlet that published it ("usa today" in www.usatoday.com)."""
    compact = key.replace(" ", "")
    return len(compact) >= 3 and compact in {part.replace("-", "") for part in source.lower().split(".")}


def probabilities(model: Model, X: np.ndarray) -> np.ndarray:
    """The logistic of the model's score (as tanh: no overflow for scores far from 0)."""
    return 0.5 * (1.0 + np.tanh(0.5 * model.predict(X)))


def judge(reading: Reading, model: Model) -> Reading:
    """``reading`` with its first ``TOP`` candidates re-ordered by the model and each given its
    probability (``Candidate.probability``); the rest keep their order, after them."""
    head = reading.candidates[:TOP]
    if not head:
        return reading
    p = probabilities(model, features(reading))
    for c, prob in zip(head, p):
        c.probability = float(prob)
    order = np.argsort(-p, kind="stable")
    return Reading(reading.qtype, [head[i] for i in order] + reading.candidates[TOP:], judged=True)


JUDGED_THRESHOLD = 0.29  # the judge's probability (chosen on the development set's Jan–Mar: bench/README.md)
VOTES_THRESHOLD = 0.5  # the reader's vote share, without the judge or for a "when" question's date


def threshold(settings: AnswerSettings, judged: bool) -> float:
    """The confidence a short answer needs: the setting, else the default for that confidence."""
    if settings.short_answer_threshold is not None:
        return settings.short_answer_threshold
    return JUDGED_THRESHOLD if judged else VOTES_THRESHOLD


def model_for(settings: AnswerSettings) -> Model | None:
    """The judge ``settings`` ask for, or None (off, or no usable model file)."""
    if not settings.short_answer_judge:
        return None
    return JUDGE.load(str(settings.short_answer_judge_model) if settings.short_answer_judge_model else None)
