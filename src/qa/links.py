"""Which links qa shows as links: article URLs come from untrusted input, so only absolute
http(s) URLs are ever rendered as links (never ``javascript:``, ``data:`` or a local path)."""

from __future__ import annotations

from urllib.parse import urlsplit

SCHEMES = ("http", "https")


def safe_url(url: str | None) -> str:
    """``url`` when it is an absolute http(s) URL without whitespace or control characters,
    else ``""``."""
    if not url or len(url) > 2048 or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme.lower() in SCHEMES and parts.hostname else ""
