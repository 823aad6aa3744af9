"""Incremental ingest and full rebuilds, wired: read (``read``) → plan (``plan``) → execute
(``execute``) → publish → totals. Core logic only: progress and output belong to the caller."""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import closing
from dataclasses import replace
from datetime import date
from itertools import chain

from qa.index.catalog import Catalog
from qa.index.generations import Generations
from qa.index.writer import IndexWriter
from qa.ingest.execute import Executor
from qa.ingest.neardup import signature
from qa.ingest.plan import PlanState, Planner, chunks
from qa.ingest.read import read_articles, reread
from qa.ingest.report import IngestReport, Progress
from qa.ingest.scope import PruneScope
from qa.progress import NoProgress
from qa.settings import Settings
from qa.types import Article


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
    run_report = report or IngestReport()
    shown = progress or NoProgress()
    files_read: dict[str, dict[str, Article]] = {}
    with IndexWriter(settings) as writer, Executor(writer, settings, shown) as executor:
        planner = Planner(
            PlanState.of(writer.base), executor, settings, run_report,
            reread=lambda doc_id, path: _reread(executor, doc_id, path, settings, files_read),
        )
        if writer.base is not None:
            planner.sign_unsigned(writer.base)
        stream: Iterable[Article] = articles
        whole: set[str] = set()  # the files read without a problem: what they did not yield, they no longer hold
        if inputs:
            stream = chain(articles, read_articles(
                inputs, settings, run_report, published_at=published_at,
                override_published_at=override_published_at, source=source, progress=shown, whole=whole,
            ))
        for article in stream:
            planner.take(with_held_fills(article, writer.base))
        planner.plan_taken()
        executor.flush()
        if prune and writer.base is not None:
            planner.prune(PruneScope(list(inputs or ())), whole)
            executor.flush()
        planner.count_replanned()
        writer.commit()
        run_report.encoder = executor.encoder
        executor.export_model()
    index_totals(run_report, settings)
    return run_report


def _reread(executor: Executor, doc_id: str, path: str, settings: Settings,
            cache: dict[str, dict[str, Article]]) -> Article | None:
    """``qa.ingest.read.reread``, with the index's fills (``with_held_fills``)."""
    article = reread(doc_id, path, settings, cache)
    return None if article is None else with_held_fills(article, executor.target)


def with_held_fills(article: Article, held: Catalog | None) -> Article:
    """``article`` with the date and source the index holds for its id (a document's, or a
    duplicate's own) where the record read gives none: what ``--published-at`` and ``--source``
    filled in the run that read it first stays, so reading the same file again without those
    flags (a cron job's plain ingest, a re-read after a prune) finds it unchanged, not undated."""
    if held is None or (article.published_at is not None and article.source):
        return article
    known = held.held(article.doc_id)
    if known is None:
        return article
    return replace(article, published_at=article.published_at or known.published_at, source=article.source or known.source)


def rebuild(settings: Settings, *, model: str | None = None, progress: Progress | None = None) -> IngestReport:
    """Re-chunk and re-embed every recorded document into a fresh generation; publish when done."""
    report = IngestReport()
    shown = progress or NoProgress()
    with IndexWriter(settings, fresh=True, model=model, existing=True) as writer, Executor(writer, settings, shown) as executor:
        base = writer.base
        assert base is not None  # existing=True
        writer.start()
        shown.records_planned(base.counts()[0])
        for article in base.articles():
            shown.records_read(1)
            executor.index(article, chunks(article, settings), signature(article.text))
            report.added += 1
        executor.flush()
        for alias in base.alias_rows():  # each duplicate kept, counted as the ingest that found it did
            executor.put_alias(alias)
            report.duplicates += 1
        executor.target.copy_sources(base)
        writer.commit()
        report.encoder = executor.encoder
        executor.export_model()
    index_totals(report, settings)
    return report


def index_totals(report: IngestReport, settings: Settings) -> None:
    """The documents and chunks the published index holds now, into ``report`` (none yet: 0).
    The generation is pinned while it is counted, as a reader's is: this runs after the writer's
    lock is released, and another writer's publish may remove it (QA_KEEP_GENERATIONS=1)."""
    pinned = Generations(settings.resolved_index()).pinned()
    if pinned is None:
        return
    gen, fd = pinned
    try:
        with closing(Catalog(gen)) as cat:
            report.documents, report.chunks = cat.counts()
    finally:
        os.close(fd)
