"""Incremental ingest: read → clean → chunk → embed → write, with hashing, duplicate detection,
pruning and full rebuilds. Core logic only: progress and output belong to the caller."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from qa.index.catalog import Alias
from qa.checkpoints import checkpoint
from qa.ingest.chunk import chunk_article, embedding_text
from qa.index.lexical import lexical_text
from qa.ingest.read import read_articles, reread_alias
from qa.ingest.report import IngestReport, Progress
from qa.ingest.neardup import NearDuplicateIndex, signature
from qa.ingest.scope import PruneScope, is_file_record, is_relative_record, may_provide
from qa.progress import NoProgress
from qa.settings import Settings
from qa.index.store import IndexWriter
from qa.types import Article, Chunk


class _Batcher:
    """Buffers chunks until a batch is worth embedding, then writes it in one go."""

    def __init__(self, writer: IndexWriter, settings: Settings, progress: Progress, signatures: dict[str, Any] | None = None):
        self.signatures = signatures if signatures is not None else {}
        self.writer = writer
        self.settings = settings
        self.progress = progress
        self.items: list[tuple[Article, list[Chunk]]] = []
        self.pending_ids: set[str] = set()
        self.n = 0
        self._encoder: Any = None

    @property
    def embedded(self) -> bool:
        """Whether this batcher loaded the model (it embedded something)."""
        return self._encoder is not None

    def add(self, article: Article, chunks: list[Chunk]) -> None:
        self.items.append((article, chunks))
        self.pending_ids.add(article.doc_id)
        self.n += len(chunks)
        if self.n >= self.settings.write_batch_chunks:
            self.flush()

    def flush(self) -> None:
        if not self.items:
            return
        if self._encoder is None:
            from qa.embeddings import get_encoder

            self._encoder = get_encoder(self.writer.model, self.settings.device, self.settings.embed_batch_size)
        texts = [embedding_text(a, c) for a, cs in self.items for c in cs]
        vectors = self._encoder.encode(texts)
        checkpoint("batch-embedded")
        lexical = [
            lexical_text(a.title, a.published_at.isoformat() if a.published_at else "", c.text)
            for a, cs in self.items
            for c in cs
        ]
        self.writer.write(self.items, vectors, lexical)
        for a, _ in self.items:
            sig = self.signatures.pop(a.doc_id, None)
            if sig is None:
                sig = signature(a.text)
            self.writer.catalog.put_signature(a.doc_id, sig)  # type: ignore[union-attr]
        self.writer.catalog.commit()  # type: ignore[union-attr]
        self.progress.chunks_written(len(texts))
        self.items, self.n = [], 0
        self.pending_ids.clear()


def ingest(
    inputs: Iterable[str] | None,
    settings: Settings,
    *,
    articles: Iterable[Article] = (),
    published_at: date | None = None,
    override_published_at: date | None = None,
    source: str | None = None,
    prune: bool = False,
    progress: Progress | None = None,
    report: IngestReport | None = None,
) -> IngestReport:
    """Add new documents, replace changed ones, skip unchanged ones; ``prune`` removes documents
    recorded under ``inputs`` whose files are gone. The index is published only when something
    changed. ``published_at`` fills missing dates; ``override_published_at`` replaces them."""
    report = report or IngestReport()
    progress = progress or NoProgress()
    with IndexWriter(settings) as writer:
        planner = _Planner(writer, settings, report, progress)
        planner.sign_unsigned()
        stream: Iterable[Article] = articles
        if inputs:
            stream = _chain(articles, read_articles(
                inputs, settings, report, published_at=published_at,
                override_published_at=override_published_at, source=source, progress=progress,
            ))
        for article in stream:
            planner.plan(article)
        planner.batch.flush()
        if writer.base is not None and writer.base_needs_upgrade():
            writer.start()  # commit backfills what an older generation lacks (lexical index)
        if prune and writer.base is not None:
            planner.prune(PruneScope(list(inputs or ())))
            planner.batch.flush()
        planner.count_replanned()
        writer.commit()
        _export_query_model(settings, writer.model, planner.batch)
    _totals(report, settings)
    return report


def _chain(*its: Iterable[Article]) -> Iterator[Article]:
    for it in its:
        yield from it


@dataclass
class _State:
    """What the plan knows of the index while an ingest runs."""

    known: dict[str, tuple[str, int]]  # indexed doc_id → (content hash, chunks)
    by_text: dict[str, str]  # body hash → indexed doc_id
    aliases: dict[str, str]  # alias_id → the indexed doc_id it duplicates
    alias_hashes: dict[str, str]  # alias_id → content hash (aliases whose content is stored)
    sources: dict[str, set[str]]  # doc_id or alias_id → every recorded origin that provided it
    paths: dict[str, str]  # doc_id or alias_id → the origin it was last read from
    near: NearDuplicateIndex  # MinHash LSH over the indexed documents
    signatures: dict[str, Any] = field(default_factory=dict)  # pending: written with the batch
    text_of: dict[str, str] = field(default_factory=dict)  # indexed doc_id → body hash (by_text inverted)

    def __post_init__(self) -> None:
        self.text_of = {d: h for h, d in self.by_text.items()}


class _Planner:
    """The one place that decides, while an ingest runs, what becomes of each article: unchanged,
    indexed (added or replaced), an alias of the document it duplicates, or forgotten."""

    def __init__(self, writer: IndexWriter, settings: Settings, report: IngestReport, progress: Progress):
        base = writer.base
        self.writer, self.settings, self.report, self.progress = writer, settings, report, progress
        self.state = _State(
            known=base.hashes() if base else {},
            by_text=base.text_hashes() if base else {},
            aliases=base.aliases() if base else {},
            alias_hashes=base.alias_hashes() if base else {},
            sources=base.sources() if base else {},
            paths=base.recorded_paths() if base else {},
            near=NearDuplicateIndex(base.signatures() if base else ()),
        )
        self.batch = _Batcher(writer, settings, progress, self.state.signatures)
        self.read: set[str] = set()  # ids read in this run: each read counts once in the report
        self.replanned: dict[str, str] = {}  # id → outcome of a re-planned alias not read (yet)

    @property
    def catalog(self) -> Any:
        """The catalog being written (the target generation is created on first use)."""
        self.writer.start()
        return self.writer.catalog

    # ------------------------------------------------------------ one article
    def plan(self, article: Article) -> None:
        """An article read in this run."""
        s, doc_id = self.state, article.doc_id
        self.read.add(doc_id)
        self.replanned.pop(doc_id, None)  # this read's outcome counts instead
        self._record_source(doc_id, article.path)
        if self._unchanged(article):
            self.report.unchanged += 1
            return
        prior, had_content = s.aliases.get(doc_id), doc_id in s.alias_hashes
        was_indexed = doc_id in s.known
        if prior is not None:
            self._unalias(doc_id)
        target = self._place(article)
        if target is None:
            if was_indexed:
                self.report.updated += 1
            else:
                self.report.added += 1
        elif target != prior:
            self.report.duplicates += 1
        elif had_content:
            self.report.updated += 1  # the same duplicate with other metadata
        else:
            self.report.unchanged += 1  # an older alias row, now with its content stored

    def _unchanged(self, article: Article) -> bool:
        s = self.state
        known = s.known.get(article.doc_id)
        if known is not None:
            return known[0] == article.hash
        return s.alias_hashes.get(article.doc_id) == article.hash

    def _record_source(self, doc_id: str, path: str) -> None:
        """Record that ``path`` provides ``doc_id`` (several files may; the path column names the
        latest one recorded, or where it is read when that file is gone). A file read now replaces
        the relative paths an older index recorded for it."""
        s = self.state
        have = s.sources.setdefault(doc_id, set())
        stale = {p for p in have if is_relative_record(p)} if is_file_record(path) else set()
        last = s.paths.get(doc_id, path)
        if path in have and not stale and (last == path or may_provide(last)):
            return  # nothing to write: an unchanged re-ingest writes nothing
        for old in stale:
            self._remove_source(doc_id, old)
        self.catalog.add_source(doc_id, path)
        have.add(path)
        s.paths[doc_id] = path

    def _remove_source(self, doc_id: str, path: str) -> None:
        s = self.state
        last = self.catalog.remove_source(doc_id, path)
        s.sources.get(doc_id, set()).discard(path)
        if last is None:
            s.paths.pop(doc_id, None)
        else:
            s.paths[doc_id] = last

    def _place(self, article: Article) -> str | None:
        """Index ``article``, or alias it to the document it duplicates (returned)."""
        twin, sig = self._twin(article)
        if twin is None:
            self._index(article, sig)
            return None
        if article.doc_id in self.state.known:  # it had its own text; now it repeats another's
            self.forget(article.doc_id)
        self._alias(article, twin)
        return twin

    def _twin(self, article: Article) -> tuple[str | None, Any]:
        """The indexed document ``article`` duplicates (exactly, else nearly), and its signature."""
        exact = self.state.by_text.get(article.text_hash)
        if exact is not None and exact != article.doc_id:
            return exact, None
        sig = signature(article.text)
        return self.state.near.find(article.doc_id, sig), sig

    def _index(self, article: Article, sig: Any) -> None:
        s, doc_id = self.state, article.doc_id
        if sig is None:
            sig = signature(article.text)
        chunks = chunk_article(
            article, target_chars=self.settings.chunk_chars, overlap_sentences=self.settings.chunk_overlap_sentences
        )
        text_changed = False
        if doc_id in s.known:
            if doc_id in self.batch.pending_ids:  # the same id twice in one run: land the first one
                self.batch.flush()
            text_changed = self._drop_text_hashes(doc_id) != {article.text_hash}
            self.writer.delete(doc_id)
        s.near.add(doc_id, sig)
        s.signatures[doc_id] = sig
        s.known[doc_id] = (article.hash, len(chunks))
        s.by_text[article.text_hash] = doc_id
        s.text_of[doc_id] = article.text_hash
        self.batch.add(article, chunks)
        if text_changed:  # its duplicates may no longer be duplicates of it
            self._replan_aliases_of(doc_id)

    def _alias(self, article: Article, twin: str) -> None:
        s = self.state
        self.catalog.put_alias(Alias.of(article, twin))
        s.aliases[article.doc_id] = twin
        s.alias_hashes[article.doc_id] = article.hash

    def _unalias(self, alias_id: str) -> None:
        s = self.state
        self.catalog.delete_alias(alias_id)
        s.aliases.pop(alias_id, None)
        s.alias_hashes.pop(alias_id, None)

    def _drop_text_hashes(self, doc_id: str) -> set[str]:
        """Forget which body ``doc_id`` had; returns the hash it was indexed under (if any)."""
        s = self.state
        h = s.text_of.pop(doc_id, None)
        if h is None or s.by_text.get(h) != doc_id:
            return set()
        del s.by_text[h]
        return {h}

    # ------------------------------------------------------------ forgetting
    def forget(self, doc_id: str) -> None:
        """Remove an indexed document everywhere (catalog, chunks, dense matrix, BM25, signature,
        text hashes, LSH); each document that duplicated it is planned again, never lost. Its
        recorded origins stay with its identity: it may live on as an alias, and prune forgets
        only what no origin provides any more."""
        s = self.state
        if doc_id in self.batch.pending_ids:
            self.batch.flush()
        self.writer.delete(doc_id)
        s.known.pop(doc_id, None)
        s.near.remove(doc_id)
        s.signatures.pop(doc_id, None)
        self._drop_text_hashes(doc_id)
        self._replan_aliases_of(doc_id)

    def _replan_aliases_of(self, doc_id: str) -> None:
        """Plan the duplicates of ``doc_id`` again, as if they had just been ingested."""
        survivors = self.catalog.alias_rows(doc_id)
        for alias in survivors:
            self._unalias(alias.alias_id)
        for alias in survivors:
            article = alias.article or reread_alias(alias, self.settings, self.report, self.progress)
            if article is None:
                self.report.warn(
                    alias.path or alias.alias_id,
                    f"duplicate {alias.alias_id!r} of {doc_id!r} is lost: an older index kept only "
                    "its file, which is gone; ingest it again",
                )
                self._drop_sources(alias.alias_id)
                continue
            target = self._place(article)
            if alias.alias_id in self.read:
                continue  # read in this run: counted once, by that read
            if target is None:
                self.replanned[alias.alias_id] = "added"
            elif target != doc_id:
                self.replanned[alias.alias_id] = "duplicates"
            else:
                self.replanned.pop(alias.alias_id, None)

    def count_replanned(self) -> None:
        """Count the outcomes of re-planned aliases that no read of this run counted."""
        for outcome in self.replanned.values():
            setattr(self.report, outcome, getattr(self.report, outcome) + 1)
        self.replanned.clear()

    def _drop_sources(self, doc_id: str) -> None:
        self.catalog.drop_sources(doc_id)
        self.state.sources.pop(doc_id, None)
        self.state.paths.pop(doc_id, None)

    def prune(self, scope: PruneScope) -> None:
        """Drop the recorded files this run's inputs cover that are gone, and forget the documents
        and aliases that nothing recorded provides any more (one that also came from stdin or the
        API never is); relative paths recorded by an older index are reported, never pruned on a
        guess."""
        s = self.state
        touched: set[str] = set()
        for doc_id, paths in sorted(s.sources.items()):
            for path in sorted(paths):
                if is_relative_record(path):
                    self.report.warn(path, "recorded with a relative path; re-ingest it to fix (not pruned)")
                elif is_file_record(path) and scope.covers(path) and not os.path.exists(path):
                    self._remove_source(doc_id, path)
                    touched.add(doc_id)
        gone = sorted(d for d in touched if not any(map(may_provide, s.sources.get(d, ()))))
        for doc_id in gone:
            self._drop_sources(doc_id)  # what is left names files gone outside this run's inputs
        for alias_id in [d for d in gone if d in s.aliases]:  # first, so they are not planned again
            self._unalias(alias_id)
            self.replanned.pop(alias_id, None)
            self.report.removed += 1
        for doc_id in [d for d in gone if d in s.known]:
            self.forget(doc_id)
            self.replanned.pop(doc_id, None)
            self.report.removed += 1

    # ------------------------------------------------------------ older indexes
    def sign_unsigned(self) -> None:
        """An index written before near-duplicate detection: sign its documents now, and fold the
        near-duplicates among them into aliases of the first one."""
        base, s = self.writer.base, self.state
        if base is None:
            return
        signed = {doc_id for doc_id, _ in base.signatures()}
        if len(signed) >= len(s.known):
            return
        for article in base.articles():
            if article.doc_id in signed:
                continue
            sig = signature(article.text)
            twin = s.near.find(article.doc_id, sig)
            if twin is None:
                s.near.add(article.doc_id, sig)
                self.catalog.put_signature(article.doc_id, sig)
                continue
            self.forget(article.doc_id)
            self._alias(article, twin)
            self.report.duplicates += 1


def _totals(report: IngestReport, settings: Settings) -> None:
    from qa.index.catalog import Catalog
    from qa.index.generations import Generations

    gen = Generations(settings.resolved_index()).current()
    if gen is None:
        return
    cat = Catalog(gen)
    try:
        s = cat.stats()
        report.documents, report.chunks = int(s["documents"]), int(s["chunks"])  # type: ignore[arg-type]
    finally:
        cat.close()


def rebuild(settings: Settings, *, model: str | None = None, progress: Progress | None = None) -> IngestReport:
    """Re-chunk and re-embed every recorded document into a fresh generation; publish when done."""
    report = IngestReport()
    progress = progress or NoProgress()
    with IndexWriter(settings, fresh=True, model=model, existing=True) as writer:
        assert writer.base is not None
        writer.start()
        batch = _Batcher(writer, settings, progress)
        for article in writer.base.articles():
            progress.input_started(article.doc_id)
            chunks = chunk_article(
                article, target_chars=settings.chunk_chars, overlap_sentences=settings.chunk_overlap_sentences
            )
            batch.add(article, chunks)
            report.added += 1
        batch.flush()
        for alias in writer.base.alias_rows():
            writer.catalog.put_alias(alias)  # type: ignore[union-attr]
        writer.catalog.copy_sources(writer.base)  # type: ignore[union-attr]
        writer.commit()
        _export_query_model(settings, writer.model, batch)
    _totals(report, settings)
    return report


def _export_query_model(settings: Settings, model: str, batch: _Batcher) -> None:
    """Once the model is loaded anyway (this ingest embedded something), export it to ONNX so
    questions can be encoded without importing torch. Best effort: failure changes nothing."""
    if settings.onnx_queries and batch.embedded:
        from qa.embeddings import export_for_queries

        export_for_queries(model, settings.resolved_index())


