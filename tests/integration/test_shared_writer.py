"""The writer of an index on a real `chroma run` server (tiny encoder: this is about bookkeeping)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from qa.assistant import Assistant
from qa.settings import Settings

pytestmark = pytest.mark.slow

WORDS = ["harbour", "council", "ferry", "bridge", "budget", "strike", "tram", "school", "hospital", "election", "river", "storm"]


def _long_story(i: int) -> dict:
    rng = random.Random(i)
    text = " ".join(" ".join(rng.sample(WORDS, 10)).capitalize() + f" {i}-{j}." for j in range(60))  # ~5 KB
    return {"id": f"long-{i}", "title": f"Long story {i}", "date": "2025-03-02", "text": text}


def test_a_removal_bigger_than_sqlites_page_cache_lands(tmp_path: Path, chroma_server: str, tiny_encoder: Path) -> None:
    """Removing hundreds of documents keeps a large change open in the new generation's catalog
    until it is published; the writer's first contact with the server (its check of the announced
    version, which reads every generation's catalog) must not wait on that change's lock."""
    bot = Assistant(Settings(index=tmp_path / "writer", chroma_url=chroma_server, model=str(tiny_encoder)))
    stories = [_long_story(i) for i in range(400)]
    bot.ingest_records(stories)
    removed, missing = bot.remove([s["id"] for s in stories[:390]])
    assert len(removed) == 390 and not missing
    assert {d.doc_id for d in bot.documents()} == {s["id"] for s in stories[390:]}
    bot.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through /proc")
def test_ingests_and_catch_ups_do_not_leak_server_connections(tmp_path: Path, chroma_server: str, tiny_encoder: Path) -> None:
    """A replica's `qa serve` catches up every 2 s and a `qa watch` writer ingests for days, in one
    process: chromadb keeps every client it makes (two file descriptors and ~1.6 MB each) for the
    life of the process, so qa must not make one per ingest or per catch-up."""
    from qa.index.replica import follow, sync

    common = {"chroma_url": chroma_server, "model": str(tiny_encoder)}
    writer = Assistant(Settings(index=tmp_path / "writer", **common))
    writer.ingest_records([_long_story(0)])
    replica = Settings(index=tmp_path / "replica", **common)
    follow(replica, (tmp_path / "writer" / "INDEX_ID").read_text().strip())
    sync(replica)
    writer.ingest_records([_long_story(1)])
    before = _open_fds()
    for i in range(2, 7):
        writer.ingest_records([_long_story(i)])
    for _ in range(25):
        sync(replica)
    assert _open_fds() - before < 10
    assert {d.doc_id for d in Assistant(Settings(index=tmp_path / "replica")).documents()} == {f"long-{i}" for i in range(7)}
    writer.close()


def test_housekeeping_deletes_every_matching_row_a_page_at_a_time(chroma_server: str) -> None:
    """A killed big ingest's rows (and the rows collected after a big update) are deleted by id,
    a page at a time (a managed Chroma answers at most 300 rows a read), until none match."""
    import numpy as np

    from qa.index.chroma import http_client
    from qa.index.shared import _delete_where

    client = http_client(chroma_server, {}, 30)
    col = client.create_collection(f"paging-{random.randrange(10**9)}", embedding_function=None)
    n = 750
    col.add(ids=[f"r{i}" for i in range(n)], embeddings=np.ones((n, 2), dtype=np.float32),
            metadatas=[{"v": 2 if i % 5 else 1} for i in range(n)])
    _delete_where(client, col, {"v": {"$gt": 1}}, page=300)
    assert sorted(col.get(include=[])["ids"]) == sorted(f"r{i}" for i in range(0, n, 5))
    client.delete_collection(col.name)


def test_housekeeping_stops_between_pages_when_the_writer_closes(chroma_server: str) -> None:
    """An interrupted or failed run stops its store thread's housekeeping before the next page
    (``go_on`` raises once the writer is closing), not after every page of a killed big ingest's
    rows: the run's lock is held until that thread is done."""
    import numpy as np

    from qa.errors import QAError
    from qa.index.chroma import http_client
    from qa.index.shared import _delete_where

    client = http_client(chroma_server, {}, 30)
    col = client.create_collection(f"paging-{random.randrange(10**9)}", embedding_function=None)
    n = 900
    col.add(ids=[f"r{i}" for i in range(n)], embeddings=np.ones((n, 2), dtype=np.float32), metadatas=[{"v": 2}] * n)
    calls = []

    def go_on() -> None:
        calls.append(1)
        if len(calls) > 1:
            raise QAError("closing")

    with pytest.raises(QAError, match="closing"):
        _delete_where(client, col, {"v": {"$gt": 1}}, page=300, go_on=go_on)
    assert col.count() == n - 300  # one page went, then it stopped
    client.delete_collection(col.name)


def test_chunk_collections_are_built_with_qas_hnsw_settings(tmp_path: Path, chroma_server: str, tiny_encoder: Path) -> None:
    """Every chunk collection qa creates, on a server and in an embedded index's parts, gets qa's
    HNSW construction settings (qa.index.chroma.CHUNK_HNSW): with Chroma's default graph, the
    server's HNSW insertion was most of a small ingest's write (bench/README.md)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from qa.index.chroma import CHUNK_HNSW
    from qa.index.chroma_parts import PARTS_DIR

    def hnsw(col) -> dict:
        return {k: col.configuration["hnsw"][k] for k in CHUNK_HNSW}

    remote = Assistant(Settings(index=tmp_path / "remote", chroma_url=chroma_server, model=str(tiny_encoder)))
    remote.ingest_records([_long_story(0)])
    remote.close()
    prefix = f"{Settings().collection}-{(tmp_path / 'remote' / 'INDEX_ID').read_text().strip()}-"
    client = chromadb.HttpClient(host="127.0.0.1", port=int(chroma_server.rsplit(":", 1)[1]),
                                 settings=ChromaSettings(anonymized_telemetry=False))
    chunk_cols = [c for c in client.list_collections() 
                  if c.name.startswith(prefix) and not c.name.endswith(("-docs", "-versions"))]
    assert chunk_cols and all(hnsw(c) == CHUNK_HNSW for c in chunk_cols)

    local = Assistant(Settings(index=tmp_path / "local", model=str(tiny_encoder)))
    local.ingest_records([_long_story(1)])
    local.close()
    parts = [p for p in (tmp_path / "local" / PARTS_DIR).iterdir() if p.is_dir()]
    assert parts
    for part in parts:
        store = chromadb.PersistentClient(path=str(part), settings=ChromaSettings(anonymized_telemetry=False))
        assert [hnsw(c) for c in store.list_collections()] == [CHUNK_HNSW]
