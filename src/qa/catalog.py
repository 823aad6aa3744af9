"""The document catalog of one generation (SQLite): what was ingested, from where, with what hash,
and the cleaned text every citation offset refers to. Rebuilds re-embed from here."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

from qa.types import Article

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    hash TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    published_at TEXT,
    authors TEXT NOT NULL DEFAULT '[]',
    path TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_text_hash ON documents(text_hash);
CREATE INDEX IF NOT EXISTS documents_path ON documents(path);
CREATE TABLE IF NOT EXISTS aliases (
    alias_id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    path TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL DEFAULT ''
);
"""

FILE = "catalog.sqlite"


class Catalog:
    def __init__(self, gen: Path):
        self.path = gen / FILE
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.executescript(_SCHEMA)

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

    def put(self, article: Article, n_chunks: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                article.doc_id,
                article.key,
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

    def put_alias(self, alias_id: str, doc_id: str, path: str, url: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO aliases VALUES (?,?,?,?)", (alias_id, doc_id, path, url)
        )

    def delete(self, doc_id: str) -> int:
        """Remove a document (and aliases pointing at it); returns how many chunks it had."""
        row = self.db.execute("SELECT n_chunks FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        self.db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
        self.db.execute("DELETE FROM aliases WHERE doc_id=? OR alias_id=?", (doc_id, doc_id))
        from qa.ingest.neardup import delete_signature

        delete_signature(self.db, doc_id)
        return int(row[0]) if row else 0

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
        cur = self.db.execute(
            "SELECT doc_id, text, title, url, source, published_at, authors, path FROM documents "
            "ORDER BY rowid"
        )
        for row in cur:
            yield _article(row)

    def file_backed(self) -> list[tuple[str, str]]:
        """(doc_id, path) of documents and aliases read from files, for pruning."""
        rows = self.db.execute("SELECT doc_id, path FROM documents WHERE path NOT IN ('', '-')")
        alias_rows = self.db.execute("SELECT alias_id, path FROM aliases WHERE path NOT IN ('', '-')")
        return [*rows, *alias_rows]

    def ids_from_path(self, path: str) -> set[str]:
        docs = {r[0] for r in self.db.execute("SELECT doc_id FROM documents WHERE path=?", (path,))}
        aliases = {r[0] for r in self.db.execute("SELECT alias_id FROM aliases WHERE path=?", (path,))}
        return docs | aliases

    def is_alias(self, doc_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM aliases WHERE alias_id=?", (doc_id,)).fetchone() is not None

    def alias_paths_of(self, doc_id: str) -> list[str]:
        """Files holding duplicates of ``doc_id`` (their text is not stored, only where it was)."""
        rows = self.db.execute("SELECT DISTINCT path FROM aliases WHERE doc_id=? AND path NOT IN ('', '-')", (doc_id,))
        return [r[0] for r in rows]

    def delete_alias(self, alias_id: str) -> None:
        self.db.execute("DELETE FROM aliases WHERE alias_id=?", (alias_id,))

    def stats(self) -> dict[str, object]:
        docs, chunks, lo, hi = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(n_chunks),0), MIN(published_at), MAX(published_at) "
            "FROM documents"
        ).fetchone()
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
