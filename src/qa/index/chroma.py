"""The store of record: Chroma collections holding each chunk's text, record and vector (an
embedded index keeps them in parts, ``chroma_parts``; on a Chroma server, ``shared``); also
Chroma's own HNSW search, with the filters translated into a ``where``."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.index.chroma_parts import CHROMA_DIR
from qa.index.filters import SearchFilters
from qa.index.records import UNDATED, ChunkRecord, from_chroma, to_chroma
from qa.index.server_url import chroma_address
from qa.types import Chunk

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    similarity: float
    text: str
    record: ChunkRecord


def chroma_where(filters: SearchFilters | None) -> dict[str, Any] | None:
    """The filters as a Chroma ``where`` on the stored ``published_day`` and ``source``."""
    if filters is None:
        return None
    clauses: list[dict[str, Any]] = []
    first, last = filters.first_day, filters.last_day
    if filters.dated_only:
        clauses.append({"published_day": {"$gte": first if first is not None else UNDATED + 1}})
        if last is not None:
            clauses.append({"published_day": {"$lte": last}})
    elif last is not None:  # undated chunks pass as well
        clauses.append({"$or": [{"published_day": {"$lte": last}}, {"published_day": UNDATED}]})
    if filters.source is not None:
        clauses.append({"source": filters.source})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def rows_of(pages: Iterator[tuple[list[str], list[str], list[ChunkRecord], Any]]) -> dict[str, tuple[str, ChunkRecord]]:
    """id → (text, record) of every row of a store's ``pages()``."""
    return {cid: (text, record) for ids, texts, records, _ in pages for cid, text, record in zip(ids, texts, records)}


def import_in_background() -> None:
    """Start importing chromadb on a thread (~0.7 s of pure Python): started before the encoder
    runs (whose native threads release the GIL), it is done by the time the first write needs
    it. A later ``import chromadb`` waits for the thread rather than doing it twice; a failure
    here is left to that later import, which reports it."""
    import sys

    if "chromadb" not in sys.modules:
        threading.Thread(target=_import, name="qa-import-chromadb", daemon=True).start()


def _import() -> None:
    try:
        import chromadb  # noqa: F401
    except Exception:  # noqa: BLE001 - the writer's own import reports it
        return


def index_id(root: Path) -> str:
    """A stable id of an index folder, naming its collections on a shared Chroma server."""
    path = root / "INDEX_ID"
    if not path.exists():
        import uuid

        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".INDEX_ID.{os.getpid()}"
        tmp.write_text(uuid.uuid4().hex[:12])
        os.replace(tmp, path) if not path.exists() else tmp.unlink()
    return path.read_text().strip()


# The HNSW graph Chroma builds over a chunk collection. qa ranks by its own exact matrix
# (qa.index.dense); the graph is read only with QA_DENSE_SEARCH=hnsw, yet every write pays for it
# (most of a small ingest's write on a Chroma server). Built with ef_construction 32 rather than
# Chroma's 100 and searched with ef_search 200 rather than 100: the same recall, about half the
# build (bench/README.md, "HNSW construction").
CHUNK_HNSW: dict[str, Any] = {"space": "cosine", "ef_construction": 32, "ef_search": 200}


def remote_collection_prefix(collection: str, root: Path, of: str | None = None) -> str:
    """What the names of an index's collections on a Chroma server start with: the index
    folder's id, or ``of`` (the id of the index a replica is about to follow)."""
    return f"{collection}-{of or index_id(root)}-"


def remote_collection_name(collection: str, gen: Path) -> str:
    """One collection per index generation on a Chroma server: the index's prefix + its name."""
    return remote_collection_prefix(collection, gen.parent) + gen.name


_clients: dict[tuple[str, tuple[tuple[str, str], ...], float], Any] = {}
_clients_lock = threading.Lock()


def http_client(url: str, headers: dict[str, str], timeout: float = 60.0) -> Any:
    """The process's client of the Chroma server at ``url`` with ``headers``, made once. chromadb
    keeps every client it makes (its system, two file descriptors, ~1.6 MB) for the life of the
    process, so a client per ingest or per replica catch-up (every 2 s) grew without bound.
    Every request it sends fails with one QAError, naming the server, when the server does not
    answer within ``timeout`` seconds, cannot be reached, or answers with an error that is not
    Chroma's own (a proxy's 502; qa.index.chroma_http)."""
    key = (url, tuple(sorted((headers or {}).items())), float(timeout))
    with _clients_lock:
        if key not in _clients:
            _clients[key] = _new_http_client(url, dict(headers or {}), timeout)  # a copy: chromadb adds its own headers to it
        return _clients[key]


