"""Fetching the news: URLs, RSS/Atom/RDF/JSON feeds and sitemaps into the index, politely and
safely, and keeping it fresh.

The package's interface (what ``qa.Assistant`` uses); the modules behind it each have one job:
urls (what names a document), fetch (HTTP with manners and limits), robots, detect (what a
response is), parse (feeds, sitemaps, pages → entries and articles), state (validators and entry
versions between runs), sources (the followed list), crawl (one run over URLs), watch (ingest,
due sources, the polling loop), report. Lazy, so that `qa --help` imports none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.feeds.crawl import Target
    from qa.feeds.report import FeedReport, FeedResult, FetchProgress
    from qa.feeds.sources import Source, SourceList
    from qa.feeds.urls import looks_like_url
    from qa.feeds.watch import ingest_urls, poll

__all__ = ["FeedReport", "FeedResult", "FetchProgress", "Source", "SourceList", "Target", "ingest_urls",
           "looks_like_url", "poll"]  # the polling loop: qa.feeds.watch.watch (the module shares its name)

_HOME = {  # name → the module that defines it
    "Target": "crawl",
    "FeedReport": "report",
    "FeedResult": "report",
    "FetchProgress": "report",
    "Source": "sources",
    "SourceList": "sources",
    "looks_like_url": "urls",
    "ingest_urls": "watch",
    "poll": "watch",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        from importlib import import_module

        return getattr(import_module(f"qa.feeds.{_HOME[name]}"), name)
    raise AttributeError(name)
