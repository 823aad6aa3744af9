"""URLs, feeds and sitemaps into a real index through ``Assistant``, from a real server on 127.0.0.1:
dates, canonical ids, one document for a story in two feeds, what a re-poll costs (requests counted
by the server), updated and new entries, fallbacks, and one report line per failure. The tiny
encoder keeps it quick (this is bookkeeping, not retrieval quality)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from news_server import FIXTURES, NewsServer, Route, gzip_bomb  # noqa: E402

from qa.assistant import Assistant  # noqa: E402

FAST = {"fetch_delay": 0.0, "fetch_timeout": 1.0, "fetch_backoff": 0.05, "fetch_retries": 1,
        "fetch_max_retry_after": 2.0, "fetch_max_bytes": 1_000_000}
FEEDS = ["/feeds/world.rss", "/feeds/politics.atom", "/sitemaps/news.xml", "/feeds/science.rdf"]
CONTRACT = {"added", "updated", "unchanged", "skipped", "failed", "duplicates", "removed", "documents", "chunks",
            "dates_filled", "dates_overridden", "encoder", "fetched", "not_modified", "feeds", "errors", "warnings"}


@pytest.fixture
def server(news_server):
    return news_server


@pytest.fixture
def bot(tmp_path, tiny_encoder):
    assistant = Assistant.open(tmp_path / "index", model=str(tiny_encoder), **FAST)
    yield assistant
    assistant.close()


def docs(bot: Assistant) -> dict[str, object]:
    return {d.doc_id: d for d in bot.documents()}


def page_hits(server: NewsServer) -> dict[str, int]:
    return {p: n for p, n in server.hits.items() if p.endswith(".html") or ".html?" in p}


def test_feeds_and_sitemaps_become_dated_documents_named_by_canonical_urls(server, bot):
    report = bot.ingest([server.url(p) for p in FEEDS])
    b = server.base
    found = docs(bot)
    assert set(found) == {f"{b}/world/harbour-bridge.html", f"{b}/world/dam-talks", f"{b}/business/port-strike.html",
                          f"{b}/world/ferry-fares.html", f"{b}/politics/valley-summit.html", f"{b}/science/river-survey.html"}
    dated = {k.rsplit("/", 1)[1]: d.published_at for k, d in found.items()}
    assert dated == {
        "harbour-bridge.html": date(2025, 3, 7),  # the page's JSON-LD, not the feed's pubDate (the 8th)
        "dam-talks": date(2025, 3, 9),  # article:published_time; the canonical link names it
        "port-strike.html": date(2025, 3, 9),  # undated page: the feed's date as written (-0500)
        "ferry-fares.html": date(2025, 3, 7),  # page missing: the feed's content and date
        "valley-summit.html": date(2025, 3, 5),  # Atom published, not updated
        "river-survey.html": date(2025, 3, 10),  # news:publication_date / dc:date
    }
    assert found[f"{b}/world/harbour-bridge.html"].source == "Northern Ledger - World"  # the feed's name
    assert found[f"{b}/politics/valley-summit.html"].source == "Northern Ledger | Politics"
    assert (report.added, report.failed, report.fetched, report.not_modified) == (6, 0, 4 + 5, 0)  # 4 feeds, 5 pages (one is a 404)
    assert set(report.to_dict()) == CONTRACT
    # one story in two feeds (RSS + Atom; RSS + news sitemap; RDF + news sitemap): one document, one fetch
    hits = page_hits(server)
    assert sum(n for p, n in hits.items() if "harbour-bridge" in p) == 1
    assert sum(n for p, n in hits.items() if "port-strike" in p) == 1
    assert sum(n for p, n in hits.items() if "river-survey" in p) == 1
    assert [w.one_line() for w in report.warnings] == [
        f"warning: {b}/world/ferry-fares.html: page not used (HTTP 404 Not Found); indexed from the feed's own content"]
    kinds = {f.url.rsplit("/", 1)[1]: (f.kind, f.status, f.entries) for f in report.feeds}
    assert kinds == {"world.rss": ("RSS 2.0", "fetched", 4), "politics.atom": ("Atom", "fetched", 2),
                     "news.xml": ("news sitemap", "fetched", 2), "science.rdf": ("RDF", "fetched", 1)}
    article = next(a for a in bot.articles() if a.doc_id.endswith("ferry-fares.html"))
    assert "890 crowns" in article.text and "<p>" not in article.text


def test_a_repoll_costs_one_conditional_request_per_feed(server, bot):
    bot.ingest([server.url(p) for p in FEEDS])
    server.reset_counts()
    again = bot.ingest([server.url(p) for p in FEEDS])
    assert dict(server.hits) == {"/robots.txt": 1, **dict.fromkeys(FEEDS, 1)}
    assert (again.fetched, again.not_modified, again.added, again.updated, again.failed) == (0, 4, 0, 0, 0)
    assert {f.status for f in again.feeds} == {"not_modified"}


def test_an_updated_entry_is_read_again_and_a_new_one_picked_up(server, bot):
    bot.ingest([server.url("/feeds/world.rss")])
    rss = (FIXTURES / "world.rss").read_bytes()
    new_item = b"""<item><title>Contract signed for the Skerholm rail tunnel</title>
      <link>{{BASE}}/business/rail-tunnel.html?utm_source=rss</link><guid>ledger-tunnel</guid>
      <pubDate>Thu, 27 Feb 2025 10:00:00 +0100</pubDate></item>"""
    updated = rss.replace(b"<pubDate>Sun, 09 Mar 2025 08:00:00 GMT</pubDate>", b"<pubDate>Sun, 09 Mar 2025 09:45:00 GMT</pubDate>")
    server.routes["/feeds/world.rss"] = Route(updated.replace(b"</channel>", new_item + b"</channel>"), "application/rss+xml")
    server.reset_counts()
    report = bot.ingest([server.url("/feeds/world.rss")])
    assert page_hits(server) == {"/business/rail-tunnel.html?utm_source=rss": 1, "/world/dam-talks.html": 1}
    assert (report.added, report.unchanged, report.not_modified) == (1, 4, 1)  # dam talks: a 304 for its page
    assert docs(bot)[server.url("/business/rail-tunnel.html")].published_at == date(2025, 2, 27)


def test_every_failure_is_one_line_naming_its_url_and_the_others_go_on(server, bot):
    server.routes["/down.rss"] = Route(b"", status=500)
    server.redirect("/loop/a", "/loop/b")
    server.redirect("/loop/b", "/loop/a")
    server.routes["/bomb.xml"] = Route(gzip_bomb(50_000_000), "application/xml", gzip=True)
    server.routes["/logo.png"] = Route(b"\x89PNG", "image/png")
    server.fixture("/status.json", "not-a-feed.json", "application/json")
    server.fixture("/broken.rss", "malformed.rss", "application/rss+xml")
    server.routes["/slow.rss"] = Route(b"<rss/>", "application/rss+xml", delay=2.5)
    server.routes["/busy.rss"] = Route((FIXTURES / "science.rdf").read_bytes(), "application/rdf+xml",
                                       script=[(429, {"Retry-After": "1"})])
    bad = ["/down.rss", "/loop/a", "/bomb.xml", "/logo.png", "/status.json", "/broken.rss", "/slow.rss", "/gone.html"]
    report = bot.ingest([server.url(p) for p in [*bad, "/busy.rss", "/world/dam-talks.html"]])
    reasons = {e.path.replace(server.base, ""): str(e) for e in report.errors}
    assert set(reasons) == set(bad), reasons
    assert reasons["/down.rss"] == "HTTP 500 Internal Server Error (after 2 tries)"
    assert reasons["/loop/a"].startswith("redirect loop")
    assert reasons["/bomb.xml"] == "too large: more than 1,000,000 bytes after decompression"
    assert reasons["/logo.png"].startswith("wrong content type image/png")
    assert reasons["/status.json"] == "JSON that is not a JSON Feed"
    assert reasons["/broken.rss"].startswith("malformed XML")
    assert reasons["/slow.rss"].startswith("timeout")
    assert reasons["/gone.html"] == "HTTP 404 Not Found"
    assert all(line.count("\n") == 0 and line.startswith("failed: http://127.0.0.1") for line in
               (e.one_line() for e in report.errors))
    assert report.failed == len(bad) and report.added == 2  # the page, and the feed that said 429 first
    assert set(docs(bot)) == {server.url("/world/dam-talks"), server.url("/science/river-survey.html")}


def test_a_url_that_does_not_parse_is_its_own_error_and_the_others_go_on(server, bot):
    """'http://[::1' (an IPv6 host without its closing bracket) crashed the whole run - qa ingest
    printed a ValueError traceback, POST /ingest {"urls": […]} answered 500 - before anything was
    fetched, while a URL with a port out of range is that URL's one-line error."""
    bad = ["http://[::1", "https://[news.example/a", "http://news.example:99999/"]
    page = server.url("/world/dam-talks.html")
    for report in (bot.ingest([*bad, page]),
                   bot.ingest_records([], urls=[*bad, page], url_hosts=[server.base.split("//")[1], "news.example"])):
        reasons = {e.path: str(e) for e in report.errors}
        assert set(reasons) == set(bad) and all(r.startswith("not a valid URL") for r in reasons.values()), reasons
        assert report.failed == len(bad)
    assert set(docs(bot)) == {server.url("/world/dam-talks")}


