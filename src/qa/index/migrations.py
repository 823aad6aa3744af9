"""Upgrades of a generation written by an older qa, as one ordered list (as simonw/llm's
migrations.py): each ``@migration`` function runs once per catalog, in order, and is recorded in
the catalog's ``meta`` table (key ``migration:<name>``) with the rest of the change.

Only the writer applies them, to the generation it is building (IndexWriter: an index whose live
generation has pending migrations is first republished migrated); readers read any catalog as it
is. A catalog written before this list existed records none, so every migration is idempotent.

Not in the list: the exact-search matrix and the BM25 index of an older generation. They are
derived data, rebuilt from the Chroma store of record whenever a generation lacks them (by what
is on disk, not by a record): IndexWriter's backfill.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

Migration = Callable[[sqlite3.Connection, Path], None]
MIGRATIONS: list[Migration] = []
_RECORD = "migration:"


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def applied(db: sqlite3.Connection) -> set[str]:
    if not _has_table(db, "meta"):
        return set()
    rows = db.execute("SELECT key FROM meta WHERE key LIKE ?", (_RECORD + "%",))
    return {key.removeprefix(_RECORD) for (key,) in rows}


def pending(db: sqlite3.Connection) -> list[str]:
    done = applied(db)
    return [fn.__name__ for fn in MIGRATIONS if fn.__name__ not in done]


def apply(db: sqlite3.Connection, gen: Path) -> list[str]:
    """Run the migrations ``db`` (the catalog of generation ``gen``) has not recorded, each in
    one transaction with its record; returns their names."""
    done = applied(db)
    ran: list[str] = []
    db.commit()
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            fn(db, gen)
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                (_RECORD + fn.__name__, datetime.now(timezone.utc).isoformat(timespec="seconds")),
            )
            db.commit()
        except BaseException:
            db.rollback()
            raise
        ran.append(fn.__name__)
    return ran


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


# ---------------------------------------------------------------- the list, oldest first


@migration
def m001_catalog(db: sqlite3.Connection, gen: Path) -> None:
    """The catalog as the first qa wrote it: metadata, documents, duplicates kept as links."""
    for statement in (
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE IF NOT EXISTS documents (
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
        )""",
        "CREATE INDEX IF NOT EXISTS documents_text_hash ON documents(text_hash)",
        "CREATE INDEX IF NOT EXISTS documents_path ON documents(path)",
        """CREATE TABLE IF NOT EXISTS aliases (
            alias_id TEXT PRIMARY KEY,
            doc_id TEXT NOT NULL,
            path TEXT NOT NULL DEFAULT '',
            url TEXT NOT NULL DEFAULT ''
        )""",
    ):
        db.execute(statement)


@migration
def m002_doc_minhash(db: sqlite3.Connection, gen: Path) -> None:
    """Near-duplicate detection: each document's MinHash signature (Catalog.signatures)."""
    db.execute("CREATE TABLE IF NOT EXISTS doc_minhash (doc_id TEXT PRIMARY KEY, sig BLOB NOT NULL)")


@migration
def m003_drop_bm25s(db: sqlite3.Connection, gen: Path) -> None:
    """BM25 moved to tantivy (``bm25/``): drop the token table and ``lexical/`` folder of bm25s."""
    db.execute("DROP TABLE IF EXISTS chunk_tokens")
    shutil.rmtree(gen / "lexical", ignore_errors=True)


@migration
def m004_alias_content(db: sqlite3.Connection, gen: Path) -> None:
    """An alias keeps its own content, so it can be indexed on its own when the document it
    duplicates is forgotten. Older rows get NULLs: their file is re-read then."""
    have = _columns(db, "aliases")
    for name in ("hash", "text", "title", "source", "published_at", "authors"):
        if name not in have:
            db.execute(f"ALTER TABLE aliases ADD COLUMN {name} TEXT")


@migration
def m005_sources(db: sqlite3.Connection, gen: Path) -> None:
    """Every origin (file path, `-`, `<api>`) that provided a document's or alias's identity
    (several files may carry one id); seeded from the ``path`` columns, where each was last read."""
    if _has_table(db, "sources"):
        return
    db.execute("CREATE TABLE sources (id TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (id, path))")
    db.execute("INSERT OR IGNORE INTO sources SELECT doc_id, path FROM documents")
    db.execute("INSERT OR IGNORE INTO sources SELECT alias_id, path FROM aliases")


@migration
def m006_plan_index(db: sqlite3.Connection, gen: Path) -> None:
    """One index covering what an ingest's plan and totals read of every document. Without it each
    such read walked every row past its text (``n_chunks`` comes after it): ~0.1 s of a small
    ingest at 10k documents, against ~0.02 s."""
    db.execute("CREATE INDEX IF NOT EXISTS documents_plan ON documents(doc_id, hash, n_chunks, text_hash, path)")
