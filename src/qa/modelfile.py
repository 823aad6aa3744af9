"""Small learned models shipped as JSON files beside the code that uses them: the learned ranker
(``qa/rank/ranker.json``) and the short-answer judge (``qa/answer/judge.json``).

A model is a linear model over standardised features or a LightGBM ensemble flattened into node
arrays (``from_lightgbm``), so running it needs numpy alone (LightGBM or scikit-learn only to
train, in ``bench/``). One rule for every such file (``ModelFile``): it names its format, version
and the features it was trained on, and ``load`` returns a model only when the file is one qa can
evaluate — valid JSON, the right format and features, arrays of the right shapes, finite numbers.
Anything else is no model: ``load`` says why once (a warning) and returns None, and the caller
keeps its hand-set rule. A model file never crashes a question.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np


class Model(Protocol):
    def predict(self, X: np.ndarray) -> np.ndarray: ...
    def to_dict(self) -> dict[str, Any]: ...


class _Based:
    """A model that may start from a score already in the features: ``base_weight`` × minus
    column ``base_column`` (the ranker boosts from today's order, its ``fused_rank``)."""

    base_column: ClassVar[int | None] = None

    def _check_base(self, base_weight: float) -> float:
        weight = float(base_weight)
        if not np.isfinite(weight) or (weight and self.base_column is None):
            raise ValueError("base_weight needs a base column (and a finite value)")
        return weight

    def base_score(self, X: np.ndarray) -> np.ndarray:
        return base_score(X, self.base_weight, self.base_column)  # type: ignore[attr-defined]


def base_score(X: np.ndarray, weight: float, column: int | None) -> np.ndarray:
    """-weight × column ``column`` of X (zeros without a weight or a column)."""
    if not weight or column is None:
        return np.zeros(len(X))
    return -weight * np.asarray(X, dtype=np.float64)[:, column]


class TreeEnsemble(_Based):
    """Sum of regression trees; node ``i`` splits on ``feature[i]`` (go left when the value is
    <= ``threshold[i]``) or is a leaf (``feature[i] == -1``, both children itself)."""

    def __init__(self, roots: list[int], feature: list[int], threshold: list[float],
                 left: list[int], right: list[int], value: list[float], depth: int, base_weight: float = 0.0):
        self.base_weight = self._check_base(base_weight)
        self.roots = np.asarray(roots, dtype=np.int64)
        self.feature = np.asarray(feature, dtype=np.int64)
        self.threshold = np.asarray(threshold, dtype=np.float64)
        self.left = np.asarray(left, dtype=np.int64)
        self.right = np.asarray(right, dtype=np.int64)
        self.value = np.asarray(value, dtype=np.float64)
        self.depth = int(depth)
        self._split_feature = np.maximum(self.feature, 0)

    def check(self, n_features: int) -> None:
        """ValueError unless the arrays describe trees over ``n_features`` columns."""
        nodes = len(self.feature)
        arrays = (self.threshold, self.left, self.right, self.value)
        if self.roots.ndim != 1 or any(a.ndim != 1 or len(a) != nodes for a in (self.feature, *arrays)):
            raise ValueError("tree arrays of different lengths")
        if nodes == 0 or len(self.roots) == 0:
            raise ValueError("no trees")
        for name, idx in (("roots", self.roots), ("left", self.left), ("right", self.right)):
            if idx.min() < 0 or idx.max() >= nodes:
                raise ValueError(f"tree {name} outside the node arrays")
        if self.feature.min() < -1 or self.feature.max() >= n_features:
            raise ValueError(f"a split on a feature it does not have (of {n_features})")
        if not (np.isfinite(self.threshold).all() and np.isfinite(self.value).all()):
            raise ValueError("not finite")
        leaf = self.feature == -1
        own = np.arange(nodes)
        if not ((self.left[leaf] == own[leaf]).all() and (self.right[leaf] == own[leaf]).all()):
            raise ValueError("a leaf with children")
        frontier, levels = set(self.roots.tolist()), 0
        while frontier := {c for n in frontier if not leaf[n] for c in (int(self.left[n]), int(self.right[n]))}:
            levels += 1
            if levels > 64:
                raise ValueError("trees deeper than 64 levels (or a cycle)")
        if self.depth < levels:
            raise ValueError(f"depth {self.depth} but trees {levels} levels deep")

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
        return self.base_score(X) + self.value[node].sum(axis=0)

    def to_dict(self) -> dict[str, Any]:
        return {"roots": self.roots.tolist(), "feature": self.feature.tolist(),
                "threshold": self.threshold.tolist(), "left": self.left.tolist(),
                "right": self.right.tolist(), "value": self.value.tolist(), "depth": self.depth,
                "base_weight": self.base_weight}


class LinearModel(_Based):
    """``((X - mean) / scale) @ coef + intercept``."""

    def __init__(self, mean: list[float], scale: list[float], coef: list[float], intercept: float = 0.0,
                 base_weight: float = 0.0):
        self.base_weight = self._check_base(base_weight)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)

    def check(self, n_features: int) -> None:
        """ValueError unless it is a finite model over ``n_features`` columns."""
        for name, a in (("mean", self.mean), ("scale", self.scale), ("coef", self.coef)):
            if a.shape != (n_features,):
                raise ValueError(f"{name} has shape {a.shape}, not ({n_features},)")
            if not np.isfinite(a).all():
                raise ValueError(f"{name} is not finite")
        if not (self.scale > 0).all() or not np.isfinite(self.intercept):
            raise ValueError("scale must be positive and the intercept finite")

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return self.base_score(X) + ((X - self.mean) / self.scale) @ self.coef + self.intercept

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept, "base_weight": self.base_weight}


