"""HTTP GET with manners and limits: the one place qa talks to the web.

Every request names qa in its User-Agent, obeys robots.txt (``qa.feeds.robots``; a setting turns
it off), takes its turn per host (at most ``fetch_per_host`` under way and ``fetch_delay`` seconds
between starts, more when robots.txt says Crawl-delay or a server said Retry-After), gives up after
``fetch_timeout`` seconds, retries 429, 5xx, timeouts and broken connections a bounded number of
times with exponential backoff (honouring ``Retry-After`` up to ``fetch_max_retry_after``),
follows at most ``fetch_max_redirects`` redirects (each hop http(s), in the allowed hosts and ports, allowed
by robots.txt; a loop is named as one), accepts only HTML, XML and JSON media types, and reads at
most ``fetch_max_bytes`` — on the wire and after decompression, so a gzip bomb is refused after
reading a bounded amount. Conditional GET: ``Validators`` (ETag, Last-Modified) make an unchanged
resource a 304 that costs no body.

Built on urllib3 (what trafilatura's own downloader uses). trafilatura's ``fetch_response`` does
not fit here: it sends no conditional headers, reports a failure as ``None`` without its reason,
and retries TLS failures without verification.
"""

from __future__ import annotations

import email.utils
import threading
import time
import zlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from qa.feeds.urls import allowed_endpoints, endpoint_problem, host_of, web_url_problem
from qa.settings import FeedSettings

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
XML_TYPES = frozenset({
    "application/xml", "text/xml", "application/rss+xml", "application/atom+xml", "application/rdf+xml",
})
JSON_TYPES = frozenset({"application/feed+json", "application/json"})
GZIP_TYPES = frozenset({"application/gzip", "application/x-gzip"})  # a sitemap.xml.gz
ALLOWED_TYPES = HTML_TYPES | XML_TYPES | JSON_TYPES
REDIRECTS = frozenset({301, 302, 303, 307, 308})
RETRIED = frozenset({429, 500, 502, 503, 504})
READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Validators:
    """What a server said identifies the version it sent (for the next conditional GET)."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)


@dataclass(frozen=True)
class Response:
    url: str  # as asked for
    final_url: str  # after redirects
    status: int  # 200, or 304 (not modified)
    media_type: str  # lower-cased, without parameters ("" when the server sent none)
    content_type: str  # the header as sent (charset included), for parsers that read it
    body: bytes
    validators: Validators

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class FetchError(Exception):
    """One URL could not be fetched; the message names the reason (the URL is ``url``).
    ``transient``: it may work next time (timeouts, 429, 5xx, connection trouble)."""

    def __init__(self, url: str, message: str, *, transient: bool = False, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.transient = transient
        self.status = status  # the HTTP status that ended it, if one did


class _Retry(Exception):
    """An attempt that may be repeated: ``wait`` is what the server asked for (Retry-After)."""

    def __init__(self, message: str, wait: float | None = None, status: int | None = None):
        super().__init__(message)
        self.wait = wait
        self.status = status


class HostGate:
    """Per-host turns: at most ``per_host`` requests under way to one host, and ``delay`` seconds
    (or the host's own, longer delay) between the starts of two of them."""

    def __init__(self, per_host: int, delay: float):
        self.per_host, self.delay = per_host, delay
        self._lock = threading.Lock()
        self._slots: dict[str, threading.Semaphore] = {}
        self._next: dict[str, float] = {}  # host → monotonic time of its next allowed start
        self._delays: dict[str, float] = {}

    def set_delay(self, host: str, seconds: float) -> None:
        with self._lock:
            self._delays[host] = max(self.delay, seconds)

    def hold_off(self, host: str, until: float) -> None:
        """No request to ``host`` starts before ``until`` (monotonic): a server's Retry-After."""
        with self._lock:
            self._next[host] = max(self._next.get(host, 0.0), until)

    @contextmanager
    def turn(self, host: str) -> Iterator[None]:
        with self._lock:
            slot = self._slots.setdefault(host, threading.Semaphore(self.per_host))
        with slot:
            while True:
                with self._lock:
                    now = time.monotonic()
                    start = self._next.get(host, 0.0)
                    if now >= start:
                        self._next[host] = now + self._delays.get(host, self.delay)
                        break
                time.sleep(min(start - now, 1.0))
            yield


class Fetcher:
    """GETs for one run (thread-safe; share one between threads). ``hosts``: the only hosts it
    may fetch from, on every redirect hop (None: any — the command line's choice)."""

    def __init__(self, settings: FeedSettings, *, hosts: Collection[str] | None = None):
        import certifi
        import urllib3

        self.settings = settings
        self.hosts = None if hosts is None else allowed_endpoints(hosts)
        self.gate = HostGate(settings.fetch_per_host, settings.fetch_delay)
        self.pool = urllib3.PoolManager(
            num_pools=64, maxsize=settings.fetch_per_host, block=False, ca_certs=certifi.where(),
        )
        from qa.feeds.robots import Robots

        self.robots = Robots("qa", self._robots_file) if settings.fetch_robots else None
        self.requests = 0  # sent, robots.txt included (for reports and tests)
        self._count = threading.Lock()

    def close(self) -> None:
        self.pool.clear()

    # ------------------------------------------------------------ the one public call
    def get(self, url: str, *, validators: Validators | None = None,
            types: Collection[str] = ALLOWED_TYPES) -> Response:
        """The resource at ``url`` (200), or 304 when ``validators`` still match. Raises
        ``FetchError`` naming the reason for anything else."""
        return self._get(url, validators or Validators(), types, robots=True)

    def _get(self, url: str, validators: Validators, types: Collection[str], *, robots: bool) -> Response:
        current, seen = url, [url]
        for _ in range(self.settings.fetch_max_redirects + 1):
            self._check(url, current, robots=robots)
            status, headers, body = self._with_retries(url, current, validators, types)
            if status in REDIRECTS:
                target = headers.get("Location")
                if not target:
                    raise FetchError(url, f"{status} redirect without a Location")
                nxt = urljoin(current, target.strip())
                if nxt in seen:
                    raise FetchError(url, f"redirect loop ({' → '.join([*seen[seen.index(nxt):], nxt])})")
                seen.append(nxt)
                current = nxt
                continue
            media, ctype = _media_type(headers)
            if status == 304:
                return Response(url, current, 304, media, ctype, b"", validators)
            found = Validators(headers.get("ETag"), headers.get("Last-Modified"))
            if media in GZIP_TYPES and urlsplit(current).path.endswith(".gz"):
                body, media = _gunzip(url, body, self.settings.fetch_max_bytes), "application/xml"
            return Response(url, current, status, media, ctype, body, found)
        raise FetchError(url, f"too many redirects (more than {self.settings.fetch_max_redirects})")

    def _check(self, url: str, current: str, *, robots: bool) -> None:
        problem = web_url_problem(current)
        if problem:
            raise FetchError(url, problem if current == url else f"redirected to {current}: {problem}")
        host = host_of(current)
        outside = None if self.hosts is None else endpoint_problem(current, self.hosts)
        if outside:
            where = "" if current == url else f"redirected to {current}: "
            raise FetchError(url, f"{where}{outside}")
        if robots and self.robots is not None:
            allowed, delay, unreadable = self.robots.check(current)
            if delay:
                self.gate.set_delay(host, min(delay, 60.0))
            if not allowed:
                where = "" if current == url else f"redirected to {current}: "
                raise FetchError(url, f"{where}{unreadable or 'robots.txt disallows qa here'}", transient=bool(unreadable))

    # ------------------------------------------------------------ attempts
    def _with_retries(self, url: str, current: str, validators: Validators,
                      types: Collection[str]) -> tuple[int, Any, bytes]:
        s = self.settings
        host = host_of(current)
        for attempt in range(s.fetch_retries + 1):
            try:
                with self.gate.turn(host):
                    return self._once(url, current, validators, types)
            except _Retry as e:
                if e.wait is not None and e.wait > s.fetch_max_retry_after:
                    self.gate.hold_off(host, time.monotonic() + e.wait)
                    raise FetchError(url, f"{e}; Retry-After {e.wait:.0f} s is more than qa waits "
                                          f"({s.fetch_max_retry_after:.0f} s)", transient=True,
                                     status=e.status) from None
                if attempt == s.fetch_retries:
                    tries = f" (after {attempt + 1} tries)" if attempt else ""
                    raise FetchError(url, f"{e}{tries}", transient=True, status=e.status) from None
                wait = max(s.fetch_backoff * 2**attempt, e.wait or 0.0)
                self.gate.hold_off(host, time.monotonic() + wait)
        raise AssertionError("unreachable")

    def _once(self, url: str, current: str, validators: Validators,
              types: Collection[str]) -> tuple[int, Any, bytes]:
        import urllib3
        from urllib3 import exceptions as x

        s = self.settings
        headers = {
            "User-Agent": s.fetch_user_agent,
            "Accept": ", ".join(sorted(types)) + ", */*;q=0.1",
            "Accept-Encoding": "gzip, deflate",
            **validators.headers(),
        }
        deadline = time.monotonic() + s.fetch_timeout
        with self._count:
            self.requests += 1
        try:
            r = self.pool.request(
                "GET", current, headers=headers, redirect=False, retries=False, preload_content=False,
                timeout=urllib3.Timeout(connect=s.fetch_timeout, read=s.fetch_timeout),
            )
        except x.NameResolutionError:
            raise FetchError(url, f"DNS lookup failed for {host_of(current)}") from None
        except x.SSLError as e:
            raise FetchError(url, f"TLS error: {_reason(e)}") from None
        except x.NewConnectionError as e:  # before ConnectTimeoutError, its base class
            raise _Retry(f"cannot connect to {urlsplit(current).netloc}: {_reason(e)}") from None
        except (x.ConnectTimeoutError, x.ReadTimeoutError):
            raise _Retry(f"timeout (no answer within {s.fetch_timeout:g} s)") from None
        except (x.ProtocolError, x.HTTPError) as e:
            raise _Retry(f"connection broken: {_reason(e)}") from None
        try:
            status = r.status
            if status in REDIRECTS or status == 304:
                return status, r.headers, b""
            if status in RETRIED:
                raise _Retry(_status_text(status, r.reason), _retry_after(r.headers.get("Retry-After")), status)
            if status != 200:
                raise FetchError(url, _status_text(status, r.reason), status=status)
            media, _ = _media_type(r.headers)
            if media and media not in types and not (media in GZIP_TYPES and urlsplit(current).path.endswith(".gz")):
                raise FetchError(url, f"wrong content type {media} (qa reads {_kinds(types)})")
            return status, r.headers, self._body(url, r, deadline)
        finally:
            r.release_conn() if r.isclosed() else r.close()

    def _body(self, url: str, r: Any, deadline: float) -> bytes:
        from urllib3 import exceptions as x

        cap = self.settings.fetch_max_bytes
        declared = r.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(url, f"too large: {int(declared):,} bytes (limit {cap:,})")
        encoded = r.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity")
        data = bytearray()
        try:
            while chunk := r.read1(READ_CHUNK, decode_content=True):  # what has come: a trickle is timed
                data += chunk
                if len(data) > cap or r.tell() > cap:
                    after = " after decompression" if encoded and r.tell() <= cap else ""
                    raise FetchError(url, f"too large: more than {cap:,} bytes{after}")
                if time.monotonic() > deadline:
                    raise _Retry(f"timeout (body not complete within {self.settings.fetch_timeout:g} s)")
        except x.DecodeError as e:
            raise FetchError(url, f"cannot decompress the body: {_reason(e)}") from None
        except (x.ReadTimeoutError, x.ProtocolError) as e:
            raise _Retry(f"connection broken while reading: {_reason(e)}") from None
        return bytes(data)

    def _robots_file(self, url: str) -> tuple[int | None, bytes, str | None]:
        """robots.txt for the robots cache: (status, body, the failure when no answer came); a
        redirect is followed, the caps hold."""
        try:
            r = self._get(url, Validators(), {"text/plain", *ALLOWED_TYPES}, robots=False)
            return r.status, r.body, None
        except FetchError as e:
            return e.status, b"", None if e.status else str(e)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _media_type(headers: Any) -> tuple[str, str]:
    ctype = headers.get("Content-Type", "") or ""
    return ctype.split(";")[0].strip().lower(), ctype


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _status_text(status: int, reason: str | None) -> str:
    from http import HTTPStatus

    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = reason or ""
    return f"HTTP {status} {phrase}".rstrip()


def _kinds(types: Collection[str]) -> str:
    kinds = [name for name, group in (("HTML", HTML_TYPES), ("XML", XML_TYPES), ("JSON feeds", JSON_TYPES)) if group & set(types)]
    return ", ".join(kinds) or ", ".join(sorted(types))


def _reason(e: BaseException) -> str:
    """The operating system's words for a failure, without urllib3's object descriptions."""
    text = str(getattr(e, "reason", None) or e)
    return text.rsplit("new connection: ", 1)[-1].rsplit("object at 0x", 1)[-1].split(">: ", 1)[-1]


def _gunzip(url: str, body: bytes, cap: int) -> bytes:
    """A gzip file (``sitemap.xml.gz``), decompressed to at most ``cap`` bytes."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, cap + 1)
    except zlib.error as e:
        raise FetchError(url, f"not a valid gzip file: {e}") from None
    if len(out) > cap or d.unconsumed_tail:
        raise FetchError(url, f"too large: more than {cap:,} bytes after decompression")
    return out
