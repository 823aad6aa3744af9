"""The ONNX export encodes like sentence-transformers, so questions can skip the torch import."""

from __future__ import annotations

import numpy as np

from qa.embeddings import canonical_model_name, get_encoder, get_query_encoder, model_location
from qa.onnx_encoder import OnnxEncoder, exportable, paths
from qa.settings import DEFAULT_MODEL

SENTENCES = [
    "When did the central bank last cut interest rates?",
    "Who won the national cup?",
    "storm " * 400,  # longer than the model's 256 tokens: truncated the same way
]


def test_export_matches_sentence_transformers(sample_index):
    onnx_file, tok_file = paths(sample_index, canonical_model_name(DEFAULT_MODEL))
    assert onnx_file.exists() and tok_file.exists(), "ingest exports the model for queries"
    onnx = OnnxEncoder(DEFAULT_MODEL, onnx_file, tok_file)
    torch_vecs = get_encoder(DEFAULT_MODEL).encode(SENTENCES)
    onnx_vecs = onnx.encode(SENTENCES, batch_size=2)
    assert onnx_vecs.shape == torch_vecs.shape == (3, 384)
    assert np.all((onnx_vecs * torch_vecs).sum(axis=1) > 0.9999)
    assert isinstance(get_query_encoder(DEFAULT_MODEL, sample_index), OnnxEncoder)


def test_only_mean_pooled_models_are_exported(tmp_path):
    assert exportable(model_location(DEFAULT_MODEL)) == 256
    assert exportable(str(tmp_path)) is None  # no modules.json: keep sentence-transformers
