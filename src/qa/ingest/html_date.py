"""Where an HTML page states its publication date: meta tags, schema.org ``itemprop``, JSON-LD
``datePublished`` and ``<time>`` elements — never its text, copyright line or URL. The values
are yielded as written; whether one names a day is ``qa.dates.parse_date``'s rule, as for every
other format (``qa.ingest.loaders``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from lxml.html import HtmlElement

# meta name / property / itemprop values (lowercased) that name the publication date; modified or
# updated dates are not publication dates and are never read
PUBLISHED_META = frozenset({
    "article:published_time", "article:published", "article:published_date", "article:publicationdate",
    "article:post_date", "article.published", "article_date_original", "og:published_time",
    "og:article:published_time", "og:article:published", "og:pubdate", "og:publish_date",
    "date", "pubdate", "publishdate", "publish_date", "publish-date", "published_date", "published-date",
    "published_time", "publication_date", "datepublished", "date_published", "originalpublicationdate",
    "dc.date", "dc.date.issued", "dc.date.created", "dc.date.publication", "dc:date", "dcterms.date",
    "dcterms.issued", "dcterms.created", "citation_publication_date", "citation_date", "parsely-pub-date",
    "sailthru.date", "cxenseparse:recs:publishtime", "rnews:datepublished", "bt:pubdate", "displaydate",
    "dcsext.articlefirstpublished", "shareaholic:article_published_time", "vr:published_time",
})
PUBLISHED_TIME_CLASSES = ("published", "entry-date", "pubdate")  # <time class="entry-date published">
JSON_LD_CHARS = 1_000_000  # a bigger script is not metadata anyone reads
JSON_LD_DEPTH = 8


def stated_dates(tree: HtmlElement) -> Iterator[tuple[str, str]]:
    """``(field, value)`` for each place the page states its publication date, most explicit
    first: meta tags (in page order), other ``itemprop="datePublished"`` elements, JSON-LD, a
    ``<time>`` marked as the publication's, else the page's one ``<time>`` value if it has only one."""
    for meta in tree.iter("meta"):
        for attr in ("property", "name", "itemprop"):
            key = (meta.get(attr) or "").strip()
            if key.lower() in PUBLISHED_META:
                yield key, meta.get("content") or meta.get("datetime") or ""
                break
    for elem in tree.xpath("//*[not(self::meta)][@itemprop]"):
        if elem.get("itemprop", "").strip().lower() == "datepublished":
            yield elem.get("itemprop"), _element_value(elem)
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        for value in _json_ld_published(script.text or ""):
            yield "datePublished", value
    times = [t for t in tree.iter("time") if _element_value(t)]
    marked = [t for t in times if t.get("pubdate") is not None or _published_class(t)]
    for t in marked:
        yield "<time>", _element_value(t)
    if not marked and len({_element_value(t) for t in times}) == 1:  # several days: which is a guess
        yield "<time>", _element_value(times[0])


def _element_value(elem: HtmlElement) -> str:
    return (elem.get("datetime") or elem.get("content") or elem.text_content() or "").strip()


def _published_class(elem: HtmlElement) -> bool:
    return any(c in PUBLISHED_TIME_CLASSES for c in (elem.get("class") or "").lower().split())


def _json_ld_published(text: str) -> Iterator[str]:
    if len(text) > JSON_LD_CHARS:
        return
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return
    yield from _walk(data, JSON_LD_DEPTH)


def _walk(node: Any, depth: int) -> Iterator[str]:
    """``datePublished`` values of a JSON-LD document, its ``@graph`` and nested objects."""
    if depth <= 0:
        return
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, depth - 1)
    elif isinstance(node, dict):
        value = node.get("datePublished")
        if isinstance(value, str):
            yield value
        for key, child in node.items():
            if key != "datePublished" and isinstance(child, (list, dict)):
                yield from _walk(child, depth - 1)
