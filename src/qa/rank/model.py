"""The learned ranker's model file: read, checked and evaluated with numpy alone.

The file is JSON (``ranker.json`` beside this module): the feature names it was trained on, the
model, and its training figures. Two kinds:

- ``trees``: a LightGBM LambdaRank ensemble, flattened into node arrays (``from_lightgbm``), so
  ranking needs no LightGBM at run time (it is needed only to train: ``bench/train_ranker.py``).
- ``linear``: standardised coefficients.

Either may start from today's order: ``base_weight`` × the ``fused_rank`` feature is added to the
model's output (the trees were boosted from that score), so an empty model is the fusion and the
learned part is a correction to it.

A file that is missing, unreadable, or made for other features is no model: qa then keeps the
fusion's order (``load`` returns None and says why once).
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.rank.features import FEATURES

FORMAT = "qa-ranker"
VERSION = 1
SHIPPED = Path(__file__).with_name("ranker.json")

log = logging.getLogger("qa.rank")


class RankModel(Protocol):
    def predict(self, X: np.ndarray) -> np.ndarray: ...


_FUSED_RANK = FEATURES.index("fused_rank")


def base_score(X: np.ndarray, weight: float) -> np.ndarray:
    """The score boosting starts from: today's place, -weight × log2(1 + rank)."""
    return -weight * np.asarray(X, dtype=np.float64)[:, _FUSED_RANK] if weight else np.zeros(len(X))


class TreeEnsemble:
    """Sum of regression trees; node ``i`` splits on ``feature[i]`` (go left when the value is
    <= ``threshold[i]``) or is a leaf (``feature[i] == -1``, both children itself)."""

    def __init__(self, roots: list[int], feature: list[int], threshold: list[float],
                 left: list[int], right: list[int], value: list[float], depth: int, base_weight: float = 0.0):
        self.base_weight = float(base_weight)
        self.roots = np.asarray(roots, dtype=np.int64)
        self.feature = np.asarray(feature, dtype=np.int64)
        self.threshold = np.asarray(threshold, dtype=np.float64)
        self.left = np.asarray(left, dtype=np.int64)
        self.right = np.asarray(right, dtype=np.int64)
        self.value = np.asarray(value, dtype=np.float64)
        self.depth = int(depth)
        self._split_feature = np.maximum(self.feature, 0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        if n == 0:
            return np.zeros(0)
        rows = np.arange(n)[None, :]
        node = np.repeat(self.roots[:, None], n, axis=1)
        for _ in range(self.depth):
            x = X[rows, self._split_feature[node]]
            node = np.where(x <= self.threshold[node], self.left[node], self.right[node])
        return base_score(X, self.base_weight) + self.value[node].sum(axis=0)

    def to_dict(self) -> dict[str, Any]:
        return {"roots": self.roots.tolist(), "feature": self.feature.tolist(),
                "threshold": self.threshold.tolist(), "left": self.left.tolist(),
                "right": self.right.tolist(), "value": self.value.tolist(), "depth": self.depth,
                "base_weight": self.base_weight}


class LinearModel:
    def __init__(self, mean: list[float], scale: list[float], coef: list[float], intercept: float = 0.0,
                 base_weight: float = 0.0):
        self.base_weight = float(base_weight)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return base_score(X, self.base_weight) + ((X - self.mean) / self.scale) @ self.coef + self.intercept

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept, "base_weight": self.base_weight}


def from_lightgbm(dump: dict[str, Any], base_weight: float = 0.0) -> TreeEnsemble:
    """Flatten ``lightgbm.Booster.dump_model()`` (numerical splits, no missing-value routing:
    qa's features are never NaN); ``base_weight``: the init score it was boosted from."""
    roots: list[int] = []
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[float] = []
    depth = 0

    def add(node: dict[str, Any], level: int) -> int:
        nonlocal depth
        i = len(feature)
        feature.append(-1)
        threshold.append(0.0)
        left.append(i)
        right.append(i)
        value.append(0.0)
        if "leaf_value" in node:
            value[i] = float(node["leaf_value"])
            depth = max(depth, level)
            return i
        if node.get("decision_type", "<=") != "<=":
            raise ValueError(f"unsupported split {node.get('decision_type')!r} (numerical splits only)")
        feature[i] = int(node["split_feature"])
        threshold[i] = float(node["threshold"])
        left[i] = add(node["left_child"], level + 1)
        right[i] = add(node["right_child"], level + 1)
        return i

    for tree in dump["tree_info"]:
        roots.append(add(tree["tree_structure"], 0))
    return TreeEnsemble(roots, feature, threshold, left, right, value, depth, base_weight)


def model_file(kind: str, model: TreeEnsemble | LinearModel, training: dict[str, Any]) -> dict[str, Any]:
    """The JSON a model is shipped as (see ``load``)."""
    return {"format": FORMAT, "version": VERSION, "kind": kind, "features": list(FEATURES),
            "model": model.to_dict(), "training": training}


def parse(data: dict[str, Any]) -> RankModel:
    """The model in a parsed model file; ValueError when it is not one qa can use."""
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"not a {FORMAT} v{VERSION} file")
    if list(data.get("features", [])) != list(FEATURES):
        raise ValueError("trained on other features than this qa computes (retrain: bench/train_ranker.py)")
    kind, m = data.get("kind"), data["model"]
    if kind == "trees":
        return TreeEnsemble(m["roots"], m["feature"], m["threshold"], m["left"], m["right"], m["value"], m["depth"],
                            m.get("base_weight", 0.0))
    if kind == "linear":
        return LinearModel(m["mean"], m["scale"], m["coef"], m.get("intercept", 0.0), m.get("base_weight", 0.0))
    raise ValueError(f"unknown model kind {kind!r}")


@lru_cache(maxsize=4)
def load(path: str | None = None) -> RankModel | None:
    """The model at ``path`` (default: the shipped one), read once per process; None (and one
    warning, unless it is the shipped file that is absent) when there is none qa can use."""
    where = Path(path) if path else SHIPPED
    try:
        return parse(json.loads(where.read_text(encoding="utf-8")))
    except FileNotFoundError:
        if path:
            log.warning("learned ranker %s: no such file; using the fusion's order", where)
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("learned ranker %s: %s; using the fusion's order", where, e)
        return None
