"""The learned ranker: a second stage that re-orders the fused candidates by a model trained on
news questions (``bench/train_ranker.py``) over cheap features (``features.py``); the model file
ships with qa (``ranker.json``) and is evaluated with numpy (``model.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from qa.rank.features import Candidate, extract
from qa.rank.model import load
from qa.settings import RetrievalSettings
from qa.temporal import QuestionTime

C = TypeVar("C", bound=Candidate)


def rerank(
    query: str, qtime: QuestionTime | None, scored: Sequence[tuple[float, C]], model_path: Path | None = None
) -> list[tuple[float, C]]:
    """The candidates in the model's order (ties keep today's order). Scores stay today's
    values, handed out in the new order, so whatever reads a passage's score sees the same
    scale. Without a usable model: today's order unchanged."""
    model = load(str(model_path) if model_path else None)
    if model is None or len(scored) < 2:
        return list(scored)
    cands = [c for _, c in scored]
    relevance = model.predict(extract(query, qtime, cands))
    order = np.argsort(-relevance, kind="stable")
    return [(scored[place][0], cands[i]) for place, i in enumerate(order)]


def in_use(settings: RetrievalSettings) -> bool:
    """Whether search re-orders with a learned model (on, no cross-encoder set, a usable file)."""
    return settings.learned_ranking and not settings.reranker and load(str(settings.rank_model) if settings.rank_model else None) is not None
