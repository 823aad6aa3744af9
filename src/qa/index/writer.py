"""Writing the index: the one writer copies the live generation only when something changes,
applies its changes there and publishes it atomically (see generations).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

from qa.checkpoints import checkpoint
from qa.errors import IndexMissingError, QAError, UsageError, index_public
from qa.index.catalog import Catalog
from qa.index.generations import Generations, unwritable
from qa.index.lexical import lexical_text
from qa.index.reader import MODEL_KEY, canonical_model, choose_model, open_vectors
from qa.index.records import ChunkRecord, chunk_id, record_of
from qa.index.shared import document_row, server_key, with_server
from qa.settings import Settings
from qa.types import Article, Chunk


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
        self._made: Path | None = None  # the generation this writer made and has not published (discarded on failure)
        self.catalog: Catalog | None = None
        self.vectors: Any = None
        self.dense: Any = None
        self.lexical: Any = None
        self._doomed: list[str] = []  # chunk ids to delete from Chroma, in one call (each costs ~0.3 s at 100k)
        self._doomed_docs: list[str] = []  # document keys to stamp deleted on a shared server
        self._shared: Any = None  # the index on its Chroma server, opened on first use (_server)
        self._unchecked = False  # the server's published version not yet checked against the folder's
        self._target_model = ""  # the model the target generation's store is opened with
        self._base_gen: Path | None = None  # the generation the target copies
        self._inherited_epoch: str | None = None  # on a server: the epoch the copied catalog recorded
        self._opening: Future[None] | None = None  # the store being opened on a thread (prepare)
        self._closing = threading.Event()  # tells that thread to stop (_go_on)
        self._legacy = False  # the target copies an older qa's own remote collection (_join_epoch)

    def __enter__(self) -> IndexWriter:
        from qa.index.replica import refuse_writes

        refuse_writes(self.settings)
        if self.settings.chroma_url:  # a malformed URL fails now, not after the first batch is encoded
            from qa.index.server_url import chroma_address

            chroma_address(self.settings.chroma_url)
        if self.existing and self.generations.current() is None:  # before the lock creates the folder
            self.generations.check_pointer()
            raise IndexMissingError(f"no index at {self.settings.resolved_index()}")
        self._lock = self.generations.writing(keep=self.settings.keep_generations)
        try:
            self._lock.__enter__()
        except Exception as e:
            self._raise_if_unwritable(e)
            raise
        try:
            cur = self.generations.current()
            self.base = Catalog(cur) if cur is not None else None
            if self.base is not None:
                self.settings = with_server(self.settings, self.base)
            # a writer killed between its publish and its announcement: repaired at the first
            # contact with the server (``_check_announced``), not here, so that chromadb's import
            # (~1 s) runs while the first batch is encoded instead of before it
            self._unchecked = bool(self.settings.chroma_url)
            recorded = self.base.get_meta(MODEL_KEY) if self.base else None
            if self._model_override:
                self.model = canonical_model(self._model_override)
            else:
                self.model = choose_model(self.settings, recorded)
            if cur is not None and self.base is not None and _needs_upgrade(cur, self.base):
                self._upgrade(recorded or self.model)
        except BaseException as e:
            self._close_target()
            self._discard_made()
            if self.base is not None:
                self.base.close()
            self._lock.__exit__(None, None, None)
            if isinstance(e, Exception):
                self._raise_if_unwritable(e)
            raise
        return self

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        try:
            try:
                self._close_target()
                if exc is not None:
                    self._discard_made()
                if self.base is not None:
                    self.base.close()
            finally:
                self._lock.__exit__(None, None, None)
        except Exception as e:
            self._raise_if_unwritable(e)
            raise
        if isinstance(exc, Exception):
            self._raise_if_unwritable(exc)

    def _discard_made(self) -> None:
        """On failure: remove the generation this writer made and did not publish (under the lock)."""
        if self._made is not None:
            made, self._made = self._made, None
            self.generations.discard(made)

    def _raise_if_unwritable(self, exc: Exception) -> None:
        """A full or read-only disk, or a regular file in the folder's path: one line naming the
        folder (generations.unwritable), never the library's traceback."""
        failure = unwritable(self.generations.root, exc)
        if failure is not None:
            raise failure from exc

    def _upgrade(self, model: str) -> None:
        """Republish the live generation (written by an older qa) migrated: its catalog gains what
        it lacks (qa.index.migrations) and its search indexes are filled from its Chroma store
        (``_backfill``). The plan then runs against that; the published one is never modified."""
        self._open_target(copy=True, model=model)
        self._publish()
        assert self.base is not None
        self.base.close()
        published = self.generations.current()
        assert published is not None  # just published
        self.base = Catalog(published)

    # ------------------------------------------------------------ target generation
    def start(self) -> None:
        """Create the generation we write to (lazily: an unchanged ingest writes nothing)."""
        if self.gen is None:
            self._open_target(copy=not self.fresh and self.base is not None, model=self.model)

    def _open_target(self, *, copy: bool, model: str) -> None:
        """A new generation (a copy of the live one if ``copy``) with an up-to-date catalog and its
        search indexes open for writing. Its Chroma store opens at first use (``_store``)."""
        from qa.index import dense, lexical, migrations

        self.gen = self._made = self.generations.new_generation(copy_current=copy)
        self.catalog = Catalog(self.gen, writable=True)
        migrations.apply(self.catalog.db, self.gen)
        self._target_model = model
        self._base_gen = self.generations.current() if copy else None
        if self.settings.chroma_url:
            self._stamp()
        had_dense, had_lexical = dense.has_rows(self.gen), lexical.exists(self.gen)
        if not had_dense:  # none, or an older qa's parts without their rows: made anew from Chroma
            dense.remove(self.gen)
        self.dense = dense.DenseWriter(self.gen)
        self.lexical = lexical.LexicalWriter(self.gen)
        if copy and (not had_dense or not had_lexical) and self._store().count():
            self._backfill(dense=not had_dense, lexical=not had_lexical)

    def _store(self) -> Any:
        """The target generation's Chroma store, opened at its first use. On a Chroma server that
        is the writer's first contact with it: for an ingest, on a thread while its first batch
        is encoded (``prepare``), and its first write waits for it (an error there is raised
        here, in the writer's own call)."""
        if self._opening is not None:
            self._opening.result()  # on an error or an interrupt it stays, for _close_target to wait on
            self._opening = None
        if self.vectors is None:
            self._open_store()
        if self._legacy:
            self._join_epoch()
        return self.vectors

    def _open_store(self) -> None:
        """Check, housekeeping and the collections (on ``prepare``'s thread, or at the first use)."""
        if self.vectors is None:
            assert self.gen is not None and self.catalog is not None
            self._check_announced()  # before anything is written to (or discarded from) the server
            self._go_on()
            self._legacy = self._share() if self.settings.chroma_url else False
            self._go_on()
            self.vectors = open_vectors(self.settings, self.gen, self._target_model, self.catalog, writable=True)

    def _join_epoch(self) -> None:
        """Once: a generation an older qa wrote in a collection of its own joins an epoch (a copy
        of every row: on the writer's own thread, where an interrupt stops it)."""
        assert self._base_gen is not None and self.base is not None and self.catalog is not None
        self.vectors.copy_from(open_vectors(self.settings, self._base_gen, self._target_model, self.base))
        self.vectors.shared.put_documents(
            self.vectors.epoch, [document_row(a, n, key) for a, n, key in self.catalog.articles_with_keys()],
            self.vectors.version,
        )
        self._legacy = False

    def _stamp(self) -> None:
        """On a Chroma server: record the epoch and version the new generation writes (a copy
        stays in its predecessor's epoch, a fresh one starts its own)."""
        from qa.index.shared import EPOCH_KEY, URL_KEY, VERSION_KEY, version_of

        assert self.catalog is not None and self.gen is not None
        epoch = self.catalog.get_meta(EPOCH_KEY) if self._base_gen is not None else None  # copied with the catalog
        self._inherited_epoch = epoch
        from qa.index.server_url import recorded_url

        self.catalog.set_meta(URL_KEY, recorded_url(self.settings.chroma_url) or "")
        self.catalog.set_meta(EPOCH_KEY, epoch or self.gen.name)
        self.catalog.set_meta(VERSION_KEY, str(version_of(self.gen)))
        self.catalog.commit()

    def _share(self) -> bool:
        """On a Chroma server, before the generation's first write there: discard what a killed
        writer left in its epoch (a new epoch starts empty). True when the generation it copies
        is an older qa's own remote collection."""
        from qa.index.shared import version_of

        assert self.gen is not None
        epoch, base = self._inherited_epoch, self._base_gen
        shared = self._server()
        if epoch is None:
            shared.clear_epoch(self.gen.name)
        elif base is not None:
            shared.discard_unpublished(epoch, version_of(base), go_on=self._go_on)
        shared.docs(epoch or self.gen.name, create=True)  # an epoch has both collections, even with no document
        return base is not None and epoch is None

    def _server(self) -> Any:
        """The index on its Chroma server (qa.index.shared.SharedIndex), one client per writer."""
        if self._shared is None:
            from qa.index.shared import open_shared

            self._shared = open_shared(self.settings)
        return self._shared

    def _check_announced(self) -> None:
        """Once per writer, before its first server write: announce the folder's published
        version if the server lags (a writer killed between its publish and its announcement);
        refuse if the server is ahead (a copy of the folder wrote meanwhile), or holds the index
        while the folder has no generation of it (``_refuse_if_held``)."""
        if self._unchecked:
            if self.generations.current() is None:
                self._refuse_if_held()
            else:
                self._announce(check=True)
            self._unchecked = False  # after: a failed check is not skipped by a later write

    def _refuse_if_held(self) -> None:
        """A folder with no generation starts its index's first epoch on the server, clearing
        what a killed first run left there. If the server holds a published version of this
        INDEX_ID, the folder is not its writer (a partial copy, a restored backup): refuse."""
        from qa.index.chroma import index_id

        held = self._server().current()
        if held is not None:
            ident = index_id(self.generations.root)
            raise UsageError(
                f"the Chroma server {self.settings.chroma_url} already holds index {ident} (version {held.version}), and "
                f"{self.generations.root} has none of its generations: an index has one writer, its own folder (a new "
                f"index needs a folder without INDEX_ID; to serve this one: qa index follow {ident}, into an empty folder)",
                public=index_public("has none of the generations its Chroma server holds: an index has one writer, its own folder"),
            )

    def _announce(self, *, check: bool = False) -> None:
        """Tell a Chroma server's readers the published version (``check``: only if it lags),
        then collect the rows no kept generation shows and drop the epochs none uses."""
        from qa.index.shared import EPOCH_KEY, VERSION_KEY, Version, version_of

        kept: dict[Path, tuple[str | None, str | None]] = {}
        chunking = ("", "", "")
        for g in self.generations.all():
            if g == self.gen:  # the target, not published (its catalog may hold a large change open)
                continue
            cat = Catalog(g)
            try:
                kept[g] = (cat.get_meta(EPOCH_KEY), cat.get_meta(VERSION_KEY))
                if g == self.generations.current():
                    chunking = (cat.get_meta(MODEL_KEY) or "", cat.get_meta("chunk_chars") or "", cat.get_meta("chunk_overlap_sentences") or "")
            finally:
                cat.close()
        cur = self.generations.current()
        if cur is None or kept.get(cur, (None, None))[0] is None:
            return  # an older qa's generation: nothing stamped to announce
        shared = self._server()
        epoch = kept[cur][0] or ""
        version = int(kept[cur][1] or version_of(cur))
        if check:
            announced = shared.current()
            if announced is not None and (announced.version, announced.epoch) == (version, epoch):
                return
            if announced is not None and announced.version > version:
                raise UsageError(
                    f"the Chroma server holds version {announced.version} of index {self.generations.root}, newer than "
                    f"its folder's {version}: is another writer using a copy of the folder? An index has one writer",
                    public=index_public("is older than what its Chroma server holds: an index has one writer, its own folder"),
                )
        floor = min(version_of(g) for g in kept)
        shared.publish(Version(version, epoch, floor, *chunking))
        checkpoint("announced")
        shared.collect(epoch, floor)
        shared.drop_epochs({e or g.name for g, (e, _) in kept.items()})

    def prepare(self) -> None:
        """Called before the first batch is encoded: what the first write will need is made
        meanwhile on a thread. Embedded: chromadb's import. On a Chroma server: the import, the
        client and the target's store (``_open_store``: the check of the announced version, the
        discard of a killed writer's rows, the collections; ~0.2 s of round trips), which the
        encoder does not touch while it runs."""
        from qa.index.chroma import import_in_background

        if not self.settings.chroma_url:
            import_in_background()
            return
        self.start()
        if self.vectors is not None or self._opening is not None:
            return
        opening: Future[None] = Future()

        def open_store() -> None:
            try:
                self._open_store()
                opening.set_result(None)
            except BaseException as e:  # noqa: BLE001 - raised in the writer's own call (_store)
                opening.set_exception(e)

        thread = threading.Thread(target=open_store, name="qa-open-store", daemon=True)
        self._opening = opening  # before the thread starts: an interrupt between leaves none unwaited
        try:
            thread.start()
        except BaseException as e:
            if thread.ident is None:  # it never ran: nothing to wait for (no thread to be had: the first write opens it)
                self._opening = None
            if not isinstance(e, RuntimeError):
                raise

    def raise_if_store_failed(self) -> None:
        """Raise, in the writer's own call, the error of the store's thread (``prepare``) if it
        has failed already (the server is not reachable, or refuses this folder). Called between
        the encoder's batches: such a run stops within a batch (~1 s), not after a whole write
        batch of up to ``write_batch_chunks`` chunks (~20 s)."""
        if self._opening is not None and self._opening.done() and self._opening.exception() is not None:
            self._store()  # raises it (a store opened well is left to the first write)

    def _go_on(self) -> None:
        """On the store's thread: stop before the next server request once the writer is closing
        (a failed or interrupted run), so nothing of it reaches the server after its lock is gone."""
        if self._closing.is_set():
            raise QAError("the writer closed while its store was being opened")

    @property
    def target(self) -> Catalog:
        """The catalog of the generation being written (created on first use)."""
        self.start()
        assert self.catalog is not None  # start() opened it
        return self.catalog

    def write(
        self,
        items: list[tuple[Article, list[Chunk]]],
        embeddings: Any,  # np.ndarray, one row per chunk
    ) -> None:
        """Add articles with their chunks and chunk vectors to the target generation: Chroma,
        the exact-search matrix, BM25 (whose text the writer derives) and the catalog. On a
        shared server each document's rows get this write's key (``shared.server_key``)."""
        self.start()
        store = self._store()
        keys = [a.key for a, _ in items]
        if store.version is not None:
            keys = [server_key(k, store.version) for k in keys]
            items = [(a, [replace(c, chunk_id=chunk_id(k, c.index)) for c in cs]) for (a, cs), k in zip(items, keys)]
        chunks = [c for _, cs in items for c in cs]
        records = [record_of(a, c) for a, cs in items for c in cs]
        self._apply_deletes()  # first: the same document twice in one run reuses its ids
        store.add(chunks, records, embeddings)
        checkpoint("chroma-written")
        self._add_to_search([c.chunk_id for c in chunks], [c.text for c in chunks], records, embeddings)
        for (article, cs), key in zip(items, keys):
            self.target.put(article, len(cs), key)
        if store.shared is not None and store.epoch is not None:
            store.shared.put_documents(store.epoch, [document_row(a, len(cs), k) for (a, cs), k in zip(items, keys)], store.version)
        self.target.commit()
        checkpoint("catalog-committed")

    def delete(self, doc_id: str) -> None:
        """Remove a document's chunks and catalog entry from the target generation."""
        key = self.target.key_of(doc_id)
        n = self.target.delete(doc_id)
        self.lexical.delete_doc(doc_id)
        if key is not None:
            self._doomed_docs.append(key)
        if key is not None and n:
            ids = [chunk_id(key, i) for i in range(n)]
            self._doomed += ids
            self.dense.delete(ids)

    def commit(self) -> None:
        """Publish the target generation (if anything was written), with the settings it was written with."""
        if self.gen is None:
            if self.generations.current() is not None:
                self._check_announced()  # nothing written: still tell the readers a lagging version
            return
        assert self.catalog is not None
        self.catalog.set_meta(MODEL_KEY, self.model)
        self.catalog.set_meta("chunk_chars", str(self.settings.chunk_chars))
        self.catalog.set_meta("chunk_overlap_sentences", str(self.settings.chunk_overlap_sentences))
        self._publish()

    def _apply_deletes(self) -> None:
        store = self._store()
        if self._doomed:
            store.delete(self._doomed)
            self._doomed = []
        if self._doomed_docs and store.shared is not None and store.epoch is not None:
            store.shared.delete_documents(store.epoch, self._doomed_docs, store.version)
        self._doomed_docs = []

    def _publish(self) -> None:
        assert self.catalog is not None and self.gen is not None
        self._apply_deletes()
        self.catalog.commit()
        self.lexical.commit()
        self.dense.commit()
        self._store().commit(rows=self.dense.rows)  # an embedded store merges its parts from the dense rows
        gen = self.gen
        self._close_target()
        self.generations.publish(gen, keep=self.settings.keep_generations)
        self._made = None
        if self.settings.chroma_url:
            self._announce()
        else:
            from qa.index.chroma_parts import remove_unlisted

            remove_unlisted(self.generations.root)  # a killed writer's parts, and removed generations'


    def _backfill(self, *, dense: bool, lexical: bool) -> None:
        """Fill what an older generation lacks (exact-search matrix, BM25) from its Chroma store."""
        for ids, texts, records, vectors in self._store().pages():
            self._add_to_search(ids, texts, records, vectors if dense else None, lexical=lexical)

    def _add_to_search(
        self, ids: list[str], texts: list[str], records: list[ChunkRecord], vectors: Any, *, lexical: bool = True
    ) -> None:
        """Rows for the exact-search matrix (if ``vectors``) and BM25 (if ``lexical``), with the
        day and source their filters need."""
        days = [r.published_day for r in records]
        sources = [r.source for r in records]
        if vectors is not None:
            self.dense.add(ids, vectors, days, sources, list(zip(texts, records)))
        if lexical:
            self.lexical.add(
                (cid, r.doc_id, r.published_day, r.source, lexical_text(r.title, r.published_iso, text))
                for cid, r, text in zip(ids, records, texts)
            )

    def _close_target(self) -> None:
        if self._opening is not None:  # a run that failed while its store was being opened
            self._closing.set()
            _wait_quietly(self._opening)  # before the catalog closes and the lock goes
            self._opening = None
            self._closing.clear()
        self._legacy = False
        self._doomed = []
        self._doomed_docs = []
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


