"""Carrying out the ingest plan on an ``IndexWriter``: batching, embedding, writing chunks with
their signatures, and the catalog changes the plan asks for (``qa.ingest.plan.Steps``)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Self

import numpy as np

from qa.checkpoints import checkpoint
from qa.index.catalog import Alias, Catalog
from qa.index.writer import IndexWriter
from qa.ingest.chunk import embedding_text
from qa.ingest.report import Progress
from qa.settings import Settings
from qa.types import Article, Chunk

if TYPE_CHECKING:
    from qa.embeddings import Encoder
    from qa.onnx_encoder import OnnxEncoder


class Executor:
    """Buffers indexed articles until a batch is worth embedding, then writes it in one go; every
    other step goes straight to the target catalog. Nothing touches the index until a step does,
    so an unchanged re-ingest creates no generation."""

    def __init__(self, writer: IndexWriter, settings: Settings, progress: Progress):
        """A model that is not here (``model_location``) is refused now, before a generation is made."""
        from qa.embeddings import model_location

        model_location(writer.model)
        self.writer, self.settings, self.progress = writer, settings, progress
        self._items: list[tuple[Article, list[Chunk], np.ndarray]] = []
        self._pending: set[str] = set()  # doc_ids in _items
        self._n = 0  # chunks in _items
        self._encoder: Encoder | OnnxEncoder | None = None
        self._making: threading.Thread | None | bool = False  # the encoder's thread, once started

    def _start_encoder(self) -> None:
        """Begin making the encoder on a thread at the first article to embed, so that the first
        batch finds it made while the rest are read and planned (a run that embeds nothing, such
        as an unchanged re-ingest, never loads it)."""
        if self._making is not False:
            return
        from qa.embeddings import make_chunk_encoder_in_background

        s = self.settings
        self._making = make_chunk_encoder_in_background(self.writer.model, s.resolved_index(), s.device, s.embed_batch_size, s.onnx)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        """Wait for the encoder's thread: an ingest that fails before its first batch must not
        leave ONNX Runtime making a session while the process exits."""
        if isinstance(self._making, threading.Thread):
            self._making.join(timeout=60)  # a session is made in well under a second; never hang the run on it

    @property
    def target(self) -> Catalog:
        """The catalog being written (the target generation is created on first use)."""
        return self.writer.target

    # ------------------------------------------------------------ indexing
    def expect_index(self) -> None:
        """The encoder's session (~0.25 s) is made while the new generation is (its catalog is
        copied: ~0.1-0.2 s at 100k chunks) and the article is read and planned."""
        self._start_encoder()

    def index(self, article: Article, chunks: list[Chunk], sig: np.ndarray) -> None:
        self._start_encoder()
        self._items.append((article, chunks, sig))
        self.progress.chunks_planned(len(chunks))
        self._pending.add(article.doc_id)
        self._n += len(chunks)
        if self._n >= self.settings.write_batch_chunks:
            self.flush()

    def flush(self) -> None:
        """Embed and write the buffered articles, with their signatures."""
        if not self._items:
            return
        if self._encoder is None:
            from qa.embeddings import get_index_encoder

            s = self.settings
            self._encoder = get_index_encoder(
                self.writer.model, s.resolved_index(), s.device, s.embed_batch_size, s.onnx, chunks=True, export=True,
                cache=s.resolved_model_cache(),
            )
            self.writer.prepare()  # after the encoder (an export imports torch): not two imports at once
        texts = [embedding_text(a, c) for a, cs, _ in self._items for c in cs]
        vectors = self._encoder.encode(  # see raise_if_store_failed
            texts, between=self.writer.raise_if_store_failed, done=self.progress.chunks_embedded,
        )
        checkpoint("batch-embedded")
        self.writer.write([(a, cs) for a, cs, _ in self._items], vectors)
        catalog = self.target
        for a, _, sig in self._items:
            catalog.put_signature(a.doc_id, sig)
        catalog.commit()
        self._items, self._n = [], 0
        self._pending.clear()

    def delete(self, doc_id: str) -> None:
        """Remove an indexed document; a write of it still in the batch lands first, so what the
        delete removes is what that write added (the same id read twice in one run)."""
        if doc_id in self._pending:
            self.flush()
        self.writer.delete(doc_id)

    # ------------------------------------------------------------ catalog
    def put_alias(self, alias: Alias) -> None:
        self.target.put_alias(alias)

    def delete_alias(self, alias_id: str) -> None:
        self.target.delete_alias(alias_id)

    def alias_rows(self, doc_id: str) -> list[Alias]:
        return self.target.alias_rows(doc_id)

    def put_signature(self, doc_id: str, sig: np.ndarray) -> None:
        self.target.put_signature(doc_id, sig)

    def add_source(self, doc_id: str, path: str) -> None:
        self.target.add_source(doc_id, path)

    def add_origin(self, doc_id: str, path: str) -> None:
        self.target.add_origin(doc_id, path)

    def remove_source(self, doc_id: str, path: str) -> str | None:
        return self.target.remove_source(doc_id, path)

    def drop_sources(self, doc_id: str) -> None:
        self.target.drop_sources(doc_id)

    @property
    def encoder(self) -> str:
        """What embedded this run's chunks (``IngestReport.encoder``): "" when nothing was embedded."""
        from qa.onnx_encoder import OnnxEncoder

        if self._encoder is None:
            return ""
        return "onnx" if isinstance(self._encoder, OnnxEncoder) else "sentence-transformers"

    # ------------------------------------------------------------ after publishing
    def export_model(self) -> None:
        """Once the torch model is loaded anyway (this run embedded with it: on another device than
        the CPU, or the export before the first batch failed, which is not tried again), export it
        to ONNX so later questions and ingests skip torch. Best effort: failure changes nothing."""
        from qa.embeddings import Encoder, export_model

        if self.settings.onnx and isinstance(self._encoder, Encoder):
            export_model(self.writer.model, self.settings.resolved_index(), self.settings.resolved_model_cache())
