"""A torch-free encoder for questions and answer sentences: the index's model exported to ONNX.

Importing sentence-transformers costs ~5 s on 2 cores (torch, transformers, scikit-learn), which
was most of a cold `qa ask`. An index's first ingest exports the model once to
``index/models/`` before its first batch, and it and later processes encode with onnxruntime (already installed with Chroma,
0.15 s to import) and the model's own fast tokenizer. Embeddings agree with sentence-transformers
to a cosine of 0.99999 (a test checks it). Only models that are exactly Transformer → mean
Pooling (→ Normalize) are exported — all-MiniLM-L6-v2 and most sentence-transformers models; any
other model, or a missing onnxruntime, keeps using sentence-transformers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

MODELS_DIR = "models"
# The graph's format, recorded in ``<model>.onnx.graph`` beside the export. 1 (or no record): traced
# with PyTorch's SDPA attention, whose guards against fully masked rows (IsNaN/Where over every
# attention matrix of every layer) made it 1.6x slower here; 2: traced with eager attention. Both
# give the same vectors (cosine 0.99999), so an older format keeps encoding until a writer makes it
# anew. The record is a file of its own: an older qa reads ``.source`` as the weights' fingerprint
# only, and keeps using a newer export instead of making its own again. Raise it whenever ``_export``
# writes something else: the machine-wide cache (``qa.export_cache``) hands out exports by weights and
# format alone.
EXPORT_FORMAT = 2


def paths(index_root: Path, model: str) -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) of a model under an index folder."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", model)
    folder = index_root / MODELS_DIR
    return folder / f"{stem}.onnx", folder / f"{stem}.tokenizer.json"


def fingerprint(location: str) -> str:
    """Which weights an export was made from: the model folder's file names, sizes and times
    (a model retrained in place at the same path gets a new export, not the stale one)."""
    root = Path(location)
    h = hashlib.sha256(str(root).encode())
    if root.is_dir():
        for f in sorted(root.rglob("*")):
            if f.is_file():
                st = f.stat()
                h.update(f"\0{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


def current(
    index_root: Path, model: str, location: str, *, legacy: bool = False, latest: bool = False
) -> tuple[Path, Path] | None:
    """The export's (onnx, tokenizer) files if they exist and were made from the weights now at
    ``location``; None otherwise. An export an older qa made records no weights: ``legacy``
    accepts it (questions, as before), otherwise it is refused (chunks; the ingest re-exports).
    ``latest`` (a writer deciding whether to export): also in today's graph format, or one that a
    writer already failed to make anew with the torch installed now (``record_failed_upgrade``:
    not tried at every ingest, tried again once torch changes)."""
    onnx_file, tok_file = paths(index_root, model)
    if not (onnx_file.exists() and tok_file.exists()):
        return None
    try:
        made_from = _source_file(onnx_file).read_text().strip()
    except FileNotFoundError:
        return (onnx_file, tok_file) if legacy and not latest else None
    except (OSError, UnicodeDecodeError):
        return None
    if made_from != fingerprint(location):
        return None
    if latest and max(_graph_record(onnx_file)) < EXPORT_FORMAT:
        return None
    return onnx_file, tok_file


def graph_format(onnx_file: Path) -> int:
    """The export's graph format (1 when unrecorded, or recorded for another file than this one)."""
    return _graph_record(onnx_file)[0]


def record_failed_upgrade(onnx_file: Path) -> None:
    """Remember that making this export anew in today's format failed with the torch installed
    now, so that later writers keep the older export instead of loading torch to fail again (a
    new export, or another torch version, clears it)."""
    _write_graph(onnx_file, graph_format(onnx_file), tried=EXPORT_FORMAT)


def _graph_record(onnx_file: Path) -> tuple[int, int]:
    """(format, the format a failed upgrade tried with today's torch) of the export, if recorded
    for this very file."""
    try:
        rec = json.loads(_graph_file(onnx_file).read_text())
        st = onnx_file.stat()
        if rec.get("onnx") != [st.st_size, st.st_mtime_ns]:
            return 1, 0
        tried = int(rec.get("tried", 0)) if rec.get("torch") == _torch_version() else 0
        return int(rec.get("format", 1)), tried
    except (OSError, ValueError, TypeError, AttributeError):
        return 1, 0


def _write_graph(onnx_file: Path, fmt: int, *, tried: int = 0) -> None:
    st = onnx_file.stat()
    graph = _graph_file(onnx_file)
    tmp = _temporary(graph)
    record = {"format": fmt, "tried": tried, "torch": _torch_version(), "onnx": [st.st_size, st.st_mtime_ns]}
    tmp.write_text(json.dumps(record) + "\n")
    os.replace(tmp, graph)