def _wait_quietly(opening: Future[None]) -> None:
    """Wait for ``opening`` however it ends, through interrupts too: the run is failing already
    (that is why it closes), and the thread's requests are bounded by ``chroma_timeout``, and it
    stops before its next one (``_go_on``)."""
    while not opening.done():
        try:
            wait([opening])
        except KeyboardInterrupt:
            continue


def _needs_upgrade(gen: Path, catalog: Catalog) -> bool:
    """Whether a generation was written by an older qa: migrations it has not recorded, no BM25
    index, or no exact-search matrix with its rows' texts."""
    from qa.index import dense, lexical, migrations

    return bool(migrations.pending(catalog.db)) or not (dense.has_rows(gen) and lexical.exists(gen))


def remove_documents(settings: Settings, doc_ids: list[str]) -> tuple[list[str], list[str]]:
    """Delete documents (or duplicate aliases) by id; returns (removed, missing), each id once
    however often it was named."""
    removed: list[str] = []
    missing: list[str] = []
    with IndexWriter(settings, existing=True) as writer:
        assert writer.base is not None
        known = writer.base.hashes()
        aliases = writer.base.aliases()
        for doc_id in dict.fromkeys(doc_ids):
            if doc_id in known:  # an explicit request: the story goes with its recorded duplicates
                writer.delete(doc_id)
                writer.target.delete_aliases_of(doc_id)
                writer.target.drop_sources(doc_id)
                removed.append(doc_id)
            elif doc_id in aliases:
                writer.target.delete_alias(doc_id)
                writer.target.drop_sources(doc_id)
                removed.append(doc_id)
            else:
                missing.append(doc_id)
        writer.commit()
    return removed, missing
