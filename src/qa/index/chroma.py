"""The dense half of the store: one Chroma collection per generation (embedded folder)."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.types import Article, Chunk

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

CHROMA_DIR = "chroma"
UNKNOWN_DAY = -1


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    similarity: float
    text: str
    metadata: dict[str, Any]


def chunk_metadata(article: Article, chunk: Chunk) -> dict[str, Any]:
    """What each vector carries so a hit can be cited and filtered without another look-up,
    including the dates its relative expressions resolve to ("on Saturday" → 2025-11-15)."""
    from qa.temporal import event_days

    pub = article.published_at
    first, last, spans = event_days(chunk.text, pub)
    return {
        "event_first_day": first,
        "event_last_day": last,
        "event_dates": spans,
        "doc_id": article.doc_id,
        "chunk_index": chunk.index,
        "start": chunk.start,
        "end": chunk.end,
        "title": article.title,
        "url": article.url,
        "source": article.source,
        "published_at": pub.isoformat() if pub else "",
        "published_day": pub.toordinal() if pub else UNKNOWN_DAY,
    }


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


def remote_collection_name(collection: str, gen: Path) -> str:
    """One collection per index generation on a Chroma server."""
    return f"{collection}-{index_id(gen.parent)}-{gen.name}"


def http_client(url: str, headers: dict[str, str]) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from urllib.parse import urlparse

    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        from qa.errors import UsageError

        raise UsageError(f"--chroma-url / QA_CHROMA_URL: {url!r} is not an http(s)://host:port URL")
    try:
        return chromadb.HttpClient(
            host=u.hostname,
            port=u.port or (443 if u.scheme == "https" else 8000),
            ssl=u.scheme == "https",
            headers=headers or None,
            settings=ChromaSettings(anonymized_telemetry=False),
        )
    except Exception as e:
        from qa.errors import QAError

        raise QAError(f"Chroma server {url} is not reachable: {str(e).splitlines()[0][:200]}") from None


class VectorStore:
    def __init__(
        self,
        gen: Path,
        *,
        collection: str,
        model: str,
        device: str = "cpu",
        chroma_url: str | None = None,
        chroma_headers: dict[str, str] | None = None,
    ):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        from qa.embeddings import chroma_embedding_function

        self.path = gen / CHROMA_DIR
        self.remote = chroma_url is not None
        if chroma_url:
            self.client = http_client(chroma_url, chroma_headers or {})
            collection = remote_collection_name(collection, gen)
        else:
            with _open_lock:
                self.client = chromadb.PersistentClient(
                    path=str(self.path),
                    settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
                )
                _open_count[str(self.path)] += 1
        self._closed = False
        self.collection = self.client.get_or_create_collection(
            collection,
            embedding_function=chroma_embedding_function(model, device),
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"qa:model": model},
        )
        self.max_batch = int(self.client.get_max_batch_size())

    def count(self) -> int:
        return int(self.collection.count())

    def add(
        self,
        chunks: Sequence[Chunk],
        metadatas: Sequence[dict[str, Any]],
        embeddings: np.ndarray,
    ) -> None:
        for i in range(0, len(chunks), self.max_batch):
            part = slice(i, i + self.max_batch)
            self.collection.add(
                ids=[c.chunk_id for c in chunks[part]],
                documents=[c.text for c in chunks[part]],
                metadatas=list(metadatas[part]),
                embeddings=embeddings[part],
            )

    def delete(self, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), self.max_batch):
            self.collection.delete(ids=list(ids[i : i + self.max_batch]))

    def query(self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None) -> list[Hit]:
        total = self.count()
        if total == 0:
            return []
        res = self.collection.query(
            query_embeddings=[vector],
            n_results=min(n, total),
            where=where or None,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(cid, 1.0 - float(dist), doc or "", dict(meta or {}))
            for cid, dist, doc, meta in zip(
                res["ids"][0], res["distances"][0], res["documents"][0], res["metadatas"][0]
            )
        ]

    def get(self, ids: Sequence[str]) -> list[tuple[str, str, dict[str, Any], np.ndarray]]:
        """(id, text, metadata, embedding) of the given chunks."""
        res = self.collection.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
        return [
            (cid, doc or "", dict(meta or {}), np.asarray(emb, dtype=np.float32))
            for cid, doc, meta, emb in zip(res["ids"], res["documents"], res["metadatas"], res["embeddings"])
        ]

    def texts(self, ids: Sequence[str]) -> list[tuple[str, str, dict[str, Any]]]:
        """(id, text, metadata) of the given chunks, in no particular order."""
        if not ids:
            return []
        res = self.collection.get(ids=list(dict.fromkeys(ids)), include=["documents", "metadatas"])
        return [(cid, doc or "", dict(meta or {})) for cid, doc, meta in zip(res["ids"], res["documents"], res["metadatas"])]

    def copy_from(self, other: VectorStore, page: int = 2000) -> None:
        """Copy every vector of another store (a remote generation starts as its predecessor)."""
        total = other.count()
        for offset in range(0, total, page):
            got = other.collection.get(limit=page, offset=offset, include=["embeddings", "documents", "metadatas"])
            if got["ids"]:
                self.collection.add(ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"], metadatas=got["metadatas"])

    def drop_other_generations(self, keep: set[str], prefix: str) -> None:
        """Delete this index's remote collections whose generation is no longer kept."""
        for col in self.client.list_collections():
            name = col if isinstance(col, str) else col.name
            if name.startswith(prefix) and name.rsplit("-", 2)[-2] + "-" + name.rsplit("-", 1)[-1] not in keep:
                try:
                    self.client.delete_collection(name)
                except Exception:
                    pass

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