def _torch_version() -> str:
    """The installed torch's version, read from its metadata (no torch import); "" without torch."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return ""


def _graph_file(onnx_file: Path) -> Path:
    return onnx_file.with_name(onnx_file.name + ".graph")


def _source_file(onnx_file: Path) -> Path:
    return onnx_file.with_name(onnx_file.name + ".source")


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


def export(location: str, index_root: Path, model: str, cache: Path | None = None, *, trace: bool = True) -> bool:
    """Write the ONNX file and tokenizer for ``model`` (atomically); False if it cannot be done.
    With a machine-wide ``cache`` (``qa.export_cache``), an export made for another index is
    copied instead of made anew, and a new one is kept there for the next index. Without
    ``trace``, only a copy from the cache is tried (no torch import)."""
    from qa import export_cache

    max_len = exportable(location)
    if max_len is None:
        return False
    onnx_file, tok_file = paths(index_root, model)
    _remove_partial(onnx_file, tok_file)  # a killed export's (the writer lock keeps exports one at a time)
    made_from, stem = fingerprint(location), onnx_file.name.removesuffix(".onnx")
    onnx_tmp, tok_tmp = _temporary(onnx_file), _temporary(tok_file)
    try:
        onnx_file.parent.mkdir(parents=True, exist_ok=True)
        if cache is not None and export_cache.fetch(cache, stem, made_from, EXPORT_FORMAT, onnx_tmp, tok_tmp):
            if _loads(onnx_tmp):
                _install(onnx_file, tok_file, EXPORT_FORMAT, made_from)
                return True
            _remove_partial(onnx_file, tok_file)  # made by an environment whose graph this onnxruntime cannot run
        if not trace:
            return False
        with warnings.catch_warnings():  # the tracer's warnings are about other models' code paths
            warnings.simplefilter("ignore")
            fmt = _export(location, onnx_tmp, tok_tmp, max_len)
        _install(onnx_file, tok_file, fmt, made_from)
    except BaseException as e:
        _remove_partial(onnx_file, tok_file)
        if not isinstance(e, Exception):
            raise  # Ctrl-C: cleaned up, then stop
        return False
    if cache is not None and fmt == EXPORT_FORMAT:
        export_cache.store(cache, stem, made_from, fmt, onnx_file, tok_file)
    return True


def _loads(onnx_file: Path) -> bool:
    """Whether this onnxruntime can run the graph (a copy another environment made; ~0.25 s)."""
    try:
        import onnxruntime

        onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        return True
    except Exception:
        return False


def _temporary(final: Path) -> Path:
    """Where a file is written before it is renamed to ``final`` (``_remove_partial`` knows them)."""
    return final.with_name(f".{final.name}.{os.getpid()}")


def _install(onnx_file: Path, tok_file: Path, fmt: int, made_from: str) -> None:
    """Rename a complete export's temporary files into place: the tokenizer, the graph and its
    format, then the weights' fingerprint last (its presence means the export is complete and whose
    it is)."""
    os.replace(_temporary(tok_file), tok_file)
    os.replace(_temporary(onnx_file), onnx_file)
    _write_graph(onnx_file, fmt)
    source = _source_file(onnx_file)
    source_tmp = _temporary(source)
    source_tmp.write_text(made_from + "\n")
    os.replace(source_tmp, source)


def _remove_partial(onnx_file: Path, tok_file: Path) -> None:
    """The temporary files of an export that did not finish (``.NAME.PID``)."""
    for f in (onnx_file, tok_file, _source_file(onnx_file), _graph_file(onnx_file)):
        for leftover in f.parent.glob(f".{f.name}.*"):
            leftover.unlink(missing_ok=True)


def _export(location: str, onnx_to: Path, tok_to: Path, max_len: int) -> int:
    """Trace the model with mean pooling and normalisation into one ONNX graph; its graph format."""
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

    inner = AutoModel.from_pretrained(location, attn_implementation="eager")  # plain MatMul/Softmax (EXPORT_FORMAT)
    traced = EXPORT_FORMAT if getattr(inner.config, "_attn_implementation", "eager") == "eager" else 1
    net = MeanPooled(inner.eval())
    example = torch.ones((2, 8), dtype=torch.long)
    torch.onnx.export(
        net,
        (example, example, torch.zeros_like(example)),
        str(onnx_to),
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
    tok_to.write_text(json.dumps(tok))
    return traced


_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxEncoder:
    """Same interface as embeddings.Encoder: normalised float32 vectors. Thread-safe without a
    lock (ONNX Runtime's ``run`` and the tokenizer are), so questions are not queued behind an
    ingest's batch in the same process."""

    def __init__(
        self, name: str, onnx_file: Path, tokenizer_file: Path, batch_size: int = 32, *, sort_by_length: bool = True
    ):
        import onnxruntime
        from tokenizers import Tokenizer

        self.name = name
        self.batch_size = batch_size
        self.sort_by_length = sort_by_length
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_padding()  # batches are padded here, to their own longest text
        self._pad = self._tokenizer.token_to_id("[PAD]") or 0
        dim = self._session.get_outputs()[0].shape[-1]  # an int, or a name when the graph leaves it open
        self.dimension = dim if isinstance(dim, int) else int(self.encode(["x"]).shape[1])

    def encode(
        self, texts: list[str], batch_size: int | None = None, *, between: Callable[[], None] | None = None,
        done: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Normalised vectors in input order. Texts are tokenized once, then batched by token
        length (as sentence-transformers does): padding a short chunk to a long one is wasted work.
        ``between`` is called before each batch (it may raise to stop the encoding), ``done``
        after it with its size (progress)."""
        if not texts:
            return np.zeros((0, getattr(self, "dimension", 0)), dtype=np.float32)
        step = batch_size or self.batch_size
        encodings = self._tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable") if self.sort_by_length else np.arange(len(texts))
        out: np.ndarray | None = None
        for i in range(0, len(order), step):
            if between is not None:
                between()
            rows = order[i : i + step]
            width = int(lengths[rows].max())
            feeds = {name: np.zeros((len(rows), width), dtype=np.int64) for name in _INPUTS}
            feeds["input_ids"].fill(self._pad)
            for k, j in enumerate(rows):
                e, n = encodings[j], lengths[j]
                feeds["input_ids"][k, :n] = e.ids
                feeds["attention_mask"][k, :n] = e.attention_mask
                feeds["token_type_ids"][k, :n] = e.type_ids
            vecs = self._session.run(None, feeds)[0]
            if out is None:
                out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
            out[rows] = vecs
            if done is not None:
                done(len(rows))
        assert out is not None
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
