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

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from qa import modelfile
from qa.modelfile import Model as RankModel
from qa.rank.features import FEATURES

FORMAT = "qa-ranker"
VERSION = 1
SHIPPED = Path(__file__).with_name("ranker.json")

_FUSED_RANK = FEATURES.index("fused_rank")


class TreeEnsemble(modelfile.TreeEnsemble):
    base_column = _FUSED_RANK


class LinearModel(modelfile.LinearModel):
    base_column = _FUSED_RANK


RANKER = modelfile.ModelFile(
    FORMAT, VERSION, FEATURES, SHIPPED, what="learned ranker", fallback="using the fusion's order",
    retrain="bench/train_ranker.py", logger="qa.rank", trees=TreeEnsemble, linear=LinearModel,
)

from_lightgbm = partial(modelfile.from_lightgbm, cls=TreeEnsemble)


def base_score(X: np.ndarray, weight: float) -> np.ndarray:
    """The score boosting starts from: today's place, -weight × log2(1 + rank)."""
    return modelfile.base_score(X, weight, _FUSED_RANK)


def model_file(kind: str, model: RankModel, training: dict[str, Any]) -> dict[str, Any]:
    """The JSON a ranker is shipped as (see ``load``)."""
    return RANKER.dump(kind, model, training)


def parse(data: Any) -> RankModel:
    """The ranker in a parsed model file; ValueError when it is not one qa can use."""
    return RANKER.parse(data)


def load(path: str | None = None) -> RankModel | None:
    """The ranker at ``path`` (default: the shipped one), read once per process; None (and one
    warning, unless it is the shipped file that is absent) when there is none qa can use."""
    return RANKER.load(path)
