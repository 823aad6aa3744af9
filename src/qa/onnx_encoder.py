"""A torch-free encoder for questions and answer sentences: the index's model exported to ONNX.

Importing sentence-transformers costs ~5 s on 2 cores (torch, transformers, scikit-learn), which
was most of a cold `qa ask`. Ingest has the model loaded anyway, so it exports it once to
``index/models/`` and later processes encode with onnxruntime (already installed with Chroma,
0.15 s to import) and the model's own fast tokenizer. Embeddings agree with sentence-transformers
to a cosine of 0.99999 (a test checks it). Only models that are exactly Transformer → mean
Pooling (→ Normalize) are exported — all-MiniLM-L6-v2 and most sentence-transformers models; any
other model, or a missing onnxruntime, keeps using sentence-transformers.
"""

from __future__ import annotations

import json
import os
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

MODELS_DIR = "models"


def paths(index_root: Path, model: str) -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) of a model under an index folder."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", model)
    folder = index_root / MODELS_DIR
    return folder / f"{stem}.onnx", folder / f"{stem}.tokenizer.json"


def exportable(location: str) -> int | None:
    """The model's max sequence length if it is Transformer → mean Pooling (→ Normalize), else None."""
    root = Path(location)
    try:
        modules = json.loads((root / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
            return None
        pooling = json.loads((root / modules[1]["path"] / "config.json").read_text())
        modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
        if modes != {"pooling_mode_mean_tokens"} or not (root / "tokenizer.json").exists():
            return None
        return int(json.loads((root / "sentence_bert_config.json").read_text()).get("max_seq_length", 256))
    except (OSError, ValueError, KeyError, IndexError):
        return None


def export(location: str, index_root: Path, model: str) -> bool:
    """Write the ONNX file and tokenizer for ``model`` (atomically); False if it cannot be done."""
    max_len = exportable(location)
    if max_len is None:
        return False
    onnx_file, tok_file = paths(index_root, model)
    try:
        with warnings.catch_warnings():  # the tracer's warnings are about other models' code paths
            warnings.simplefilter("ignore")
            _export(location, onnx_file, tok_file, max_len)
        return True
    except Exception:
        for leftover in onnx_file.parent.glob(f".{onnx_file.name}.*"):
            leftover.unlink(missing_ok=True)
        return False


def _export(location: str, onnx_file: Path, tok_file: Path, max_len: int) -> None:
    """Trace the model with mean pooling and normalisation into one ONNX graph."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    class MeanPooled(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    net = MeanPooled(AutoModel.from_pretrained(location).eval())
    example = torch.ones((2, 8), dtype=torch.long)
    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = onnx_file.with_name(f".{onnx_file.name}.{os.getpid()}")
    torch.onnx.export(
        net,
        (example, example, torch.zeros_like(example)),
        str(tmp),
        dynamo=False,
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["embedding"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "token_type_ids": {0: "batch", 1: "tokens"},
            "embedding": {0: "batch"},
        },
        opset_version=17,
    )
    tok = json.loads((Path(location) / "tokenizer.json").read_text())
    tok["truncation"] = {"direction": "Right", "max_length": max_len, "strategy": "LongestFirst", "stride": 0}
    tok_tmp = tok_file.with_name(f".{tok_file.name}.{os.getpid()}")
    tok_tmp.write_text(json.dumps(tok))
    os.replace(tok_tmp, tok_file)
    os.replace(tmp, onnx_file)  # last: the .onnx file's presence means both are complete


class OnnxEncoder:
    """Same interface as embeddings.Encoder: normalised float32 vectors."""

    def __init__(self, name: str, onnx_file: Path, tokenizer_file: Path, batch_size: int = 32):
        import onnxruntime
        from tokenizers import Tokenizer

        self.name = name
        self.batch_size = batch_size
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_padding()
        self._lock = threading.Lock()
        self.dimension = int(self.encode(["x"]).shape[1])

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, getattr(self, "dimension", 0)), dtype=np.float32)
        out = []
        step = batch_size or self.batch_size
        with self._lock:
            for i in range(0, len(texts), step):
                enc = self._tokenizer.encode_batch(texts[i : i + step])
                feeds = {
                    "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
                }
                out.append(self._session.run(None, feeds)[0])
        return np.asarray(np.concatenate(out), dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