def test_an_article_page_url_is_unchanged_at_no_cost_the_second_time(server, bot):
    first = bot.ingest([server.url("/world/harbour-bridge.html?utm_source=newsletter#top")])
    assert first.added == 1 and list(docs(bot)) == [server.url("/world/harbour-bridge.html")]
    assert first.feeds == []
    again = bot.ingest([server.url("/world/harbour-bridge.html?utm_source=newsletter#top")])
    assert (again.unchanged, again.not_modified, again.fetched) == (1, 1, 0)
    bot.remove([server.url("/world/harbour-bridge.html")])  # gone from the index: fetched in full again
    third = bot.ingest([server.url("/world/harbour-bridge.html?utm_source=newsletter#top")])
    assert (third.added, third.fetched) == (1, 1)


def test_an_entry_without_text_anywhere_fails_until_qa_gives_up_on_it(server, tmp_path, tiny_encoder):
    bot = Assistant.open(tmp_path / "index", model=str(tiny_encoder), feed_entry_attempts=2, **FAST)
    feed = (FIXTURES / "world.rss").read_bytes().replace(b"<link>{{BASE}}/world/dam-talks.html</link>",
                                                         b"<link>{{BASE}}/world/missing.html</link>")
    feed = feed.replace(b"<description><![CDATA[Negotiators meet in Lindau after a pause of six months.]]></description>", b"")
    server.routes["/feeds/world.rss"] = Route(feed, "application/rss+xml")
    runs = [bot.ingest([server.url("/feeds/world.rss")]) for _ in range(3)]
    assert [r.failed for r in runs] == [1, 1, 0]  # tried in 2 runs, then left until the feed updates it
    assert str(runs[0].errors[0]) == "HTTP 404 Not Found; and the feed carries no text for this entry"
    assert runs[2].not_modified == 1 and server.hits["/world/missing.html"] == 2
    bot.close()


