"""What a fetched response is — an article page, a feed, a sitemap or a sitemap index — decided
from its first bytes (the root element, a JSON Feed's version) and its media type, because
servers often send feeds as text/html or text/xml and pages as application/xml."""

from __future__ import annotations

import json
import re
from typing import Literal

from qa.feeds.fetch import HTML_TYPES, JSON_TYPES, Response

Kind = Literal["page", "feed", "sitemap", "sitemap-index"]

_PROLOGUE = re.compile(
    rb"\A(?:\xef\xbb\xbf)?(?:\s+|<\?[^>]*\?>|<!--.*?-->|<!DOCTYPE(?:[^>\[]|\[[^\]]*\])*>)*", re.S | re.I
)
_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
FEED_ROOTS = {"rss", "feed", "rdf:rdf", "rdf"}
SNIFF_BYTES = 4096


class NotReadable(Exception):
    """The response is none of the kinds qa reads (the message says what it is)."""


def root_element(body: bytes) -> str | None:
    """The lower-cased name of the first element after the XML prologue, or None."""
    head = body[: SNIFF_BYTES * 4]
    m = _PROLOGUE.match(head)
    found = _ROOT.match(head, m.end() if m else 0)
    return found.group(1).decode("ascii", "replace").lower() if found else None


def detect(response: Response) -> Kind:
    body, media = response.body, response.media_type
    if not body.strip():
        raise NotReadable("empty response")
    if media in JSON_TYPES or body.lstrip()[:1] == b"{":
        if _is_json_feed(body):
            return "feed"
        raise NotReadable("JSON that is not a JSON Feed")
    root = root_element(body)
    if root in FEED_ROOTS:
        return "feed"
    if root == "urlset":
        return "sitemap"
    if root == "sitemapindex":
        return "sitemap-index"
    if root == "html" or media in HTML_TYPES:
        return "page"
    if root is None:
        raise NotReadable("not XML, HTML or JSON")
    raise NotReadable(f"XML that is not a feed or sitemap (root element <{root}>)")


def _is_json_feed(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "jsonfeed.org" in str(data.get("version", ""))
