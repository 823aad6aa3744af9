"""The one rule for a Chroma server's URL: what --chroma-url / QA_CHROMA_URL accepts, and the form
an index records. Light (no numpy, no chromadb): readers such as `qa index stats` use it."""

from __future__ import annotations


def chroma_address(url: str) -> tuple[str, int, bool]:
    """(host, port, https) of a Chroma server URL; a usage error if it is not one."""
    from urllib.parse import urlparse

    try:
        u = urlparse(url)
        port = u.port
    except ValueError:  # a bad port or IPv6 literal
        u, port = urlparse(""), -1
    from qa.errors import UsageError

    if u.username is not None or u.password is not None:  # never sent by chromadb; never echoed either
        raise UsageError("--chroma-url / QA_CHROMA_URL: credentials in the URL are not sent to Chroma; put them in "
                         'QA_CHROMA_HEADERS, e.g. {"Authorization": "Bearer ..."}')
    if u.scheme not in ("http", "https") or not u.hostname or port in (-1, 0):
        raise UsageError(f"--chroma-url / QA_CHROMA_URL: {url!r} is not an http(s)://host:port URL")
    if u.path not in ("", "/") or u.query or u.fragment:  # chromadb would drop them and ask the host's root
        raise UsageError(f"--chroma-url / QA_CHROMA_URL: {url!r}: a Chroma server URL is http(s)://host:port, "
                         "without a path, query or fragment")
    return u.hostname, port or (443 if u.scheme == "https" else 8000), u.scheme == "https"


def recorded_url(url: str | None) -> str | None:
    """A server URL an index recorded, as ``chroma_address`` accepts it: an older qa accepted a
    path, query or fragment (and dropped them), so an index that recorded one still opens."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    try:
        u = urlsplit(url)
    except ValueError:
        return url  # refused, with its reason, where it is used
    return urlunsplit((u.scheme, u.netloc, "", "", ""))
