"""Reading what was fetched: a feed (RSS 2.0, Atom, RDF/RSS 1.0, JSON Feed — feedparser) or a
sitemap (plain, news, index — lxml, entities and network off) becomes a ``Listing`` of
``Entry``s; an article page, or an entry's own content when its page cannot be had, becomes a
``RawArticle`` (the page through ``qa.ingest.loaders.load_html``, the same extraction as an HTML
file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from qa.dates import parse_date
from qa.feeds.urls import canonical_url, document_id, host_of, web_url_problem
from qa.ingest.loaders import RawArticle, load_html, record_or_error
from qa.types import short_hash

FEED_KINDS = {"rss090": "RSS 0.90", "rss10": "RDF", "rss20": "RSS 2.0", "atom10": "Atom", "atom03": "Atom 0.3",
              "json1": "JSON Feed", "json11": "JSON Feed"}
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
MAX_SITEMAP_URLS = 50_000  # the sitemap protocol's own limit per file


class ParseError(Exception):
    """A feed or sitemap that cannot be read (malformed XML, HTML where a feed was expected)."""


@dataclass
class Entry:
    link: str  # the article page (absolute http(s) URL), "" when the entry has none
    key: str  # its identity in its feed: the canonical link, else the entry's id
    title: str = ""
    published: date | None = None
    version: str = ""  # changes when the feed says the entry changed
    content: str = ""  # HTML or text the feed itself carries (content:encoded, Atom content, summary)
    source: str = ""  # the publication's name, when the entry says it (news sitemaps)
    updated: date | None = None  # a sitemap's lastmod: orders entries, never a publication date
    warnings: list[str] = field(default_factory=list)


@dataclass
class Listing:
    kind: str  # "RSS 2.0", "Atom", "RDF", "JSON Feed", "sitemap", "news sitemap", "sitemap index"
    title: str = ""
    entries: list[Entry] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)  # a sitemap index's sitemaps
    warnings: list[str] = field(default_factory=list)

    def newest(self, n: int) -> list[Entry]:
        """The ``n`` newest entries (undated ones after the dated, in feed order)."""
        dated = [e for e in self.entries if e.published or e.updated]
        dated.sort(key=lambda e: e.published or e.updated or date.min, reverse=True)
        return (dated + [e for e in self.entries if not (e.published or e.updated)])[:n]


# ---------------------------------------------------------------- feeds


def read_feed(body: bytes, url: str, content_type: str = "") -> Listing:
    import feedparser

    if body.lstrip()[:1] == b"{":  # a JSON Feed, whatever the server called it (feedparser 6 reads none)
        return read_json_feed(body)
    parsed = feedparser.parse(
        body, response_headers={"content-location": url, "content-type": content_type or "application/xml"},
    )
    kind = FEED_KINDS.get(parsed.get("version") or "", "")
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    entries = [e for e in map(_feed_entry, parsed.entries) if e is not None]
    if problem is not None and not entries:
        raise ParseError(f"malformed XML: {_short(problem)}")
    if not kind:
        raise ParseError("not a feed qa can read")
    listing = Listing(kind, title=" ".join(str(parsed.feed.get("title") or "").split()), entries=entries)
    if problem is not None:
        listing.warnings.append(f"malformed XML ({_short(problem)}); {len(entries)} entries read leniently")
    return listing


def read_json_feed(body: bytes) -> Listing:
    """A JSON Feed (jsonfeed.org 1.0/1.1), its items mapped to the fields feedparser gives."""
    import json

    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise ParseError(f"malformed JSON: {_short(e)}") from None
    if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")):
        raise ParseError("JSON that is not a JSON Feed")
    items = data.get("items") if isinstance(data.get("items"), list) else []
    listing = Listing("JSON Feed", title=" ".join(str(data.get("title") or "").split()))
    for position, item in enumerate(items, 1):
        if not isinstance(item, dict):
            listing.warnings.append(f"item {position}: {_json_kind(item)}, not an object; skipped")
            continue
        entry = _feed_entry({
            "link": item.get("url") or item.get("external_url"), "id": item.get("id"), "title": item.get("title"),
            "content": [{"value": item.get("content_html") or item.get("content_text") or ""}],
            "summary": item.get("summary"), "published": item.get("date_published"), "updated": item.get("date_modified"),
        })
        if entry is not None:
            listing.entries.append(entry)
    return listing


def _json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words ("a number", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "a number", float: "a number", str: "a string", list: "an array"}.get(type(value), type(value).__name__)


def _feed_entry(item: Any) -> Entry | None:
    link = str(item.get("link") or "").strip()
    if link and web_url_problem(link):
        link = ""
    guid = str(item.get("id") or "").strip()
    content = _content(item)
    title = " ".join(str(item.get("title") or "").split())
    if not link and not content:
        return None  # nothing to read
    key = canonical_url(link) if link else (guid or "sha1:" + short_hash(f"{title}\n{content}"))
    stamp = str(item.get("updated") or item.get("published") or "")
    entry = Entry(
        link=link, key=key, title=title, content=content,
        version=stamp or "sha1:" + short_hash(f"{title}\n{content}"),
    )
    entry.published = _entry_date(item, entry.warnings)
    return entry


def _content(item: Any) -> str:
    """The fullest text the feed carries: content:encoded / Atom content, else the summary."""
    best = ""
    for part in item.get("content") or ():
        value = str(part.get("value") or "")
        if len(value) > len(best):
            best = value
    summary = str(item.get("summary") or "")
    return best if len(best) >= len(summary) else summary


def _entry_date(item: Any, warnings: list[str]) -> date | None:
    """``published`` (else ``updated``) as written; feedparser's reading when ours cannot."""
    for key in ("published", "updated"):
        raw = item.get(key)
        if not raw:
            continue
        try:
            return parse_date(str(raw))
        except ValueError:
            parsed = item.get(f"{key}_parsed")
            if parsed:
                return date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)
            warnings.append(f"entry {key} date {str(raw)[:60]!r} is not a date")
    return None


