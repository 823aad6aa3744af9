"""QA_ONNX turns the ONNX encoder off for questions and ingest; the old QA_ONNX_QUERIES still does."""

from __future__ import annotations

import pytest

from qa.settings import Settings


@pytest.mark.parametrize("name", ["QA_ONNX", "QA_ONNX_QUERIES"])
def test_env_names(monkeypatch, name):
    monkeypatch.setenv(name, "false")
    assert Settings().onnx is False


def test_default_and_keyword():
    assert Settings().onnx is True
    assert Settings(onnx=False).onnx is False


def test_unprefixed_env_names_are_not_read(monkeypatch):
    monkeypatch.setenv("ONNX", "false")
    monkeypatch.setenv("ONNX_QUERIES", "false")
    assert Settings().onnx is True
