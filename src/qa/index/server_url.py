"""The one rule for a Chroma server's URL: what --chroma-url / QA_CHROMA_URL accepts, and the form
an index records. Light (no numpy, no chromadb): readers such as `qa index stats` use it."""

from __future__ import annotations

from typing import NamedTuple


class ServerAddress(NamedTuple):
    host: str
    port: int
    https: bool
    path: str = ""  # a reverse proxy's prefix ("/chroma"): every request goes under it

    def url(self) -> str:
        """The form chromadb is given: a full URL keeps an IPv6 host's brackets and the path."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.https else 'http'}://{host}:{self.port}{self.path}"


def chroma_address(url: str) -> ServerAddress:
    """Host, port, scheme and path prefix of a Chroma server URL; a usage error if it is not one."""
    from urllib.parse import urlsplit

    try:
        u = urlsplit(url)
        port = u.port
    except ValueError:  # a bad port or IPv6 literal
        u, port = urlsplit(""), -1
    from qa.errors import UsageError

    if u.username is not None or u.password is not None:  # never sent by chromadb; never echoed either
        raise UsageError("--chroma-url / QA_CHROMA_URL: credentials in the URL are not sent to Chroma; put them in "
                         'QA_CHROMA_HEADERS, e.g. {"Authorization": "Bearer ..."}')
    if u.scheme not in ("http", "https") or not u.hostname or port in (-1, 0):
        raise UsageError(f"--chroma-url / QA_CHROMA_URL: {url!r} is not an http(s)://host:port URL")
    if u.query or u.fragment:  # chromadb would drop them
        raise UsageError(f"--chroma-url / QA_CHROMA_URL: {url!r}: a Chroma server URL is http(s)://host:port[/path], "
                         "without a query or fragment")
    return ServerAddress(u.hostname, port or (443 if u.scheme == "https" else 8000), u.scheme == "https", u.path.rstrip("/"))


def recorded_url(url: str | None) -> str | None:
    """A server URL as an index records and compares it: without a trailing slash ("http://h:8000/"
    is "http://h:8000"), and without a query or fragment (an older qa accepted and dropped them,
    so an index that recorded one still opens)."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    try:
        u = urlsplit(url)
    except ValueError:
        return url  # refused, with its reason, where it is used
    return urlunsplit((u.scheme, u.netloc, u.path.rstrip("/"), "", ""))
