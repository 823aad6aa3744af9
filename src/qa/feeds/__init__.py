"""Fetching the news: URLs, RSS/Atom/RDF/JSON feeds and sitemaps into the index, politely and
safely, and keeping it fresh.

Each module has one job: urls (what names a document), fetch (HTTP with manners and limits), robots,
detect (what a response is), parse (feeds, sitemaps, pages → entries and articles), state
(validators and entry versions between runs), sources (the followed list), crawl (one run over
URLs), watch (ingest URLs, due sources, the polling loop), report (``FeedReport``). Nothing is
imported here, so that `qa --help` imports none of it.
"""
