"""Only a machine's first index pays for the ONNX export: later indexes copy it from the machine-wide
cache (real model, real ingests in their own processes, so the torch import is seen or not)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from qa import export_cache
from qa.embeddings import canonical_model_name
from qa.onnx_encoder import EXPORT_FORMAT, OnnxEncoder, graph_format, paths
from qa.settings import DEFAULT_MODEL

_INGEST = """
import json, sys
from qa.ingest import ingest
from qa.settings import Settings
report = ingest([sys.argv[1]], Settings(index=sys.argv[2]))
print(json.dumps({"added": report.added, "encoder": report.encoder, "torch": "torch" in sys.modules}))
"""


def _ingest(doc: Path, index: Path, cache: Path) -> dict:
    env = {**os.environ, "QA_MODEL_CACHE": str(cache)}
    res = subprocess.run([sys.executable, "-c", _INGEST, str(doc), str(index)], capture_output=True, text=True,
                         env=env, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def _doc(tmp_path: Path) -> Path:
    doc = tmp_path / "harbour.txt"
    doc.write_text("Harbour works finish early\n\nThe harbour reopened on Monday after repairs to its north quay, "
                   "the port authority said.\n")
    return doc


def _vectors(index: Path) -> np.ndarray:
    onnx_file, tok_file = paths(index, canonical_model_name(DEFAULT_MODEL))
    return OnnxEncoder(DEFAULT_MODEL, onnx_file, tok_file).encode(["When did the harbour reopen?", "north quay"])


def test_a_second_index_copies_the_export_and_never_imports_torch(tmp_path):
    doc, cache = _doc(tmp_path), tmp_path / "cache"
    first = _ingest(doc, tmp_path / "a", cache)
    assert first == {"added": 1, "encoder": "onnx", "torch": True}  # the machine's first export
    second = _ingest(doc, tmp_path / "b", cache)
    assert second == {"added": 1, "encoder": "onnx", "torch": False}  # copied: no torch, no trace
    model = canonical_model_name(DEFAULT_MODEL)
    for a, b in zip(paths(tmp_path / "a", model), paths(tmp_path / "b", model)):
        assert a.read_bytes() == b.read_bytes()
    onnx_b = paths(tmp_path / "b", model)[0]
    assert graph_format(onnx_b) == EXPORT_FORMAT
    assert onnx_b.with_name(onnx_b.name + ".source").read_text() == \
        paths(tmp_path / "a", model)[0].with_name(onnx_b.name + ".source").read_text()
    assert np.allclose(_vectors(tmp_path / "a"), _vectors(tmp_path / "b"))


def test_a_damaged_cached_export_is_not_used_and_is_made_anew(tmp_path):
    doc, cache = _doc(tmp_path), tmp_path / "cache"
    assert _ingest(doc, tmp_path / "a", cache)["torch"]
    (entry,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    graph = entry / export_cache.ONNX
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one weight's byte: still a loadable graph, wrong vectors
    graph.write_bytes(bytes(data))

    again = _ingest(doc, tmp_path / "c", cache)
    assert again == {"added": 1, "encoder": "onnx", "torch": True}  # exported anew, not copied
    assert np.allclose(_vectors(tmp_path / "a"), _vectors(tmp_path / "c"), atol=1e-5)
    meta = json.loads((entry / export_cache.META).read_text())  # and the entry is sound again
    assert hashlib.sha256((entry / export_cache.ONNX).read_bytes()).hexdigest() == meta["onnx_sha256"]
