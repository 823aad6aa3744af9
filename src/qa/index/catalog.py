"""The document catalog of one generation (SQLite): what was ingested, from where, with what hash,
and the cleaned text every citation offset refers to. Rebuilds re-embed from here."""

from __future__ import annotations

import json
import sqlite3
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import QAError, index_public
from qa.types import Article

if TYPE_CHECKING:  # numpy is imported on use: `qa index stats` stays light
    import numpy as np

_ALIAS_COLUMNS = "alias_id, doc_id, path, url, hash, text, title, source, published_at, authors"

FILE = "catalog.sqlite"


class Catalog:
    """One generation's catalog. Read-only unless ``writable`` (the writer's own new generation,
    whose schema it brings up to date with qa.index.migrations): a published one is never written."""

    def __init__(self, gen: Path, *, writable: bool = False):
        self.path = gen / FILE
        try:
            if writable:
                self.db = sqlite3.connect(self.path, check_same_thread=False)
            else:
                uri = f"file:{urllib.parse.quote(str(self.path))}?mode=ro"
                self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads its header
        except sqlite3.DatabaseError as e:  # not a database, or no file to read: a damaged generation
            if hasattr(self, "db"):
                self.db.close()
            raise QAError(
                f"{self.path}: the index's catalog cannot be read ({e}); restore the index folder from a backup",
                public=index_public("is damaged (its catalog cannot be read)"),
            ) from None

    def close(self) -> None:
        self.db.close()

    def commit(self) -> None:
        self.db.commit()

    # ------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------ documents
    def hashes(self) -> dict[str, tuple[str, int]]:
        """doc_id → (content hash, number of chunks), for the incremental ingest plan."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT doc_id, hash, n_chunks FROM documents")}

    def text_hashes(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.db.execute("SELECT text_hash, doc_id FROM documents")}

    def aliases(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.db.execute("SELECT alias_id, doc_id FROM aliases")}

    def put(self, article: Article, n_chunks: int, key: str | None = None) -> None:
        """Record an indexed document; ``key``: what its chunk ids start with (``article.key``
        unless a shared server gave this write a key of its own)."""
        self.db.execute(
            "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                article.doc_id,
                key or article.key,
                article.hash,
                article.text_hash,
                article.title,
                article.url,
                article.source,
                article.published_at.isoformat() if article.published_at else None,
                json.dumps(list(article.authors)),
                article.path,
                article.text,
                n_chunks,
                datetime.now(timezone.utc).isoformat(timespec="seconds"),
            ),
        )
        self.db.execute("DELETE FROM aliases WHERE alias_id=?", (article.doc_id,))

    def put_alias(self, alias: Alias) -> None:
        a = alias.article
        self.db.execute(
            f"INSERT OR REPLACE INTO aliases ({_ALIAS_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                alias.alias_id,
                alias.doc_id,
                alias.path,
                alias.url,
                a.hash if a else None,
                a.text if a else None,
                a.title if a else None,
                a.source if a else None,
                a.published_at.isoformat() if a and a.published_at else None,
                json.dumps(list(a.authors)) if a else None,
            ),
        )

    def alias_rows(self, doc_id: str | None = None) -> list[Alias]:
        """Every alias, or the aliases of ``doc_id`` (the document they duplicate)."""
        sql = f"SELECT {_ALIAS_COLUMNS} FROM aliases"
        rows = self.db.execute(sql + " WHERE doc_id=? ORDER BY rowid", (doc_id,)) if doc_id else self.db.execute(sql + " ORDER BY rowid")
        return [_alias(r) for r in rows]

    def held(self, doc_id: str) -> Article | None:
        """What the catalog holds for ``doc_id``: the indexed document, else a duplicate's own
        content (None: neither, or an alias an older qa kept only as a path)."""
        article = self.get(doc_id)
        if article is not None:
            return article
        row = self.db.execute(f"SELECT {_ALIAS_COLUMNS} FROM aliases WHERE alias_id=?", (doc_id,)).fetchone()
        return _alias(row).article if row else None

    def alias_hashes(self) -> dict[str, str]:
        """alias_id → content hash of the aliases whose content is stored."""
        return {r[0]: r[1] for r in self.db.execute("SELECT alias_id, hash FROM aliases WHERE hash IS NOT NULL")}

    def recorded_paths(self) -> dict[str, str]:
        """doc_id → where it was last recorded, of documents and aliases."""
        rows = self.db.execute("SELECT doc_id, path FROM documents UNION ALL SELECT alias_id, path FROM aliases")
        return {r[0]: r[1] for r in rows}

    def sources(self) -> dict[str, set[str]]:
        """doc_id or alias_id → every recorded origin that provided it."""
        out: dict[str, set[str]] = {}
        for doc_id, path in self.db.execute("SELECT id, path FROM sources"):
            out.setdefault(doc_id, set()).add(path)
        return out

    def add_origin(self, doc_id: str, path: str) -> None:
        """Record that ``path`` provides ``doc_id``; where it was last read stays."""
        self.db.execute("INSERT OR IGNORE INTO sources VALUES (?, ?)", (doc_id, path))

    def add_source(self, doc_id: str, path: str) -> None:
        """Record that ``path`` provides ``doc_id``, and that it was last read there."""
        self.add_origin(doc_id, path)
        self.db.execute("UPDATE documents SET path=? WHERE doc_id=?", (path, doc_id))
        self.db.execute("UPDATE aliases SET path=? WHERE alias_id=?", (path, doc_id))

    def remove_source(self, doc_id: str, path: str) -> str | None:
        """``path`` no longer provides ``doc_id``; returns the origin left that is now where it
        was last recorded (the latest one recorded), None when none is left."""
        self.db.execute("DELETE FROM sources WHERE id=? AND path=?", (doc_id, path))
        left = self.db.execute("SELECT path FROM sources WHERE id=? ORDER BY rowid DESC", (doc_id,)).fetchone()
        if left is None:
            return None
        self.db.execute("UPDATE documents SET path=? WHERE doc_id=?", (left[0], doc_id))
        self.db.execute("UPDATE aliases SET path=? WHERE alias_id=?", (left[0], doc_id))
        return str(left[0])

    def drop_sources(self, doc_id: str) -> None:
        """Forget every origin of ``doc_id`` (its document or alias is gone for good)."""
        self.db.execute("DELETE FROM sources WHERE id=?", (doc_id,))

    def copy_sources(self, other: Catalog) -> None:
        """Take ``other``'s recorded origins (a rebuild keeps them)."""
        self.db.executemany(
            "INSERT OR IGNORE INTO sources VALUES (?, ?)", other.db.execute("SELECT id, path FROM sources")
        )

    def delete(self, doc_id: str) -> int:
        """Remove a document's row and signature; returns how many chunks it had. Its aliases
        stay: what becomes of them is the caller's decision (see ``delete_aliases_of``)."""
        row = self.db.execute("SELECT n_chunks FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        self.db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
        self.db.execute("DELETE FROM aliases WHERE alias_id=?", (doc_id,))
        self.db.execute("DELETE FROM doc_minhash WHERE doc_id=?", (doc_id,))
        return int(row[0]) if row else 0

    # ------------------------------------------------------------ near-duplicate signatures
    def signatures(self) -> Iterator[tuple[str, np.ndarray]]:
        """doc_id → its MinHash signature (qa.ingest.neardup), for the indexed documents."""
        import numpy as np

        for doc_id, blob in self.db.execute("SELECT doc_id, sig FROM doc_minhash"):
            yield doc_id, np.frombuffer(blob, dtype=np.uint32)

    def put_signature(self, doc_id: str, sig: np.ndarray) -> None:
        import numpy as np

        self.db.execute("INSERT OR REPLACE INTO doc_minhash VALUES (?, ?)", (doc_id, np.asarray(sig, dtype=np.uint32).tobytes()))

    def get(self, doc_id: str) -> Article | None:
        row = self.db.execute(
            "SELECT doc_id, text, title, url, source, published_at, authors, path FROM documents "
            "WHERE doc_id=?",
            (doc_id,),
        ).fetchone()
        return _article(row) if row else None

    def key_of(self, doc_id: str) -> str | None:
        row = self.db.execute("SELECT key FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        return row[0] if row else None

    def articles(self) -> Iterator[Article]:
        for article, _, _ in self.articles_with_keys():
            yield article

    def articles_with_keys(self) -> Iterator[tuple[Article, int, str]]:
        """(article, its number of chunks, the key its chunk ids start with)."""
        cur = self.db.execute(
            "SELECT doc_id, text, title, url, source, published_at, authors, path, n_chunks, key FROM documents ORDER BY rowid"
        )
        for row in cur:
            yield _article(row[:8]), int(row[8]), str(row[9])

    def documents(self) -> list[DocumentInfo]:
        """Every indexed document's id, title, source, date, chunk count, url and path, in ingest order."""
        rows = self.db.execute("SELECT doc_id, title, source, published_at, n_chunks, url, path FROM documents ORDER BY rowid")
        return [DocumentInfo(d, t, s, date.fromisoformat(p) if p else None, n, u, f) for d, t, s, p, n, u, f in rows]

    def delete_alias(self, alias_id: str) -> None:
        self.db.execute("DELETE FROM aliases WHERE alias_id=?", (alias_id,))

    def delete_aliases_of(self, doc_id: str) -> None:
        """Drop the duplicates recorded for ``doc_id``, with their origins (`qa index rm` removes
        a story with them)."""
        self.db.execute("DELETE FROM sources WHERE id IN (SELECT alias_id FROM aliases WHERE doc_id=?)", (doc_id,))
        self.db.execute("DELETE FROM aliases WHERE doc_id=?", (doc_id,))

    def counts(self) -> tuple[int, int]:
        """(indexed documents, their chunks)."""
        docs, chunks = self.db.execute("SELECT COUNT(*), COALESCE(SUM(n_chunks),0) FROM documents").fetchone()
        return int(docs), int(chunks)

    def source_names(self) -> list[str]:
        """The source names the indexed documents carry (what a source filter matches), sorted."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT source FROM documents WHERE source != '' ORDER BY source")]

    def stats(self) -> dict[str, object]:
        docs, chunks = self.counts()
        lo, hi = self.db.execute("SELECT MIN(published_at), MAX(published_at) FROM documents").fetchone()
        undated = self.db.execute("SELECT COUNT(*) FROM documents WHERE published_at IS NULL").fetchone()[0]
        n_alias = self.db.execute("SELECT COUNT(*) FROM aliases").fetchone()[0]
        return {
            "documents": docs,
            "chunks": chunks,
            "duplicates": n_alias,
            "undated": undated,
            "published_from": lo,
            "published_to": hi,
        }


@dataclass(frozen=True)
class DocumentInfo:
    """One line of `qa index ls`: an indexed document without its text."""

    doc_id: str
    title: str
    source: str
    published_at: date | None
    chunks: int
    url: str = ""
    path: str = ""  # the file it was read from (absolute), "-" for stdin, "<api>" for the Python API and /ingest

    def to_dict(self) -> dict[str, object]:
        return {"doc_id": self.doc_id, "title": self.title, "source": self.source,
                "published_at": self.published_at.isoformat() if self.published_at else None, "chunks": self.chunks,
                "url": self.url, "path": self.path}


@dataclass(frozen=True)
class Alias:
    """A duplicate kept as a link to the indexed ``doc_id``, with its own content (``article``;
    None for rows written by an older qa, which kept only the file path)."""

    alias_id: str
    doc_id: str
    path: str
    url: str
    article: Article | None

    @classmethod
    def of(cls, article: Article, doc_id: str) -> Alias:
        return cls(article.doc_id, doc_id, article.path, article.url, article)


def _alias(row: tuple) -> Alias:
    alias_id, doc_id, path, url, _hash, text, title, source, published, authors = row
    article = None
    if text is not None:
        article = _article((alias_id, text, title or "", url, source or "", published, authors or "[]", path))
    return Alias(alias_id, doc_id, path, url, article)


def _article(row: tuple) -> Article:
    doc_id, text, title, url, source, published, authors, path = row
    return Article(
        doc_id=doc_id,
        text=text,
        title=title,
        url=url,
        source=source,
        published_at=date.fromisoformat(published) if published else None,
        authors=tuple(json.loads(authors)),
        path=path,
    )
