"""qa against a real Chroma server (`chroma run` from the chromadb package) on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLES, run_json, run_qa, wait_until_up
from qa.answer.llms import free_port


def test_ingest_search_ask_and_update_through_a_chroma_server(tmp_path, chroma_server):
    index = tmp_path / "ix"
    remote = ["--chroma-url", chroma_server]
    out = run_json("ingest", str(SAMPLES), *remote, index=index)
    assert out["added"] == 6 and out["failed"] == 0
    assert not (Path(next(index.glob("gen-*"))) / "chroma").exists()  # vectors live on the server
    hits = run_json("search", "tram line cost", *remote, index=index)
    assert hits["results"][0]["doc_id"] == "https://gazette.example/local/riverside-tram-approved"
    ans = run_json("ask", "When did Varga and Hale last speak?", "--as-of", "2025-03-10", *remote, index=index)
    assert "8 March 2025" in ans["answer"] and ans["citations"]
    # an update is a new version in the same shared collection: no copy of it, old rows stamped
    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"id": "new-1", "title": "Ferry strike ends", "text": "The ferry strike ended on Monday after the union accepted a pay offer of 4 percent.", "date": "2025-03-09"}\n')
    for _ in range(2):
        run_json("ingest", str(extra), *remote, index=index)
        extra.write_text(extra.read_text().replace("4 percent", "5 percent") if "4 percent" in extra.read_text() else extra.read_text().replace("5 percent", "6 percent"))
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=int(chroma_server.rsplit(":", 1)[1]))
    index_id = (index / "INDEX_ID").read_text().strip()
    mine = sorted(c.name for c in client.list_collections() if index_id in c.name)
    assert [n.rsplit("-", 1)[-1] for n in mine] == ["000001", "docs", "versions"]  # one epoch, its documents, the version
    stats = run_json("index", "stats", index=index)
    assert stats["documents"] == 7
    got = run_json("search", "ferry strike pay offer", *remote, index=index)
    assert "percent" in got["results"][0]["text"]


def test_unreachable_chroma_server_is_one_line(tmp_path):
    res = run_qa("ingest", str(SAMPLES / "wire-feed.jsonl"), "--chroma-url", f"http://127.0.0.1:{free_port()}", index=tmp_path / "ix")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "Chroma server" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_an_embedded_index_refuses_a_chroma_url(tmp_path, chroma_server):
    """Its vectors are in its own folder: a server would show nothing of it, and a write there
    would start the index over, empty. Refused in one line, nothing changed."""
    index = tmp_path / "ix"
    run_json("ingest", str(SAMPLES), index=index)
    for args in (["search", "tram line cost"], ["ingest", str(SAMPLES / "wire-feed.jsonl")]):
        res = run_qa(*args, "--chroma-url", chroma_server, index=index)
        assert res.returncode == 2 and "own folder" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert run_json("index", "stats", index=index)["documents"] == 6
    assert run_json("search", "tram line cost", index=index)["results"]
