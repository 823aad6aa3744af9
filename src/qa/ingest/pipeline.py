"""Incremental ingest: read → clean → chunk → embed → write, with hashing, duplicate detection,
pruning and full rebuilds. Core logic only: progress and output belong to the caller."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from qa.catalog import Catalog
from qa.errors import InputError, InputWarning
from qa.ingest.chunk import chunk_article, embedding_text, lexical_text
from qa.ingest.clean import clean_text
from qa.ingest.loaders import RawArticle, expand_inputs, load_path
from qa.ingest.neardup import NearDuplicateIndex, signature, store_signature, stored_signatures
from qa.progress import NoProgress
from qa.settings import Settings
from qa.store import IndexWriter
from qa.types import Article, Chunk


class Progress(Protocol):
    def input_started(self, name: str) -> None: ...
    def chunks_written(self, n: int) -> None: ...


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    duplicates: int = 0
    removed: int = 0
    documents: int = 0
    chunks: int = 0
    errors: list[InputError] = field(default_factory=list)
    warnings: list[InputWarning] = field(default_factory=list)

    def error(self, err: InputError) -> None:
        self.errors.append(err)
        if err.failed:
            self.failed += 1
        else:
            self.skipped += 1

    def warn(self, path: str, warning: str, line: int | None = None) -> None:
        self.warnings.append(InputWarning(path, line, warning))

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": self.failed,
            "duplicates": self.duplicates,
            "removed": self.removed,
            "documents": self.documents,
            "chunks": self.chunks,
            "errors": [e.to_dict() for e in self.errors],
            "warnings": [w.to_dict() for w in self.warnings],
        }


def to_article(raw: RawArticle, *, published_at: date | None, source: str | None) -> Article:
    return Article(
        doc_id=raw.doc_id,
        text=clean_text(raw.text),
        title=" ".join(raw.title.split()),
        url=raw.url,
        source=source if source is not None else raw.source,
        published_at=published_at if published_at is not None else raw.published_at,
        authors=raw.authors,
        path=raw.path,
    )


def read_articles(
    inputs: Iterable[str],
    settings: Settings,
    report: IngestReport,
    *,
    published_at: date | None = None,
    source: str | None = None,
    progress: Progress | None = None,
) -> Iterator[Article]:
    """Every usable article of the inputs; problems go to ``report`` and never stop the stream."""
    progress = progress or NoProgress()
    for path in expand_inputs(inputs):
        name = str(path)
        progress.input_started(name)
        try:
            for item in load_path(path, max_bytes=settings.max_file_bytes):
                if isinstance(item, InputError):
                    report.error(item)
                    continue
                article = to_article(item, published_at=published_at, source=source)
                if not article.text.strip():
                    report.error(InputError(name, "no article text left after cleaning", line=item.line, failed=False))
                elif len(article.text) > settings.max_text_chars:
                    report.error(
                        InputError(name, f"article text too long ({len(article.text):,} characters)", line=item.line)
                    )
                else:
                    for warning in item.warnings:
                        report.warn(name, warning, item.line)
                    yield article
        except InputError as e:
            report.error(e)
        except Exception as e:  # a loader bug must not lose the other inputs
            report.error(InputError(name, f"{type(e).__name__}: {e}"))


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
            store_signature(self.writer.catalog.db, a.doc_id, sig)  # type: ignore[union-attr]
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
    source: str | None = None,
    prune: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Add new documents, replace changed ones, skip unchanged ones; ``prune`` removes documents
    whose files are gone. The index is published only when something changed."""
    report = IngestReport()
    progress = progress or NoProgress()
    with IndexWriter(settings) as writer:
        base = writer.base
        state = _State(
            known=base.hashes() if base else {},
            by_text=base.text_hashes() if base else {},
            aliases=base.aliases() if base else {},
            near=NearDuplicateIndex(stored_signatures(base.db) if base else iter(())),
        )
        batch = _Batcher(writer, settings, progress, state.signatures)
        if base is not None:
            _add_missing_signatures(writer, state, report)
        stream: Iterable[Article] = articles
        if inputs:
            stream = _chain(articles, read_articles(inputs, settings, report, published_at=published_at, source=source, progress=progress))
        for article in stream:
            _plan_one(article, state, writer, batch, report, settings)
        batch.flush()
        if base is not None and writer.base_needs_upgrade():
            writer.start()  # commit backfills what an older generation lacks (lexical index)
        if prune and base is not None:
            orphans = _prune(base, writer, state, report)
            if orphans:  # their story's indexed copy is gone but these files still tell it
                for article in read_articles(orphans, settings, report, progress=progress):
                    _plan_one(article, state, writer, batch, report, settings)
                batch.flush()
        writer.commit()
        _export_query_model(settings, writer.model, batch)
    _totals(report, settings)
    return report


