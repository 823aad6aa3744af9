"""Reading the index: one published generation (catalog now, vectors on first search).

Readers see one published generation from open to close and never write to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qa.errors import IndexMissingError, ModelMismatchError, index_public
from qa.index.catalog import Catalog
from qa.index.generations import Generations
from qa.settings import DEFAULT_MODEL, Settings

MODEL_KEY = "embedding_model"


def canonical_model(name: str) -> str:
    from qa.embeddings import canonical_model_name

    return canonical_model_name(name)


def choose_model(settings: Settings, recorded: str | None) -> str:
    """The index's model unless the user asked for a different one, which is refused."""
    if settings.model and recorded and canonical_model(settings.model) != recorded:
        raise ModelMismatchError(
            f"index {settings.resolved_index()} was built with embedding model {recorded!r}, not "
            f"{canonical_model(settings.model)!r}; use another --index, or `qa index rebuild --model "
            f"{settings.model}` to re-embed it",
            public=index_public("was built with another embedding model than the server is set to use (QA_MODEL)"),
        )
    return recorded or canonical_model(settings.model or DEFAULT_MODEL)


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
        pinned = self.generations.pinned()  # kept until close: no writer removes it meanwhile
        if pinned is None:
            self.generations.check_pointer()
            raise IndexMissingError(
                f"no index at {settings.resolved_index()}: run `qa ingest PATH` first"
            )
        self.gen, self._pin = pinned
        self.catalog = Catalog(self.gen)
        from qa.index.shared import with_server

        self.settings = with_server(settings, self.catalog)
        self.model = choose_model(settings, self.catalog.get_meta(MODEL_KEY))
        self._vectors: Any = None
        self._lexical: Any = None
        self._dense: Any = None

    @property
    def vectors(self) -> Any:
        if self._vectors is None:

            with self.generations.reading():
                self._vectors = open_vectors(self.settings, self.gen, self.model, self.catalog)
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
        from qa.index.chroma_parts import parts_size

        s = self.catalog.stats()
        s.update(
            {
                "index": str(self.settings.resolved_index()),
                "generation": self.gen.name,
                "model": self.model,
                "chunk_chars": _int(self.catalog.get_meta("chunk_chars")),
                "size_bytes": folder_size(self.gen) + parts_size(self.gen),
            }
        )
        root = self.settings.resolved_index()
        if (root / "INDEX_ID").exists():  # shared on a Chroma server: what replicas follow (qa index follow)
            from qa.index.replica import marker
            from qa.index.shared import URL_KEY, VERSION_KEY

            s["index_id"] = (root / "INDEX_ID").read_text().strip()
            s["shared_version"] = _int(self.catalog.get_meta(VERSION_KEY))
            s["chroma_url"] = self.catalog.get_meta(URL_KEY)  # the server this version was written to / read from
            s["replica"] = marker(root) is not None
        return s

    def close(self) -> None:
        if self._vectors is not None:
            self._vectors.close()
            self._vectors = None
        if self._dense is not None and self._dense is not False:
            self._dense.close()
            self._dense = None
        self.catalog.close()
        self.unpin()

    def unpin(self) -> None:
        """While no call uses this reader: a writer may remove its generation (``repin`` first)."""
        if self._pin >= 0:
            os.close(self._pin)
            self._pin = -1

    def repin(self) -> bool:
        """Pin the generation again before a call uses the reader; False when it was removed
        meanwhile (the caller opens the published one instead)."""
        if self._pin < 0:
            fd = self.generations.pin(self.gen)
            if fd is None:
                return False
            self._pin = fd
        return True

    def __del__(self) -> None:  # a reader never closed (a quick script) still lets its generation go
        if getattr(self, "_pin", -1) >= 0:
            self.unpin()


def open_vectors(settings: Settings, gen: Path, model: str, catalog: Catalog, *, writable: bool = False) -> Any:
    """The Chroma store of generation ``gen``: its parts in its own folder (chroma_parts); on a
    server, the epoch and version its catalog records (none: a generation an older qa wrote in a
    collection of its own)."""
    from qa.index.chroma import VectorStore
    from qa.index.shared import EPOCH_KEY, VERSION_KEY

    if not settings.chroma_url:
        from qa.index.chroma_parts import PartedStore

        return PartedStore(gen, collection=settings.collection, model=model, device=settings.device, writable=writable)
    version = catalog.get_meta(VERSION_KEY)
    return VectorStore(
        gen,
        collection=settings.collection,
        model=model,
        device=settings.device,
        chroma_url=settings.chroma_url,
        chroma_headers=settings.chroma_headers,
        chroma_timeout=settings.chroma_timeout,
        epoch=catalog.get_meta(EPOCH_KEY),
        version=int(version) if version else None,
        writable=writable,
    )


def _int(v: str | None) -> int | None:
    return int(v) if v is not None else None
