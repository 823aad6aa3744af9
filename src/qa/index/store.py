"""The index: generations of (catalog + vectors), one reader API and one writer API.

Readers see one published generation from open to close. The writer copies the live generation
only when something changes, applies its changes there and publishes it atomically.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qa.index.catalog import Catalog
from qa.checkpoints import checkpoint
from qa.errors import IndexMissingError, ModelMismatchError
from qa.index.generations import Generations
from qa.settings import DEFAULT_MODEL, Settings
from qa.types import Article, Chunk

MODEL_KEY = "embedding_model"


def _canonical(name: str) -> str:
    from qa.embeddings import canonical_model_name

    return canonical_model_name(name)


def choose_model(settings: Settings, recorded: str | None) -> str:
    """The index's model unless the user asked for a different one, which is refused."""
    if settings.model and recorded and _canonical(settings.model) != recorded:
        raise ModelMismatchError(
            f"index {settings.resolved_index()} was built with embedding model {recorded!r}, not "
            f"{_canonical(settings.model)!r}; use another --index, or `qa index rebuild --model "
            f"{settings.model}` to re-embed it"
        )
    return recorded or _canonical(settings.model or DEFAULT_MODEL)


def folder_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


class IndexReader:
    """A published generation opened for reading (catalog now, vectors on first search)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.generations = Generations(settings.resolved_index())
        gen = self.generations.current()
        if gen is None:
            raise IndexMissingError(
                f"no index at {settings.resolved_index()}: run `qa ingest PATH` first"
            )
        self.gen = gen
        self.catalog = Catalog(gen)
        self.model = choose_model(settings, self.catalog.get_meta(MODEL_KEY))
        self._vectors: Any = None
        self._lexical: Any = None
        self._dense: Any = None

    @property
    def vectors(self) -> Any:
        if self._vectors is None:

            with self.generations.reading():
                self._vectors = open_vectors(self.settings, self.gen, self.model)
        return self._vectors

    @property
    def lexical(self) -> Any:
        """The BM25 index, or None for a generation written before it existed."""
        if self._lexical is None:
            from qa.index import lexical

            self._lexical = self._open_if_present(lexical, lexical.LexicalIndex)
        return self._lexical or None

    @property
    def dense(self) -> Any:
        """The exact-search matrix, or None for a generation written before it existed."""
        if self._dense is None:
            from qa.index import dense

            self._dense = self._open_if_present(dense, dense.DenseIndex)
        return self._dense or None

    def _open_if_present(self, module: Any, index_class: Any) -> Any:
        """``index_class(gen)`` if ``module.exists(gen)``, else False (remembered as "absent")."""
        with self.generations.reading():
            return index_class(self.gen) if module.exists(self.gen) else False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self.generations.reading():
            yield

    def stats(self) -> dict[str, Any]:
        s = self.catalog.stats()
        s.update(
            {
                "index": str(self.settings.resolved_index()),
                "generation": self.gen.name,
                "model": self.model,
                "chunk_chars": _int(self.catalog.get_meta("chunk_chars")),
                "size_bytes": folder_size(self.gen),
            }
        )
        return s

    def close(self) -> None:
        if self._vectors is not None:
            self._vectors.close()
            self._vectors = None
        self.catalog.close()


def open_vectors(settings: Settings, gen: Path, model: str) -> Any:
    from qa.index.chroma import VectorStore

    return VectorStore(
        gen,
        collection=settings.collection,
        model=model,
        device=settings.device,
        chroma_url=settings.chroma_url,
        chroma_headers=settings.chroma_headers,
    )


def _int(v: str | None) -> int | None:
    return int(v) if v is not None else None


class IndexWriter:
    """Plans against the live generation, writes into a new one, publishes on ``commit``.
    ``existing``: the index must already exist (IndexMissingError otherwise, creating nothing)."""

    def __init__(self, settings: Settings, *, fresh: bool = False, model: str | None = None, existing: bool = False):
        self.settings = settings
        self.generations = Generations(settings.resolved_index())
        self.fresh = fresh  # rebuild: start from an empty generation
        self.existing = existing
        self._model_override = model
        self.base: Catalog | None = None
        self.model = ""
        self.gen: Path | None = None
        self.catalog: Catalog | None = None
        self.vectors: Any = None
        self.dense: Any = None
        self.lexical: Any = None

    def __enter__(self) -> IndexWriter:
        if self.existing and self.generations.current() is None:  # before the lock creates the folder
            raise IndexMissingError(f"no index at {self.settings.resolved_index()}")
        self._lock = self.generations.writing(keep=self.settings.keep_generations)
        self._lock.__enter__()
        try:
            cur = self.generations.current()
            self.base = Catalog(cur) if cur is not None else None
            recorded = self.base.get_meta(MODEL_KEY) if self.base else None
            if self._model_override:
                self.model = _canonical(self._model_override)
            else:
                self.model = choose_model(self.settings, recorded)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._close_target()
            if self.base is not None:
                self.base.close()
        finally:
            self._lock.__exit__(None, None, None)

    def base_needs_upgrade(self) -> bool:
        from qa.index import dense, lexical

        cur = self.generations.current()
        return cur is not None and not (lexical.exists(cur) and dense.exists(cur))

    # ------------------------------------------------------------ target generation
    @property
    def started(self) -> bool:
        return self.gen is not None

    def start(self) -> None:
        """Create the generation we write to (lazily: an unchanged ingest writes nothing)."""
        if self.gen is not None:
            return
        copy = not self.fresh and self.base is not None
        self.gen = self.generations.new_generation(copy_current=copy)
        self.catalog = Catalog(self.gen)
        self.vectors = open_vectors(self.settings, self.gen, self.model)
        base = self.generations.current()
        if copy and base is not None and self.settings.chroma_url:  # remote: copy the live vectors
            previous = open_vectors(self.settings, base, self.model)
            self.vectors.copy_from(previous)
        from qa.index import dense, lexical

        had_dense, had_lexical = dense.exists(self.gen), lexical.exists(self.gen)
        self.dense = dense.DenseWriter(self.gen)
        self.lexical = lexical.LexicalWriter(self.gen)
        if (not had_dense or not had_lexical) and self.vectors.count():
            self._backfill(dense=not had_dense, lexical=not had_lexical)

    def write(
        self,
        items: list[tuple[Article, list[Chunk]]],
        embeddings: Any,  # np.ndarray
        lexical_texts: list[str],
    ) -> None:
        from qa.index.chroma import chunk_metadata

        self.start()
        chunks = [c for _, cs in items for c in cs]
        metas = [chunk_metadata(a, c) for a, cs in items for c in cs]
        self.vectors.add(chunks, metas, embeddings)
        checkpoint("chroma-written")
        self._add_to_search([c.chunk_id for c in chunks], metas, embeddings, lexical_texts)
        for article, cs in items:
            self.catalog.put(article, len(cs))  # type: ignore[union-attr]
        self.catalog.commit()  # type: ignore[union-attr]
        checkpoint("catalog-committed")

    def delete(self, doc_id: str) -> None:
        """Remove a document's chunks and catalog entry from the target generation."""
        self.start()
        key = self.catalog.key_of(doc_id)  # type: ignore[union-attr]
        n = self.catalog.delete(doc_id)  # type: ignore[union-attr]
        self.lexical.delete_doc(doc_id)
        if key is not None and n:
            ids = [f"{key}-{i:05d}" for i in range(n)]
            self.vectors.delete(ids)
            self.dense.delete(ids)

    def commit(self) -> None:
        if self.gen is None:
            return
        assert self.catalog is not None
        self.catalog.set_meta(MODEL_KEY, self.model)
        self.catalog.set_meta("chunk_chars", str(self.settings.chunk_chars))
        self.catalog.set_meta("chunk_overlap_sentences", str(self.settings.chunk_overlap_sentences))
        self.catalog.db.execute("DROP TABLE IF EXISTS chunk_tokens")  # the pre-tantivy token store
        shutil.rmtree(self.gen / "lexical", ignore_errors=True)  # and its bm25s folder
        self.catalog.commit()
        self.lexical.commit()
        self.dense.commit()
        gen = self.gen
        vectors = self.vectors
        self._close_target()
        self.generations.publish(gen, keep=self.settings.keep_generations)
        if self.settings.chroma_url:
            from qa.index.chroma import index_id

            kept = {g.name for g in self.generations.all()}
            vectors.drop_other_generations(kept, f"{self.settings.collection}-{index_id(self.generations.root)}-")

    def _backfill(self, *, dense: bool, lexical: bool, page: int = 2000) -> None:
        """Fill what an older generation lacks (exact-search matrix, BM25) from its Chroma store."""
        import numpy as np

        from qa.index.lexical import lexical_text

        total = self.vectors.count()
        for offset in range(0, total, page):
            got = self.vectors.collection.get(
                limit=page, offset=offset, include=["embeddings", "metadatas", "documents"]
            )
            ids, metas, docs = list(got["ids"]), got["metadatas"], got["documents"]
            if not ids:
                continue
            self._add_to_search(
                ids,
                metas,
                np.asarray(got["embeddings"], dtype=np.float32) if dense else None,
                [lexical_text(m.get("title", ""), m.get("published_at", ""), doc or "") for m, doc in zip(metas, docs)]
                if lexical
                else None,
            )

    def _add_to_search(self, ids: list[str], metas: list[dict[str, Any]], vectors: Any, lexical_texts: list[str] | None) -> None:
        """Rows for the exact-search matrix (if ``vectors``) and BM25 (if ``lexical_texts``),
        with the day and source their filters need."""
        days = [int(m.get("published_day", -1)) for m in metas]
        sources = [str(m.get("source", "")) for m in metas]
        if vectors is not None:
            self.dense.add(ids, vectors, days, sources)
        if lexical_texts is not None:
            self.lexical.add(
                (cid, str(m.get("doc_id", "")), day, src, text)
                for cid, m, day, src, text in zip(ids, metas, days, sources, lexical_texts)
            )

    def _close_target(self) -> None:
        if self.lexical is not None:
            self.lexical.rollback()  # no-op after commit
            self.lexical = None
        if self.vectors is not None:
            self.vectors.close()
            self.vectors = None
        if self.catalog is not None:
            self.catalog.close()
            self.catalog = None
        self.gen = None


def remove_documents(settings: Settings, doc_ids: list[str]) -> tuple[list[str], list[str]]:
    """Delete documents (or duplicate aliases) by id; returns (removed, missing)."""
    removed: list[str] = []
    missing: list[str] = []
    with IndexWriter(settings, existing=True) as writer:
        assert writer.base is not None
        known = writer.base.hashes()
        aliases = writer.base.aliases()
        for doc_id in doc_ids:
            if doc_id in known:  # an explicit request: the story goes with its recorded duplicates
                writer.delete(doc_id)
                writer.catalog.delete_aliases_of(doc_id)  # type: ignore[union-attr]
                writer.catalog.drop_sources(doc_id)  # type: ignore[union-attr]
                removed.append(doc_id)
            elif doc_id in aliases:
                writer.start()
                writer.catalog.delete_alias(doc_id)  # type: ignore[union-attr]
                writer.catalog.drop_sources(doc_id)  # type: ignore[union-attr]
                removed.append(doc_id)
            else:
                missing.append(doc_id)
        writer.commit()
    return removed, missing
