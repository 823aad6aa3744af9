"""What a URL is to qa: whether an input is one, and the canonical form that names a document.

A document fetched from the web is named by its canonical URL: scheme and host lower-cased, the
default port, the fragment and tracking parameters (``utm_*``, ``fbclid``, ``gclid``, … as courlan
knows them) removed, the other query parameters sorted — so a story reached from two feeds, or
with and without ``?utm_source=rss``, is one document. A page's own ``<link rel="canonical">`` is
believed only when it names the same site (registrable domain) as the page: a page cannot take
over another site's document by claiming its URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
WEB_SCHEMES = ("http", "https")


def looks_like_url(text: str) -> bool:
    """Whether an input names a URL (``scheme://…``) rather than a path."""
    return bool(_SCHEME.match(text))


def web_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be fetched (None: it can): only http(s) with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — raises ValueError on a bad port
    except ValueError as e:
        return f"not a valid URL ({e})"
    if parts.scheme.lower() not in WEB_SCHEMES:
        return f"only http(s) URLs are fetched, not {parts.scheme or 'this'}:"
    if not parts.hostname:
        return "URL without a host"
    if any(ch.isspace() for ch in url):
        return "URL contains white space"
    if "\\" in parts.netloc or "@" in parts.netloc or "%" in parts.netloc:
        # parsers disagree on such a URL: urlsplit read the host after the "@", urllib3 (which
        # sends the request) the one before a backslash — an allow-list of hosts was passed by
        return "URL with a user name, a backslash or an escape before its path (refused: read as another host)"
    return _same_host_for_urllib3(url, parts.hostname, parts.port)


def _same_host_for_urllib3(url: str, host: str, port: int | None) -> str | None:
    """None when urllib3, which makes the request, reads the host and port qa checked."""
    from urllib3.util import parse_url

    try:
        u = parse_url(url)
    except ValueError as e:
        return f"not a valid URL ({e})"
    try:  # the host as urllib3 normalises a host alone (a Unicode name to IDNA, as it sends it)
        alone = parse_url(f"http://[{host}]" if ":" in host else f"http://{host}").host or ""
    except ValueError:
        alone = host
    if (u.host or "").strip("[]").lower() not in {host.lower(), alone.strip("[]").lower()} or u.port != port:
        return "URL read as another host by the HTTP client (refused)"
    return None


DEFAULT_PORTS = {"http": 80, "https": 443}


def allowed_endpoints(entries: Iterable[str]) -> frozenset[tuple[str, int | None]]:
    """An allow-list of hosts as (host, port) pairs: ``news.example.org`` is that host on its
    scheme's own port (port None), ``news.example.org:8080`` / ``[::1]:8080`` that port only."""
    out = set()
    for entry in entries:
        text = entry.strip().lower()
        if text.count(":") > 1 and not text.startswith("["):  # a bare IPv6 address
            out.add((text, None))
            continue
        try:
            parts = urlsplit(f"//{text}")
            port = parts.port
        except ValueError:
            raise ValueError(f"{entry!r} is not a host or host:port") from None
        if not parts.hostname or parts.path or parts.username:
            raise ValueError(f"{entry!r} is not a host or host:port")
        out.add((parts.hostname, port))
    return frozenset(out)


def endpoint_problem(url: str, allowed: frozenset[tuple[str, int | None]]) -> str | None:
    """Why ``url`` is outside the allow-list (None: it is inside): another host, or a port its
    entry does not name."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    if (host, port) in allowed or ((host, None) in allowed and port == DEFAULT_PORTS.get(parts.scheme.lower())):
        return None
    if any(h == host for h, _ in allowed):
        return f"port {port} of {host} is not in the hosts this server may fetch from"
    return f"host {host} is not in the hosts this server may fetch from"


def canonical_url(url: str) -> str:
    """The form of ``url`` that names a document (see the module doc); a URL that does not
    parse (``http://[::1``) as given, for the fetcher to report as that URL's error."""
    from courlan import normalize_url

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    try:
        return normalize_url(urlunsplit(parts._replace(fragment="")), strict=False)
    except ValueError:  # courlan refuses some odd queries: keep the URL without its fragment
        return urlunsplit(parts._replace(fragment="", scheme=parts.scheme.lower(), netloc=parts.netloc.lower()))


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def site_of(url: str) -> str:
    """The registrable domain of ``url`` (``edition.cnn.com`` → ``cnn.com``; by the public suffix
    list, so ``bbc.co.uk`` stays whole), or the host itself (an IP address, ``localhost``)."""
    from courlan.urlutils import extract_domain

    host = host_of(url)
    try:
        return extract_domain(url) or host
    except Exception:  # noqa: BLE001 — an odd host is its own site
        return host


def same_site(a: str, b: str) -> bool:
    return bool(site_of(a)) and site_of(a) == site_of(b) and urlsplit(a).port == urlsplit(b).port


def document_id(fetched: str, declared: str | None) -> str:
    """The id of a page fetched from ``fetched`` (after redirects) that declares ``declared`` as
    its canonical URL: the declared one when it is an http(s) URL on the same site, else the
    fetched one; canonical either way."""
    if declared and web_url_problem(declared) is None and same_site(declared, fetched):
        return canonical_url(declared)
    return canonical_url(fetched)
