"""Migrations: an older catalog reaches the schema of a new one; readers never write; the writer
republishes an older live generation migrated instead of changing it."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from qa.index import migrations
from qa.index.catalog import FILE, Catalog

OLDEST = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, key TEXT NOT NULL, hash TEXT NOT NULL, text_hash TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '', url TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '',
    published_at TEXT, authors TEXT NOT NULL DEFAULT '[]', path TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL, n_chunks INTEGER NOT NULL, ingested_at TEXT NOT NULL
);
CREATE TABLE aliases (alias_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, path TEXT NOT NULL DEFAULT '', url TEXT NOT NULL DEFAULT '');
CREATE TABLE chunk_tokens (chunk_id TEXT, tokens TEXT);
INSERT INTO meta VALUES ('embedding_model', 'sentence-transformers/all-MiniLM-L6-v2');
INSERT INTO documents VALUES ('d1', 'k1', 'h1', 't1', 'Title', '', 'wire', '2025-03-01', '[]', '/src/a.txt', 'Text.', 1, '2025-03-02');
INSERT INTO aliases VALUES ('d2', 'd1', '/src/b.txt', '');
"""


def older_generation(gen: Path) -> Path:
    """A generation as an older qa left it: the first catalog schema, the bm25s leftovers."""
    gen.mkdir(parents=True)
    db = sqlite3.connect(gen / FILE)
    db.executescript(OLDEST)
    db.close()
    (gen / "lexical").mkdir()
    (gen / "lexical" / "index.pkl").write_text("bm25s")
    return gen


def schema(db: sqlite3.Connection) -> dict[str, list[tuple]]:
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    return {t: [tuple(r) for r in db.execute(f"PRAGMA table_info({t})")] for t in tables}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_older_catalog_migrates_to_the_schema_of_a_new_one(tmp_path: Path) -> None:
    (tmp_path / "new").mkdir()
    new = Catalog(tmp_path / "new", writable=True)
    assert migrations.apply(new.db, tmp_path / "new") == [m.__name__ for m in migrations.MIGRATIONS]
    old_gen = older_generation(tmp_path / "old")
    old = Catalog(old_gen, writable=True)
    assert migrations.pending(old.db) == [m.__name__ for m in migrations.MIGRATIONS]
    migrations.apply(old.db, old_gen)
    assert schema(old.db) == schema(new.db)
    assert migrations.pending(old.db) == [] and migrations.apply(old.db, old_gen) == []
    assert old.sources() == {"d1": {"/src/a.txt"}, "d2": {"/src/b.txt"}}  # seeded from the paths
    (alias,) = old.alias_rows()
    assert alias.article is None  # content unknown: its file is re-read when needed
    assert not (old_gen / "lexical").exists()


def test_a_reader_reads_an_older_catalog_and_never_writes(tmp_path: Path) -> None:
    gen = older_generation(tmp_path / "gen")
    before = digest(gen / FILE)
    cat = Catalog(gen)
    assert cat.stats()["documents"] == 1 and cat.aliases() == {"d2": "d1"}
    assert [a.doc_id for a in cat.articles()] == ["d1"]
    with pytest.raises(sqlite3.OperationalError):
        cat.set_meta("x", "y")
    cat.close()
    assert digest(gen / FILE) == before


def test_the_writer_republishes_an_older_generation_migrated(tmp_path: Path) -> None:
    from qa.index.generations import Generations
    from qa.index.writer import IndexWriter
    from qa.settings import Settings

    root = tmp_path / "index"
    gen = older_generation(root / "gen-000001")
    (root / "CURRENT").write_text("gen-000001\n")
    before = digest(gen / FILE)
    with IndexWriter(Settings(index=root)) as writer:
        assert writer.base is not None and writer.base.sources() == {"d1": {"/src/a.txt"}, "d2": {"/src/b.txt"}}
        writer.commit()  # nothing written: nothing more published
    live = Generations(root).current()
    assert live is not None and live.name == "gen-000002"
    assert digest(gen / FILE) == before and (gen / "lexical").exists()  # the published one: untouched
    cat = Catalog(live)
    assert migrations.pending(cat.db) == [] and cat.get("d1") is not None
    cat.close()


def test_what_an_ingest_reads_of_every_document_never_walks_the_texts(tmp_path: Path) -> None:
    """The plan's and the totals' reads of every document (ids, hashes, chunk counts, paths) come
    from one covering index: a table scan reads each row's text on the way (0.1 s at 10k documents,
    at every small ingest). Checked on the queries the catalog really runs."""
    older_generation(tmp_path / "gen")
    cat = Catalog(tmp_path / "gen", writable=True)
    migrations.apply(cat.db, tmp_path / "gen")
    ran: list[str] = []
    cat.db.set_trace_callback(ran.append)
    cat.hashes(), cat.text_hashes(), cat.recorded_paths(), cat.counts()
    cat.db.set_trace_callback(None)
    assert len(ran) == 4
    for sql in ran:
        plan = " | ".join(row[-1] for row in cat.db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "SCAN documents USING COVERING INDEX" in plan, (sql, plan)