def from_lightgbm(dump: dict[str, Any], base_weight: float = 0.0, cls: type[TreeEnsemble] = TreeEnsemble) -> TreeEnsemble:
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
    return cls(roots, feature, threshold, left, right, value, depth, base_weight)


@dataclass(frozen=True)
class ModelFile:
    """One kind of shipped model file: what it is called in warnings (``what``), what qa does
    without it (``fallback``), how to make it again (``retrain``)."""

    format: str
    version: int
    features: tuple[str, ...]
    shipped: Path
    what: str
    fallback: str
    retrain: str
    logger: str
    trees: type[TreeEnsemble] = TreeEnsemble
    linear: type[LinearModel] = LinearModel

    def dump(self, kind: str, model: Model, training: dict[str, Any]) -> dict[str, Any]:
        """The JSON a model is shipped as (see ``load``)."""
        return {"format": self.format, "version": self.version, "kind": kind, "features": list(self.features),
                "model": model.to_dict(), "training": training}

    def parse(self, data: Any) -> Model:
        """The model in a parsed model file; ValueError (or another error ``load`` catches) when
        it is not one qa can use."""
        if not isinstance(data, dict) or data.get("format") != self.format or data.get("version") != self.version:
            raise ValueError(f"not a {self.format} v{self.version} file")
        if list(data.get("features", [])) != list(self.features):
            raise ValueError(f"trained on other features than this qa computes (retrain: {self.retrain})")
        kind, m = data.get("kind"), data.get("model")
        if not isinstance(m, dict):
            raise TypeError("no model in the file")
        model: TreeEnsemble | LinearModel
        if kind == "trees":
            model = self.trees(m["roots"], m["feature"], m["threshold"], m["left"], m["right"], m["value"],
                               m["depth"], m.get("base_weight", 0.0))
        elif kind == "linear":
            model = self.linear(m["mean"], m["scale"], m["coef"], m.get("intercept", 0.0), m.get("base_weight", 0.0))
        else:
            raise ValueError(f"unknown model kind {kind!r}")
        model.check(len(self.features))
        return model

    def load(self, path: str | None = None) -> Model | None:
        """The model at ``path`` (default: the shipped one), read once per process; None (and one
        warning, unless it is the shipped file that is absent) when there is none qa can use."""
        return _load(self, path)


@lru_cache(maxsize=16)
def _load(kind: ModelFile, path: str | None) -> Model | None:
    where = Path(path) if path else kind.shipped
    log = logging.getLogger(kind.logger)
    try:
        return kind.parse(json.loads(where.read_text(encoding="utf-8")))
    except FileNotFoundError:
        if path:
            log.warning("%s %s: no such file; %s", kind.what, where, kind.fallback)
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError, ArithmeticError, RecursionError) as e:
        log.warning("%s %s: %s; %s", kind.what, where, e, kind.fallback)
        return None
