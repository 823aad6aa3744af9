"""Shipped model files (qa.modelfile): anything that is not a model qa can evaluate is refused
on load with one warning, so a bad file never crashes a question — the caller keeps its rule."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pytest
from test_short_reader import passage

from qa.answer.judge import JUDGE
from qa.answer.short import read
from qa.rank.model import RANKER
from qa.settings import Settings
from qa.temporal import question_time


def _judge_with(change) -> str:
    data = json.loads(JUDGE.shipped.read_text(encoding="utf-8"))
    change(data)
    return json.dumps(data)


def _set(path: str, value):
    def change(data):
        data["model"][path] = value
    return change


BAD_JUDGES = {
    "coef one short": (_judge_with(lambda d: d["model"]["coef"].pop()), "coef has shape"),
    "NaN coefficient": (_judge_with(lambda d: d["model"]["coef"].__setitem__(0, float("nan"))), "not finite"),
    "zero scale": (_judge_with(lambda d: d["model"]["scale"].__setitem__(0, 0.0)), "scale must be positive"),
    "scalar coef": (_judge_with(_set("coef", 1.0)), "coef has shape"),
    "a list, not a file": ("[1, 2, 3]", "not a qa-short-answer-judge"),
    "no model": (_judge_with(lambda d: d.pop("model")), "no model"),
    "a base score it has no column for": (_judge_with(_set("base_weight", 2.0)), "base_weight"),
    "trees splitting on a feature it lacks": (
        _judge_with(lambda d: d.update(kind="trees", model={
            "roots": [0], "feature": [99, -1, -1], "threshold": [0.5, 0, 0], "left": [1, 1, 2],
            "right": [2, 1, 2], "value": [0, -1, 1], "depth": 1})), "a split on a feature"),
    "trees with an infinite depth": (
        _judge_with(lambda d: d.update(kind="trees", model={
            "roots": [0], "feature": [-1], "threshold": [0.0], "left": [0], "right": [0], "value": [0.0],
            "depth": float("inf")})), "infinity"),
    "trees deeper than they say": (
        _judge_with(lambda d: d.update(kind="trees", model={
            "roots": [0], "feature": [0, 1, -1, -1, -1], "threshold": [0.5, 0.5, 0, 0, 0], "left": [1, 3, 2, 3, 4],
            "right": [2, 4, 2, 3, 4], "value": [0, 0, 1, -1, 2], "depth": 1})), "depth 1 but trees 2 levels deep"),
    "a root index too large to be an index": (
        _judge_with(lambda d: d.update(kind="trees", model={
            "roots": [1e30], "feature": [-1], "threshold": [0.0], "left": [0], "right": [0], "value": [0.0],
            "depth": 0})), "int"),
    "trees pointing outside their nodes": (
        _judge_with(lambda d: d.update(kind="trees", model={
            "roots": [0], "feature": [0, -1, -1], "threshold": [0.5, 0, 0], "left": [1, 1, 7],
            "right": [2, 1, 2], "value": [0, -1, 1], "depth": 1})), "outside the node arrays"),
}


@pytest.mark.parametrize("name", list(BAD_JUDGES))
def test_a_malformed_judge_is_no_model_and_the_reader_votes(name, tmp_path: Path, caplog, analyzer):
    content, why = BAD_JUDGES[name]
    path = tmp_path / f"judge-{abs(hash(name))}.json"
    path.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="qa.answer"):
        assert JUDGE.load(str(path)) is None
    assert why in caplog.text and str(path) in caplog.text and "using the reader's votes" in caplog.text
    p = passage("a", "Three engineers were detained in Norland, officials said.")
    q = "How many engineers were detained in Norland?"
    r = read(q, [p], question_time(q, date(2025, 6, 20)), Settings(short_answer_judge_model=path), analyzer)
    assert not r.judged and r.candidates  # the question is still read, by the votes


def test_a_malformed_ranker_is_no_model_either(tmp_path: Path, caplog):
    data = json.loads(RANKER.shipped.read_text(encoding="utf-8"))
    data["model"]["threshold"] = data["model"]["threshold"][:-1]
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="qa.rank"):
        assert RANKER.load(str(path)) is None
    assert "different lengths" in caplog.text and "using the fusion's order" in caplog.text
