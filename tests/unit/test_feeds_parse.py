"""Reading feeds, sitemaps and responses without a network: the formats of large publishers (RSS 2.0
with content:encoded, Atom, RDF, news sitemaps), their dates as written, canonical ids, and the
one-line reasons for what qa cannot read."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from qa.feeds.detect import NotReadable, detect
from qa.feeds.fetch import Response, Validators
from qa.feeds.parse import ParseError, entry_article, page_article, read_feed, read_sitemap
from qa.feeds.urls import canonical_url, document_id, looks_like_url, web_url_problem

NEWS = Path(__file__).resolve().parents[1] / "fixtures" / "news"
BASE = "https://ledger.example"


def fixture(name: str) -> bytes:
    return (NEWS / name).read_bytes().replace(b"{{BASE}}", BASE.encode())


def response(body: bytes, media: str = "", url: str = BASE + "/x") -> Response:
    return Response(url, url, 200, media, media, body, Validators())


def test_rss_entries_keep_their_dates_as_written_and_canonical_keys():
    feed = read_feed(fixture("world.rss"), BASE + "/feeds/world.rss", "application/rss+xml")
    assert (feed.kind, feed.title) == ("RSS 2.0", "Northern Ledger - World")
    by_title = {e.title: e for e in feed.entries}
    bridge = by_title["Harbour bridge approved after six-year dispute"]
    assert bridge.key == BASE + "/world/harbour-bridge.html"  # utm_* gone
    assert bridge.published == date(2025, 3, 8)
    strike = by_title["Dock workers in Port Alder strike over night shifts"]
    assert strike.published == date(2025, 3, 9)  # 23:30 -0500 is the 9th as written (the 10th in UTC)
    assert strike.key == BASE + "/business/port-strike.html"  # at_campaign/at_medium are trackers too
    ferry = by_title["Ferry fares rise for the third time in a year"]
    assert "12 percent" in ferry.content  # content:encoded, not the one-line description
    assert {e.title for e in feed.newest(2)} == {strike.title, "Norland and Westmark resume talks on the Kessel river dam"}


def test_atom_prefers_published_and_rdf_reads_dc_date():
    atom = read_feed(fixture("politics.atom"), BASE + "/feeds/politics.atom")
    assert atom.kind == "Atom"
    summit = next(e for e in atom.entries if "Valley" in e.title)
    assert summit.published == date(2025, 3, 5)  # published (23:10 +02:00), not updated (the 6th)
    assert summit.version == "2025-03-06T08:00:00Z"  # the entry changes when its updated stamp does
    rdf = read_feed(fixture("science.rdf"), BASE + "/feeds/science.rdf")
    assert rdf.kind == "RDF" and rdf.entries[0].published == date(2025, 3, 10)


def test_news_sitemap_gives_publication_dates_names_and_ignores_image_locs():
    news = read_sitemap(fixture("news-sitemap.xml"), BASE + "/sitemaps/news.xml")
    assert news.kind == "news sitemap"
    assert [e.link for e in news.entries] == [BASE + "/science/river-survey.html",
                                              BASE + "/business/port-strike.html?utm_source=sitemap"]
    assert news.entries[0].published == date(2025, 3, 10) and news.entries[0].source == "Northern Ledger"
    plain = read_sitemap(fixture("sitemap.xml"), BASE + "/sitemaps/pages.xml")
    assert plain.kind == "sitemap" and plain.entries[0].published is None  # lastmod is no publication date
    index = read_sitemap(fixture("sitemap-index.xml"), BASE + "/sitemaps/index.xml")
    assert index.kind == "sitemap index" and index.sitemaps == [BASE + "/sitemaps/pages.xml", BASE + "/sitemaps/news.xml"]


def test_malformed_xml_and_things_that_are_not_feeds_fail_with_a_reason():
    with pytest.raises(ParseError, match="malformed XML"):
        read_sitemap(b"<urlset><url><loc>https://a.example/x</loc></url>", BASE)
    with pytest.raises(ParseError, match="malformed XML|not a feed"):
        read_feed(fixture("malformed.rss"), BASE)
    with pytest.raises(NotReadable, match="not a JSON Feed"):
        detect(response(fixture("not-a-feed.json"), "application/json"))
    with pytest.raises(NotReadable, match="root element <svg>"):
        detect(response(b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "application/xml"))
    with pytest.raises(NotReadable, match="empty"):
        detect(response(b"  ", "text/html"))


def test_detection_follows_the_bytes_not_the_media_type():
    assert detect(response(fixture("world.rss"), "text/html")) == "feed"  # feeds are often sent as text/html
    assert detect(response(fixture("politics.atom"), "text/xml")) == "feed"
    assert detect(response(fixture("news-sitemap.xml"), "application/xml")) == "sitemap"
    assert detect(response(fixture("sitemap-index.xml"), "text/xml")) == "sitemap-index"
    assert detect(response(fixture("dam-talks.html"), "application/xml")) == "page"
    assert detect(response(b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "application/json")) == "feed"


def test_a_page_is_named_by_its_canonical_url_only_on_its_own_site():
    page = page_article(fixture("dam-talks.html"), BASE + "/world/dam-talks.html?utm_source=x")
    assert page.doc_id == page.url == BASE + "/world/dam-talks"  # its <link rel=canonical>
    assert page.published_at == date(2025, 3, 9) and page.source == "Northern Ledger"
    stolen = fixture("dam-talks.html").replace(BASE.encode() + b"/world/dam-talks", b"https://other.example/world/x")
    evil = page_article(stolen, "https://evil.example/copy.html")
    assert evil.doc_id == "https://evil.example/copy.html"  # a canonical on another site is not believed
    assert document_id("https://edition.news.com/a", "https://www.news.com/a?utm_medium=x") == "https://www.news.com/a"
    assert document_id("https://a.co.uk/x", "https://b.co.uk/x") == "https://a.co.uk/x"  # one public suffix, two sites


def test_json_ld_date_is_the_pages_own_and_undated_pages_stay_undated_without_a_guess():
    assert page_article(fixture("harbour-bridge.html"), BASE + "/world/harbour-bridge.html").published_at == date(2025, 3, 7)
    assert page_article(fixture("port-strike.html"), BASE + "/business/port-strike.html").published_at is None


def test_an_entry_falls_back_to_its_own_content():
    feed = read_feed(fixture("world.rss"), BASE + "/feeds/world.rss")
    ferry = next(e for e in feed.entries if "Ferry" in e.title)
    raw = entry_article(ferry, BASE + "/feeds/world.rss")
    assert raw.doc_id == BASE + "/world/ferry-fares.html" and raw.published_at == date(2025, 3, 7)
    assert "890 crowns" in raw.text and "<p>" not in raw.text


def test_urls_and_ids():
    assert canonical_url("HTTPS://News.Example:443/a?b=2&a=1&utm_source=rss&fbclid=x#top") == "https://news.example/a?a=1&b=2"
    assert looks_like_url("https://x.example/a") and looks_like_url("file:///etc/passwd") and not looks_like_url("./a.html")
    assert web_url_problem("file:///etc/passwd") == "only http(s) URLs are fetched, not file:"
    assert web_url_problem("http://127.0.0.1:8000/x") is None


@pytest.mark.parametrize("url", ["http://[::1]:8080/x", "https://news.example/a?b=c@d", "http://bücher.example/x", "http://Example.ORG:80/",
                                 "http://straße.de/x", "https://news.example/search?q=a\\b"])
def test_a_url_every_parser_reads_alike_is_fetched(url):
    assert web_url_problem(url) is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000\\@news.example/x", "http://127.0.0.1:9000%5C@news.example/x",
                                 "http://user:pw@news.example/x", "http://news.example\\.evil.example/x"])
def test_a_url_the_http_client_could_read_as_another_host_is_refused(url):
    """urlsplit (which the allow-list of hosts reads) and urllib3 (which sends the request)
    disagree on a backslash or an escape before the path: refused, with any user part."""
    assert "refused" in (web_url_problem(url) or "")


def test_a_json_feed_is_a_feed():
    body = (b'{"version": "https://jsonfeed.org/version/1.1", "title": "Ledger JSON", "items": [{"id": "1", '
            b'"url": "https://ledger.example/world/a.html?utm_source=json", "title": "A", '
            b'"content_html": "<p>Some text here.</p>", "date_published": "2025-03-08T23:30:00-05:00"}]}')
    feed = read_feed(body, BASE + "/feed.json", "")
    assert (feed.kind, feed.title) == ("JSON Feed", "Ledger JSON")
    entry = feed.entries[0]
    assert (entry.key, entry.published) == ("https://ledger.example/world/a.html", date(2025, 3, 8))
