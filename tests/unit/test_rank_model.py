"""The learned ranker's model file: numpy evaluation equals LightGBM's, the shipped file loads,
and anything that is not a usable model is refused (qa then keeps the fusion's order)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from qa.rank.features import FEATURES
from qa.rank.model import SHIPPED, LinearModel, from_lightgbm, load, model_file, parse


def _ranking_data(seed: int = 3) -> tuple[np.ndarray, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    groups = [int(g) for g in rng.integers(5, 30, size=40)]
    X = rng.normal(size=(sum(groups), len(FEATURES))).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 3] - X[:, 7] + rng.normal(scale=0.5, size=len(X)) > 1.2).astype(int)
    return X, y, groups


def test_numpy_trees_score_exactly_as_lightgbm() -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y, groups = _ranking_data()
    booster = lgb.train(
        {"objective": "lambdarank", "num_leaves": 15, "min_data_in_leaf": 5, "verbose": -1,
         "use_missing": False, "num_threads": 1, "deterministic": True},
        lgb.Dataset(X, y, group=groups),
        num_boost_round=40,
    )
    trees = from_lightgbm(booster.dump_model())
    probe = np.random.default_rng(9).normal(size=(200, len(FEATURES))).astype(np.float32)
    assert np.allclose(trees.predict(probe), booster.predict(probe), atol=1e-9)
    assert np.allclose(trees.predict(X), booster.predict(X), atol=1e-9)
    # through the file format too
    again = parse(json.loads(json.dumps(model_file("trees", trees, {}))))
    assert np.array_equal(again.predict(probe), trees.predict(probe))


def test_linear_model_standardises_then_weighs() -> None:
    m = LinearModel(mean=[1.0] * len(FEATURES), scale=[2.0] * len(FEATURES),
                    coef=[1.0] + [0.0] * (len(FEATURES) - 1))
    X = np.zeros((2, len(FEATURES)))
    X[0, 0], X[1, 0] = 5.0, -1.0
    assert m.predict(X).tolist() == [2.0, -1.0]


def test_the_shipped_model_loads_and_was_trained_on_these_features() -> None:
    data = json.loads(SHIPPED.read_text())
    assert data["features"] == list(FEATURES)
    assert SHIPPED.stat().st_size < 500_000  # kilobytes, not a neural network
    model = load()
    assert model is not None
    X = np.random.default_rng(0).normal(size=(30, len(FEATURES)))
    s = model.predict(X)
    assert s.shape == (30,) and np.isfinite(s).all() and np.ptp(s) > 0
    assert "label_noise" in data["training"] and "cross_validation" in data["training"]


@pytest.mark.parametrize(
    "content, why",
    [
        ("{not json", "Expecting"),
        (json.dumps({"format": "other", "version": 1}), "not a qa-ranker"),
        (json.dumps({"format": "qa-ranker", "version": 1, "kind": "trees", "features": ["dense_sim"], "model": {}}),
         "other features"),
        (json.dumps({"format": "qa-ranker", "version": 1, "kind": "forest", "features": list(FEATURES), "model": {}}),
         "unknown model kind"),
    ],
)
def test_an_unusable_model_file_is_no_model_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str, why: str
) -> None:
    path = tmp_path / f"bad-{abs(hash(content))}.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="qa.rank"):
        assert load(str(path)) is None
    assert why in caplog.text and str(path) in caplog.text


def test_a_missing_model_file_is_no_model(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="qa.rank"):
        assert load(str(tmp_path / "absent.json")) is None
    assert "no such file" in caplog.text


def test_a_model_boosted_from_todays_order_adds_the_fused_place() -> None:
    from qa.rank.model import TreeEnsemble

    col = FEATURES.index("fused_rank")
    X = np.zeros((4, len(FEATURES)))
    X[:, col] = np.log2(2 + np.arange(4))
    empty = TreeEnsemble([0], [-1], [0.0], [0], [0], [0.0], 0, base_weight=2.0)
    assert np.argsort(-empty.predict(X)).tolist() == [0, 1, 2, 3]  # no trees: today's order
    assert empty.predict(X)[1] == pytest.approx(-2.0 * np.log2(3))
    # one stump that lifts the last candidate above all
    X[3, 0] = 1.0
    stump = TreeEnsemble([0], [0, -1, -1], [0.5, 0.0, 0.0], [1, 1, 2], [2, 1, 2], [0.0, 0.0, 10.0], 1, base_weight=2.0)
    assert np.argsort(-stump.predict(X)).tolist() == [3, 0, 1, 2]