# ---------------------------------------------------------------- sitemaps


def read_sitemap(body: bytes, url: str) -> Listing:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as e:
        raise ParseError(f"malformed XML: {e}") from None
    if _local(root.tag) == "sitemapindex":
        listing = Listing("sitemap index")
        for loc in _children_text(root, "sitemap", "loc")[:MAX_SITEMAP_URLS]:
            if not web_url_problem(loc):
                listing.sitemaps.append(loc)
        return listing
    listing = Listing("sitemap")
    for node in root:
        if _local(node.tag) != "url" or len(listing.entries) >= MAX_SITEMAP_URLS:
            continue
        fields = {_local(child.tag): child for child in node if _namespace(child.tag) in (SITEMAP_NS, "")}
        fields.update({_local(child.tag): child for child in node.iter() if _namespace(child.tag) == NEWS_NS})
        link = _text(fields.get("loc"))
        if not link or web_url_problem(link):
            continue
        entry = Entry(link=link, key=canonical_url(link), title=_text(fields.get("title")))
        if "news" in fields:
            listing.kind = "news sitemap"
        published, lastmod = _text(fields.get("publication_date")), _text(fields.get("lastmod"))
        entry.version = lastmod or published
        entry.source = _text(fields.get("name"))
        if published:
            try:
                entry.published = parse_date(published)
            except ValueError:
                entry.warnings.append(f"news:publication_date {published[:60]!r} is not a date")
        entry.updated = _quiet_date(lastmod)  # orders the URLs; never a publication date
        listing.entries.append(entry)
    return listing


def _quiet_date(text: str) -> date | None:
    try:
        return parse_date(text) if text else None
    except ValueError:
        return None


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _namespace(tag: Any) -> str:
    return str(tag)[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _text(node: Any) -> str:
    return " ".join((node.text or "").split()) if node is not None else ""


def _children_text(root: Any, parent: str, child: str) -> list[str]:
    return [_text(c) for p in root if _local(p.tag) == parent for c in p if _local(c.tag) == child]


# ---------------------------------------------------------------- articles


def page_article(body: bytes, fetched: str) -> RawArticle:
    """An article page fetched from ``fetched`` (after redirects): main text and metadata, named
    by its canonical URL. Raises ``InputError`` when no article text is found."""
    raw = load_html(body, fetched, url=fetched)
    raw.doc_id = raw.url = document_id(fetched, raw.url)
    return raw


def entry_article(entry: Entry, feed_url: str) -> RawArticle:
    """An entry read from its feed's own content (its page could not be had). Raises
    ``InputError`` when the entry carries no text."""
    import trafilatura

    from qa.errors import InputError

    text = entry.content
    if "<" in text:
        text = trafilatura.extract(f"<html><body><article>{text}</article></body></html>", favor_recall=True) or ""
    name = entry.link or feed_url
    if not text.strip():
        raise InputError(name, "the feed carries no text for this entry")
    raw = record_or_error({"id": entry.key, "url": entry.link, "title": entry.title, "text": text,
                           "source": entry.source or host_of(entry.link or feed_url)}, name, None)
    if isinstance(raw, InputError):
        raise raw
    raw.url = entry.link and canonical_url(entry.link)
    raw.published_at = entry.published
    return raw


def _short(problem: object) -> str:
    text = " ".join(str(problem).split())
    return text if len(text) <= 160 else text[:159] + "…"
