"""The lexical half of the search: BM25 over each chunk's indexed text (title, date, text), in tantivy.

tantivy keeps the index in immutable segments and merges them in the background, so an ingest
adds and deletes documents without rebuilding anything, and corpus statistics (IDF) stay global.
Segment files are never modified, so a new generation hard-links them from its predecessor;
only the two small metadata files are copied.

Analysis: simple tokenizer, lowercase, English stop words, Snowball English stemmer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from qa.index.filters import SearchFilters
from qa.index.records import UNDATED

LEXICAL_DIR = "bm25"
ANALYZER = "qa_en"
_MUTABLE = ("meta.json", ".managed.json")  # tantivy replaces these atomically: copy, don't link
_LOCKS = (".tantivy-writer.lock", ".tantivy-meta.lock")


def exists(gen: Path) -> bool:
    return (gen / LEXICAL_DIR / "meta.json").exists()


def copy_mode(relative: str) -> str:
    """How a generation copy treats a file: "link", "copy" or "skip"."""
    if not relative.startswith(LEXICAL_DIR + os.sep):
        return "copy"
    name = os.path.basename(relative)
    if name in _LOCKS:
        return "skip"
    return "copy" if name in _MUTABLE else "link"


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


@lru_cache(maxsize=1)
def _schema() -> Any:
    import tantivy

    b = tantivy.SchemaBuilder()
    b.add_text_field("chunk_id", stored=True, tokenizer_name="raw")
    b.add_text_field("doc_id", tokenizer_name="raw")
    b.add_text_field("source", tokenizer_name="raw")
    b.add_integer_field("day", indexed=True, fast=True)
    b.add_text_field("text", tokenizer_name=ANALYZER)
    return b.build()


def _open(gen: Path, create: bool) -> Any:
    import tantivy

    folder = gen / LEXICAL_DIR
    if create:
        folder.mkdir(exist_ok=True)
    index = tantivy.Index(_schema(), path=str(folder), reuse=True)
    index.register_tokenizer(ANALYZER, _analyzer())
    return index


def terms(text: str) -> list[str]:
    """The analysed terms of a text (what BM25 matches on)."""
    return list(dict.fromkeys(_analyzer().analyze(text)))


def lexical_text(title: str, published_at: str, text: str) -> str:
    """What BM25 sees: title, date (ISO and month name, so "January 2023" matches) and text."""
    when = ""
    if published_at:
        from datetime import date

        d = date.fromisoformat(published_at)
        when = f"{published_at} {d.strftime('%B %Y')}"
    return f"{title}\n{when}\n{text}"


class LexicalWriter:
    """Adds and deletes chunks in a generation's BM25 index (which starts as its predecessor's)."""

    def __init__(self, gen: Path, heap_bytes: int = 64_000_000):
        self.index = _open(gen, create=True)
        self._writer = self.index.writer(heap_size=heap_bytes, num_threads=1)
        self._dirty = False

    def add(self, rows: Iterable[tuple[str, str, int, str, str]]) -> None:
        """Rows of (chunk_id, doc_id, published day, source, indexed text)."""
        import tantivy

        for chunk_id, doc_id, day, source, text in rows:
            self._writer.add_document(
                tantivy.Document(chunk_id=chunk_id, doc_id=doc_id, day=int(day), source=source, text=text)
            )
            self._dirty = True

    def delete_doc(self, doc_id: str) -> None:
        self._writer.delete_documents_by_term("doc_id", doc_id)
        self._dirty = True

    def commit(self) -> None:
        """Make the changes durable and let background merges finish before the folder is published."""
        if self._dirty:
            self._writer.commit()
        self._writer.wait_merging_threads()
        self._writer = None

    def rollback(self) -> None:
        if self._writer is not None:
            self._writer.rollback()
            self._writer = None


class LexicalIndex:
    """A published BM25 index."""

    def __init__(self, gen: Path):
        self.index = _open(gen, create=False)
        self.searcher = self.index.searcher()

    def __len__(self) -> int:
        return int(self.searcher.num_docs)

    def search(self, query: str, n: int, filters: SearchFilters | None = None) -> list[tuple[str, float]]:
        """(chunk_id, BM25 score) best first, among chunks the filters let through."""
        import tantivy

        words = terms(query)
        if not words:
            return []
        schema = self.index.schema
        text = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "text", w, index_option="freq")) for w in words]
        )
        clauses: list[tuple[Any, Any]] = [(tantivy.Occur.Must, text)]
        f = filters or SearchFilters()
        # UNDATED sorts below every real day: a range with no lower bound lets undated chunks
        # through, which is right exactly when the filters are not dated-only (a first day
        # implies dated-only).
        low = f.first_day if f.first_day is not None else (UNDATED + 1 if f.dated_only else None)
        high = f.last_day
        if low is not None or high is not None:
            rng = tantivy.Query.range_query(schema, "day", tantivy.FieldType.Integer, low, high)
            clauses.append((tantivy.Occur.Must, tantivy.Query.const_score_query(rng, 0.0)))
        if f.source is not None:
            clauses.append((tantivy.Occur.Must, tantivy.Query.const_score_query(tantivy.Query.term_query(schema, "source", f.source), 0.0)))
        q = tantivy.Query.boolean_query(clauses) if len(clauses) > 1 else text
        result = self.searcher.search(q, limit=n, count=False)
        return [(self.searcher.doc(addr)["chunk_id"][0], float(score)) for score, addr in result.hits]
