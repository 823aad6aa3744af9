"""`qa --help` and `qa index stats` stay light: no torch, Chroma, LangChain or transformers import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ["torch", "chromadb", "langchain_core", "sentence_transformers", "transformers", "tantivy", "numpy",
         "spacy", "thinc"]

PROBE = """
import json, sys
from qa.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(m for m in %r if m in sys.modules)), file=sys.stderr)
"""


def heavy_imports(*args: str, env: dict[str, str] | None = None, names: list[str] = HEAVY) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE % names, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)
    return json.loads(proc.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["ask", "--help"], ["index", "stats", "--json"]])
def test_light_commands_import_no_heavy_library(args, sample_index):
    if "stats" in args:
        args = [*args, "--index", str(sample_index)]
    assert heavy_imports(*args) == []


def test_cold_ask_on_an_ingested_index_does_not_import_torch(sample_index):
    """Ingest exported the model to ONNX; a question is encoded without torch, and its search
    reads the index's own files, never Chroma (whose import was ~1 s of a cold question)."""
    loaded = heavy_imports("ask", "Who won the national cup?", "--index", str(sample_index), "--json")
    assert "torch" not in loaded and "sentence_transformers" not in loaded and "langchain_core" not in loaded
    assert "tantivy" in loaded and "chromadb" not in loaded  # it did search, from the dense parts and BM25


def test_ingest_never_imports_spacy(tmp_path):
    """The short-answer reader's spaCy is for questions only: ingest does not import it."""
    article = tmp_path / "a.md"
    article.write_text("---\ntitle: Ferry line sold\npublished_at: 2025-03-01\n---\n\nBlue Anchor Lines bought the ferry line.\n")
    loaded = heavy_imports("ingest", str(article), "--index", str(tmp_path / "index"), "--json")
    assert "spacy" not in loaded and "thinc" not in loaded
    assert "chromadb" in loaded  # it did ingest


def test_cold_ask_reads_a_short_answer_without_torch(sample_index):
    """The short-answer reader loads spaCy on the question, with thinc kept from importing torch."""
    loaded = heavy_imports("ask", "How many Westmark engineers were detained?", "--as-of", "2025-03-10",
                           "--index", str(sample_index), "--json")
    assert "spacy" in loaded and "torch" not in loaded


def test_second_ingest_encodes_with_the_export_not_torch(tmp_path):
    """The first ingest loads torch and exports the model; later ingests encode new chunks with the
    export (no torch import: a small ingest was ~6 s of imports) and search finds them."""
    index = tmp_path / "index"
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    first.write_text("---\ntitle: Ferry line sold\npublished_at: 2025-03-01\n---\n\nBlue Anchor Lines bought the ferry line.\n")
    second.write_text("---\ntitle: Dam opened\npublished_at: 2025-03-02\n---\n\nThe Kessel valley dam opened to visitors on Sunday.\n")
    empty_cache = {"QA_MODEL_CACHE": str(tmp_path / "model-cache")}  # a machine where qa never ran
    assert "torch" in heavy_imports("ingest", str(first), "--index", str(index), "--json", env=empty_cache)
    loaded = heavy_imports("ingest", str(second), "--index", str(index), "--json")
    assert "torch" not in loaded and "sentence_transformers" not in loaded
    assert "chromadb" in loaded  # it did ingest
    proc = subprocess.run([sys.executable, "-m", "qa", "search", "Kessel valley dam", "--index", str(index), "--json"],
                          capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(proc.stdout)["results"][0]["title"] == "Dam opened"


def test_an_ingest_with_nothing_to_embed_loads_no_encoder(tmp_path):
    """The chunk encoder is made (on a thread, while the rest is planned) at the first article that
    will be embedded: an unchanged re-ingest, as `qa watch` from cron runs them, loads none."""
    index, article = tmp_path / "index", tmp_path / "a.md"
    article.write_text("---\ntitle: Ferry line sold\npublished_at: 2025-03-01\n---\n\nBlue Anchor Lines bought the ferry line.\n")
    encoders = ["onnxruntime", "tokenizers", "torch", "chromadb"]
    assert "onnxruntime" in heavy_imports("ingest", str(article), "--index", str(index), "--json", names=encoders)
    assert heavy_imports("ingest", str(article), "--index", str(index), "--json", names=encoders) == []