def _new_http_client(url: str, headers: dict[str, str], timeout: float) -> Any:
    address = chroma_address(url)
    from qa.errors import QAError, chroma_public, gist
    from qa.index.chroma_http import bounded_client

    try:
        return bounded_client(url, address, headers, timeout)
    except Exception as e:
        cause: BaseException | None = e
        while cause is not None and not isinstance(cause, QAError):  # chromadb wraps its handshake's errors
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from None
        raise QAError(f"Chroma server {url} is not reachable: {gist(e)}", public=chroma_public("is not reachable")) from None


class VectorStore:
    """One Chroma collection: an embedded Chroma folder (``folder``, by default the generation's
    ``chroma/``; one part of an embedded index, see chroma_parts), or on a Chroma server either the
    shared collection of an ``epoch`` (qa.index.shared: rows stamped with the ``version`` that
    wrote or deleted them) or, for a generation written by an older qa, its own collection."""

    def __init__(
        self,
        gen: Path,
        *,
        collection: str,
        model: str,
        device: str = "cpu",
        chroma_url: str | None = None,
        chroma_headers: dict[str, str] | None = None,
        chroma_timeout: float = 60.0,
        epoch: str | None = None,
        version: int | None = None,
        writable: bool = False,
        folder: Path | None = None,
    ):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        from qa.embeddings import chroma_embedding_function

        self.path = folder or gen / CHROMA_DIR
        self.gen = gen
        self.base_name = collection
        self.remote = chroma_url is not None
        self.shared: Any = None  # qa.index.shared.SharedIndex on a server
        self.epoch = epoch if self.remote else None
        self.version = version if self.epoch else None
        embed = chroma_embedding_function(model, device)
        if chroma_url:
            from qa.index.shared import SharedIndex

            self.client = http_client(chroma_url, chroma_headers or {}, chroma_timeout)
            self.shared = SharedIndex(self.client, remote_collection_prefix(collection, gen.parent))
        else:
            with _open_lock:
                self.client = chromadb.PersistentClient(
                    path=str(self.path),
                    settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
                )
                _open_count[str(self.path)] += 1
        self._closed = False
        if self.epoch is not None:
            self.collection = self.shared.chunks(self.epoch, create=writable, embedding_function=embed, model=model)
        else:
            self.collection = self.client.get_or_create_collection(
                remote_collection_name(collection, gen) if chroma_url else collection,
                embedding_function=embed,
                configuration={"hnsw": dict(CHUNK_HNSW)},
                metadata={"qa:model": model},
            )
        from qa.index.shared import max_batch

        self.max_batch = max_batch(self.client)

    def count(self) -> int:
        """The chunks this store shows (on a shared server: those its version shows, not every
        row the collection holds)."""
        if self.version is None:
            return int(self.collection.count())
        from qa.index.shared import live_at

        return len(self.collection.get(where=live_at(self.version), include=[])["ids"])

    def add(
        self,
        chunks: Sequence[Chunk],
        records: Sequence[ChunkRecord],
        embeddings: np.ndarray,
    ) -> None:
        self.add_rows([c.chunk_id for c in chunks], [c.text for c in chunks], records, embeddings)

    def add_rows(self, ids: Sequence[str], texts: Sequence[str], records: Sequence[ChunkRecord], embeddings: np.ndarray) -> None:
        for i in range(0, len(ids), self.max_batch):
            part = slice(i, i + self.max_batch)
            metadatas = [to_chroma(r) for r in records[part]]
            if self.version is not None:  # shared: stamped with the writing version
                from qa.index.shared import stamped

                metadatas = [stamped(m, self.version) for m in metadatas]
            (self.collection.upsert if self.version is not None else self.collection.add)(
                ids=list(ids[part]),
                documents=list(texts[part]),
                metadatas=metadatas,
                embeddings=embeddings[part],
            )

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks; on a shared server, stamp them deleted by this version (kept versions
        still show them until they are collected)."""
        for i in range(0, len(ids), self.max_batch):
            part = list(ids[i : i + self.max_batch])
            if self.version is not None:
                from qa.index.shared import DELETED

                self.collection.update(ids=part, metadatas=[{DELETED: self.version}] * len(part))
            else:
                self.collection.delete(ids=part)

    def query(self, vector: np.ndarray, n: int, filters: SearchFilters | None = None) -> list[Hit]:
        total = int(self.collection.count())  # every row: a bound for n_results
        if total == 0:
            return []
        where = chroma_where(filters)
        if self.version is not None:
            from qa.index.shared import live_at

            where = live_at(self.version) if where is None else {"$and": [where, live_at(self.version)]}
        res = self.collection.query(
            query_embeddings=[vector],
            n_results=min(n, total),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(cid, 1.0 - float(dist), doc or "", from_chroma(meta))
            for cid, dist, doc, meta in zip(
                res["ids"][0], res["distances"][0], res["documents"][0], res["metadatas"][0]
            )
        ]

    def get(self, ids: Sequence[str]) -> list[tuple[str, str, ChunkRecord, np.ndarray]]:
        """(id, text, record, embedding) of the given chunks."""
        res = self.collection.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
        return [
            (cid, doc or "", from_chroma(meta), np.asarray(emb, dtype=np.float32))
            for cid, doc, meta, emb in zip(res["ids"], res["documents"], res["metadatas"], res["embeddings"])
        ]

    def texts(self, ids: Sequence[str]) -> list[tuple[str, str, ChunkRecord]]:
        """(id, text, record) of the given chunks, in no particular order."""
        if not ids:
            return []
        res = self.collection.get(ids=list(dict.fromkeys(ids)), include=["documents", "metadatas"])
        return [(cid, doc or "", from_chroma(meta)) for cid, doc, meta in zip(res["ids"], res["documents"], res["metadatas"])]

    def ids(self, page: int = 10_000) -> list[str]:
        """Every chunk id this store shows."""
        out: list[str] = []
        for got in self._raw_pages(page, include=[]):
            out += got["ids"]
        return out

    def live(self) -> dict[str, tuple[str, ChunkRecord]]:
        """Every chunk this store shows: id → (text, record)."""
        return rows_of(self.pages())

    def commit(self, rows: Any = None) -> None:
        """Nothing to do: a server's rows are written as they come (see chroma_parts for the
        embedded store's)."""

    def pages(self, page: int = 2000) -> Iterator[tuple[list[str], list[str], list[ChunkRecord], np.ndarray]]:
        """Every chunk, a page at a time: (ids, texts, records, embeddings)."""
        for got in self._raw_pages(page):
            records = [from_chroma(m) for m in got["metadatas"]]
            docs = [d or "" for d in got["documents"]]
            yield list(got["ids"]), docs, records, np.asarray(got["embeddings"], dtype=np.float32)

    def copy_from(self, other: VectorStore, page: int = 2000) -> None:
        """Copy every chunk of another store (a generation an older qa wrote in its own remote
        collection moves into a shared epoch once), stamped with this store's version."""
        from qa.index.shared import stamped

        for got in other._raw_pages(page):
            metadatas = [stamped(dict(m or {}), self.version or 0) for m in got["metadatas"]]
            self.collection.upsert(ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"], metadatas=metadatas)

    def _raw_pages(self, page: int, include: list[str] | None = None) -> Iterator[Any]:
        """This generation's rows (on a shared server: those its version shows)."""
        where = None
        if self.version is not None:
            from qa.index.shared import live_at

            where = live_at(self.version)
        offset = 0
        while True:
            got = self.collection.get(
                limit=page, offset=offset, where=where, include=include if include is not None else ["embeddings", "documents", "metadatas"]
            )
            if not got["ids"]:
                return
            yield got
            offset += len(got["ids"])

    def close(self) -> None:
        """Release Chroma's per-path system so the folder can be copied, renamed or removed —
        once no other store of this process has the same folder open (Chroma shares one system
        per path: stopping it under another open store breaks that store's queries)."""
        if self.remote or self._closed:
            return
        self._closed = True
        with _open_lock:
            key = str(self.path)
            _open_count[key] -= 1
            if _open_count[key] > 0:
                return
            del _open_count[key]
            release_chroma(self.path)


_open_lock = threading.Lock()
_open_count: Counter[str] = Counter()  # local Chroma folder → stores of this process that have it open


def release_chroma(path: Path) -> None:
    try:
        from chromadb.api.shared_system_client import SharedSystemClient
    except ImportError:  # pragma: no cover
        return
    registry = getattr(SharedSystemClient, "_identifier_to_system", {})
    for ident in [k for k in registry if str(k) == str(path)]:
        system = registry.pop(ident)
        try:
            system.stop()
        except Exception:
            pass
