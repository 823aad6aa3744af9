"""Keeping the index fresh: ingest URLs (fetch → ingest → publish → save the fetch state), poll the
followed sources that are due, and keep polling until stopped (`qa watch`, `qa serve --watch`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from datetime import date
from typing import Any

from qa.checkpoints import checkpoint
from qa.feeds.crawl import Crawl, Target
from qa.feeds.report import FeedReport, FetchProgress
from qa.feeds.sources import Source, SourceList
from qa.feeds.state import Changes, FetchState, Poll
from qa.ingest import ingest
from qa.settings import Settings
from qa.types import Article

LONGEST_SLEEP = 60.0  # a watcher wakes at least this often, so a source added meanwhile is seen


def ingest_urls(
    settings: Settings,
    targets: Iterable[Target],
    *,
    paths: Iterable[str] = (),
    articles: Iterable[Article] = (),
    report: FeedReport | None = None,
    published_at: date | None = None,
    override_published_at: date | None = None,
    source: str | None = None,
    prune: bool = False,
    progress: FetchProgress | None = None,
    hosts: Iterable[str] | None = None,
) -> FeedReport:
    """Fetch ``targets`` and ingest what they hold together with ``paths`` and ``articles`` in one
    index generation; the fetch state is saved only after that generation is published."""
    report = report if report is not None else FeedReport()
    crawl = Crawl(settings, report, hosts=hosts, progress=progress, published_at=published_at,
                  override_published_at=override_published_at, source=source)
    try:
        fetched = crawl.collect(targets)
        checkpoint("urls-fetched")
        ingest(list(paths), settings, articles=[*articles, *fetched], published_at=published_at,
               override_published_at=override_published_at, source=source, prune=prune, progress=progress,
               report=report)
        crawl.commit()
    finally:
        crawl.close()
    return report


def due(sources: list[Source], polls: dict[str, Poll], now: float) -> list[Source]:
    """The sources whose time has come (a little early rather than a whole period late: a cron
    job every 30 minutes must not find a 30-minute source 1 s short of due)."""
    return [s for s in sources if now >= next_poll(s, polls) - min(s.seconds * 0.1, 60.0)]


def next_poll(source: Source, polls: dict[str, Poll]) -> float:
    last = polls.get(source.url)
    return 0.0 if last is None else last.polled_at + source.seconds


def poll(settings: Settings, *, progress: FetchProgress | None = None, every_source: bool = False) -> FeedReport:
    """One round: every due source (``every_source``: all of them) is fetched and ingested."""
    root = settings.resolved_index()
    sources = SourceList(root).load()
    state = FetchState(root)
    try:
        chosen = sources if every_source else due(sources, state.polls(), time.time())
    finally:
        state.close()
    report = FeedReport()
    if not chosen:  # nothing fetched: the totals are still the index's, as every report's
        from qa.ingest.pipeline import index_totals

        index_totals(report, settings)
        return report
    started = time.time()
    ingest_urls(settings, [Target(s.url, s.name, feed_expected=True) for s in chosen], report=report, progress=progress)
    failed = {f.url: f.error or "" for f in report.feeds if f.status == "failed"}
    state = FetchState(root)
    try:  # after the publish and the crawl's own save: the round is done
        state.save(Changes(polls={s.url: Poll(started, s.url not in failed, failed.get(s.url, "")) for s in chosen}))
    finally:
        state.close()
    return report


def watch(
    settings: Settings,
    *,
    stop: threading.Event,
    on_round: Callable[[FeedReport], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
    lock: AbstractContextManager[Any] | None = None,
) -> None:
    """Poll due sources until ``stop`` is set, then sleep until the next one is due (at most a
    minute, so a source added meanwhile is seen). ``lock`` is held around each round (a server's
    write lock). A round that fails (a full disk, an index of another embedding model) goes to
    ``on_error`` and the watch goes on."""
    while not stop.is_set():
        try:
            with lock if lock is not None else nullcontext():
                report = poll(settings)
            if (report.feeds or report.errors) and on_round is not None:
                on_round(report)
        except Exception as e:  # noqa: BLE001 — a failed round must not end the watch
            if on_error is not None:
                on_error(e)
        stop.wait(seconds_to_next(settings))


def seconds_to_next(settings: Settings) -> float:
    root = settings.resolved_index()
    sources = SourceList(root).load()
    state = FetchState(root)
    try:
        polls = state.polls()
    finally:
        state.close()
    if not sources:
        return LONGEST_SLEEP
    soonest = min(next_poll(s, polls) for s in sources)
    return max(0.2, min(LONGEST_SLEEP, soonest - time.time()))


def status(settings: Settings) -> list[dict[str, Any]]:
    """The followed sources with their last and next polls (see ``Assistant.source_status``)."""
    from datetime import datetime, timezone

    root = settings.resolved_index()
    state = FetchState(root)
    try:
        polls = state.polls()
    finally:
        state.close()

    def when(t: float | None) -> str | None:
        return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")

    rows = []
    for s in SourceList(root).load():
        last = polls.get(s.url)
        rows.append({**s.to_dict(), "last_poll": when(last.polled_at if last else None),
                     "next_poll": when(next_poll(s, polls) if last else None),
                     "ok": last.ok if last else None, "message": last.message if last else ""})
    return rows