def _prune(base: Catalog, writer: IndexWriter, state: _State, report: IngestReport) -> list[str]:
    """Remove documents and aliases whose files are gone. Returns the files of duplicates whose
    indexed copy was removed: they must be read again, since only their location was kept."""
    orphans: list[str] = []
    for doc_id, path in base.file_backed():
        if Path(path).exists():
            continue
        writer.start()
        if writer.catalog.is_alias(doc_id):  # type: ignore[union-attr]
            writer.catalog.delete_alias(doc_id)  # type: ignore[union-attr]
            state.aliases.pop(doc_id, None)
        else:
            orphans += writer.catalog.alias_paths_of(doc_id)  # type: ignore[union-attr]
            writer.delete(doc_id)
            state.known.pop(doc_id, None)
            state.near.remove(doc_id)
            for text_hash in [h for h, d in state.by_text.items() if d == doc_id]:
                del state.by_text[text_hash]
            for alias in [a for a, d in state.aliases.items() if d == doc_id]:
                del state.aliases[alias]
        report.removed += 1
    return sorted(p for p in set(orphans) if Path(p).exists())


def _chain(*its: Iterable[Article]) -> Iterator[Article]:
    for it in its:
        yield from it


@dataclass
class _State:
    """What the plan knows of the index while an ingest runs."""

    known: dict[str, tuple[str, int]]
    by_text: dict[str, str]
    aliases: dict[str, str]
    near: NearDuplicateIndex
    signatures: dict[str, Any] = field(default_factory=dict)


def _plan_one(
    article: Article,
    state: _State,
    writer: IndexWriter,
    batch: _Batcher,
    report: IngestReport,
    settings: Settings,
) -> None:
    known, by_text, aliases = state.known, state.by_text, state.aliases
    doc_id = article.doc_id
    previous = known.get(doc_id)
    if previous is not None and previous[0] == article.hash:
        report.unchanged += 1
        return
    twin = by_text.get(article.text_hash)
    if twin is not None and twin != doc_id:
        if aliases.get(doc_id) == twin:
            report.unchanged += 1
            return
        writer.start()
        if previous is not None:  # it used to have its own text; now it repeats another's
            writer.delete(doc_id)
            known.pop(doc_id, None)
        writer.catalog.put_alias(doc_id, twin, article.path, article.url)  # type: ignore[union-attr]
        aliases[doc_id] = twin
        report.duplicates += 1
        return
    sig = signature(article.text)
    near = state.near.find(doc_id, sig)
    if near is not None:
        writer.start()
        if previous is not None:
            writer.delete(doc_id)
            state.near.remove(doc_id)
            known.pop(doc_id, None)
        writer.catalog.put_alias(doc_id, near, article.path, article.url)  # type: ignore[union-attr]
        aliases[doc_id] = near
        report.duplicates += 1
        return
    chunks = chunk_article(
        article, target_chars=settings.chunk_chars, overlap_sentences=settings.chunk_overlap_sentences
    )
    state.near.add(doc_id, sig)
    state.signatures[doc_id] = sig
    if previous is not None:
        if doc_id in batch.pending_ids:  # the same id twice in one run: land the first one
            batch.flush()
        writer.delete(doc_id)
        report.updated += 1
    else:
        report.added += 1
    if doc_id in aliases:
        writer.start()
        writer.catalog.delete_alias(doc_id)  # type: ignore[union-attr]
        aliases.pop(doc_id)
    known[doc_id] = (article.hash, len(chunks))
    by_text[article.text_hash] = doc_id
    batch.add(article, chunks)


def _add_missing_signatures(writer: IndexWriter, state: _State, report: IngestReport) -> None:
    """An index written before near-duplicate detection: sign its documents now, and fold the
    near-duplicates among them into aliases of the first one."""
    assert writer.base is not None
    signed = {doc_id for doc_id, _ in stored_signatures(writer.base.db)}
    if len(signed) >= len(state.known):
        return
    writer.start()
    for article in writer.base.articles():
        if article.doc_id in signed:
            continue
        sig = signature(article.text)
        twin = state.near.find(article.doc_id, sig)
        if twin is not None:
            writer.delete(article.doc_id)
            writer.catalog.put_alias(article.doc_id, twin, article.path, article.url)  # type: ignore[union-attr]
            state.aliases[article.doc_id] = twin
            state.known.pop(article.doc_id, None)
            report.duplicates += 1
            continue
        state.near.add(article.doc_id, sig)
        store_signature(writer.catalog.db, article.doc_id, sig)  # type: ignore[union-attr]


def _totals(report: IngestReport, settings: Settings) -> None:
    from qa.catalog import Catalog
    from qa.generations import Generations

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
    with IndexWriter(settings, fresh=True, model=model) as writer:
        if writer.base is None:
            from qa.errors import IndexMissingError

            raise IndexMissingError(f"no index at {settings.resolved_index()} to rebuild")
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
        for alias_id, doc_id in writer.base.aliases().items():
            row = writer.base.db.execute("SELECT path, url FROM aliases WHERE alias_id=?", (alias_id,)).fetchone()
            writer.catalog.put_alias(alias_id, doc_id, row[0], row[1])  # type: ignore[union-attr]
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


