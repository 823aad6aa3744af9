"""Incremental ingest: read → clean → chunk → embed → write, with hashing, duplicate detection,
pruning and full rebuilds. Core logic only: progress and output belong to the caller."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from qa.errors import InputError
from qa.ingest.chunk import chunk_article
from qa.ingest.clean import clean_text
from qa.ingest.loaders import RawArticle, expand_inputs, load_path
from qa.settings import Settings
from qa.store import IndexWriter
from qa.types import Article, Chunk


class Progress(Protocol):
    def input_started(self, name: str) -> None: ...
    def chunks_written(self, n: int) -> None: ...


class _NoProgress:
    def input_started(self, name: str) -> None:
        pass

    def chunks_written(self, n: int) -> None:
        pass


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

    def error(self, err: InputError) -> None:
        self.errors.append(err)
        if err.failed:
            self.failed += 1
        else:
            self.skipped += 1

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
        }


def embedding_text(article: Article, chunk: Chunk) -> str:
    """What the encoder sees: the title gives every chunk its article's subject."""
    return f"{article.title}\n{chunk.text}" if article.title else chunk.text


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
    progress = progress or _NoProgress()
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
                    yield article
        except InputError as e:
            report.error(e)
        except Exception as e:  # a loader bug must not lose the other inputs
            report.error(InputError(name, f"{type(e).__name__}: {e}"))


class _Batcher:
    """Buffers chunks until a batch is worth embedding, then writes it in one go."""

    def __init__(self, writer: IndexWriter, settings: Settings, progress: Progress):
        self.writer = writer
        self.settings = settings
        self.progress = progress
        self.items: list[tuple[Article, list[Chunk]]] = []
        self.pending_ids: set[str] = set()
        self.n = 0
        self._encoder: Any = None

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
        self.writer.write(self.items, vectors)
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
    progress = progress or _NoProgress()
    with IndexWriter(settings) as writer:
        base = writer.base
        known = base.hashes() if base else {}
        by_text = base.text_hashes() if base else {}
        aliases = base.aliases() if base else {}
        batch = _Batcher(writer, settings, progress)
        stream: Iterable[Article] = articles
        if inputs:
            stream = _chain(articles, read_articles(inputs, settings, report, published_at=published_at, source=source, progress=progress))
        for article in stream:
            _plan_one(article, known, by_text, aliases, writer, batch, report, settings)
        batch.flush()
        if prune and base is not None:
            for doc_id, path in base.file_backed():
                if not Path(path).exists():
                    writer.start()
                    if writer.catalog.is_alias(doc_id):  # type: ignore[union-attr]
                        writer.catalog.delete_alias(doc_id)  # type: ignore[union-attr]
                    else:
                        writer.delete(doc_id)
                    report.removed += 1
        writer.commit()
    _totals(report, settings)
    return report


def _chain(*its: Iterable[Article]) -> Iterator[Article]:
    for it in its:
        yield from it


def _plan_one(
    article: Article,
    known: dict[str, tuple[str, int]],
    by_text: dict[str, str],
    aliases: dict[str, str],
    writer: IndexWriter,
    batch: _Batcher,
    report: IngestReport,
    settings: Settings,
) -> None:
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
    chunks = chunk_article(
        article, target_chars=settings.chunk_chars, overlap_sentences=settings.chunk_overlap_sentences
    )
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
    progress = progress or _NoProgress()
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
    _totals(report, settings)
    return report