def test_sources_are_polled_when_due(server, bot):
    source, new = bot.add_source(server.url("/feeds/world.rss"), every="1h", name="Ledger World")
    assert new and source.seconds == 3600
    bot.add_source(server.url("/sitemaps/index.xml"), every="1h")
    first = bot.poll()
    assert {f.url for f in first.feeds} >= {server.url("/feeds/world.rss"), server.url("/sitemaps/index.xml")}
    assert docs(bot)[server.url("/world/dam-talks")].source == "Ledger World"  # the source's name
    tunnel = docs(bot)[server.url("/business/rail-tunnel.html")]  # via the index's plain sitemap
    assert tunnel.published_at == date(2025, 2, 27)  # the page's own date, never the sitemap's lastmod
    assert first.failed == 0 and first.added == 6
    server.reset_counts()
    assert bot.poll().feeds == [] and sum(server.hits.values()) == 0  # nothing is due yet
    status = {row["url"]: row for row in bot.source_status()}
    assert status[server.url("/feeds/world.rss")]["ok"] is True and status[server.url("/feeds/world.rss")]["last_poll"]
    assert bot.remove_source("Ledger World").url == server.url("/feeds/world.rss")
    assert [s.url for s in bot.sources()] == [server.url("/sitemaps/index.xml")]


def test_html_where_a_feed_was_expected_names_the_feeds_it_links(server, bot):
    bot.add_source(server.url("/world/dam-talks.html"))
    report = bot.poll()
    assert [e.one_line() for e in report.errors] == [
        f"failed: {server.url('/world/dam-talks.html')}: an HTML page where a feed or sitemap was expected "
        f"(it links these feeds: {server.url('/feeds/world.rss')})"]
    assert report.feeds[0].status == "failed" and bot.source_status()[0]["ok"] is False
