"""The learned ranker inside retrieval, on a real index (samples/, real model, on-disk Chroma):
on (the default), the shipped model re-orders the fused pool by its scores, the same way every
time; turned off, or without a model file, qa keeps the fusion's order."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from qa.assistant import Assistant
from qa.rank.features import extract
from qa.rank.model import load
from qa.retrieve import Retriever, SearchFilters, cap_per_document
from qa.settings import Settings
from qa.temporal import question_time
from qa.types import Passage

AS_OF = date(2025, 3, 10)
QUESTIONS = [
    "Who won the national cup?",
    "When did Varga and Hale last speak?",
    "What opened in the museum's east wing?",
    "What happened to the riverside tram line this week?",
    "news",
]


def _search(index: Path, question: str, **settings: object) -> list[str]:
    s = Settings(index=index, **settings)
    with Assistant(s).reading() as reader:
        passages, _ = Retriever(reader, s).search(
            question, 10, SearchFilters(as_of=AS_OF), question_time(question, AS_OF)
        )
    return [p.chunk_id for p in passages]


def _fusion_and_model_orders(index: Path, question: str) -> tuple[list[str], list[str]]:
    """Today's order and the shipped model's order of the same pool, both capped to the top 10."""
    s = Settings(index=index)
    qtime = question_time(question, AS_OF)
    with Assistant(s).reading() as reader:
        text, scored, _ = Retriever(reader, s).pool(question, 10, SearchFilters(as_of=AS_OF), qtime)
    cands = [c for _, c in scored]
    model = load()
    assert model is not None
    order = np.argsort(-model.predict(extract(text, qtime, cands)), kind="stable")

    def capped(seq: list) -> list[str]:
        passages = [Passage(c.chunk_id, c.text, c.record, 0.0) for c in seq]
        return [p.chunk_id for p in cap_per_document(passages, s.per_doc_cap, 10)]

    return capped(cands), capped([cands[i] for i in order])


def test_the_shipped_ranker_orders_the_pool_by_its_scores_deterministically(sample_index: Path) -> None:
    changed = 0
    for q in QUESTIONS:
        fusion, ranked = _fusion_and_model_orders(sample_index, q)
        first, second = _search(sample_index, q, learned_ranking=True), _search(sample_index, q, learned_ranking=True)
        assert first == second == ranked, q
        changed += fusion != ranked
    assert changed, "the model never changed the fusion's order on any question"


def test_turned_off_retrieval_keeps_the_fusion_order(sample_index: Path) -> None:
    for q in QUESTIONS:
        fusion, _ = _fusion_and_model_orders(sample_index, q)
        assert _search(sample_index, q, learned_ranking=False) == fusion, q
        assert _search(sample_index, q) == _search(sample_index, q, learned_ranking=True), q  # on by default


def test_without_a_model_file_retrieval_falls_back_to_the_fusion(sample_index: Path, tmp_path: Path) -> None:
    for q in QUESTIONS:
        fusion, _ = _fusion_and_model_orders(sample_index, q)
        assert _search(sample_index, q, learned_ranking=True, rank_model=tmp_path / "no-such-model.json") == fusion, q


def test_the_setting_reaches_retrieval_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings(index=tmp_path).learned_ranking is True
    monkeypatch.setenv("QA_LEARNED_RANKING", "false")
    monkeypatch.setenv("QA_RANK_MODEL", str(tmp_path / "m.json"))
    s = Settings(index=tmp_path)
    assert s.learned_ranking is False and s.rank_model == tmp_path / "m.json"
