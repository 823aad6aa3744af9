"""A real HTTP server on 127.0.0.1 for the feed tests: serves fixture files in the formats of large
publishers, with ETag/Last-Modified and 304s like theirs, and the misbehaviours qa must survive
(slow, 429 with Retry-After, 500s, redirect loops, gzip bombs, wrong content types). It counts
every request per path, so a test can check what a re-poll costs."""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "news"
LAST_MODIFIED = "Sun, 09 Mar 2025 18:00:00 GMT"


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True  # answer If-None-Match with 304
    last_modified: bool = False  # send Last-Modified and answer If-Modified-Since with 304
    delay: float = 0.0  # seconds before the headers
    dribble: float = 0.0  # seconds between body bytes (a slow body)
    gzip: bool = False  # Content-Encoding: gzip
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (status, headers) answered first, one per request


class NewsServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route | Callable[[BaseHTTPRequestHandler], None]] = {}
        self.hits: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}
        self.user_agents: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):
                    pass  # a client that stopped reading (a refused gzip bomb) is no error here

            def do_GET(self) -> None:  # noqa: N802
                with server.lock:
                    server.hits[self.path] += 1
                    server.times.setdefault(self.path, []).append(time.monotonic())
                    server.user_agents.add(self.headers.get("User-Agent", ""))
                route = server.routes.get(self.path) or server.routes.get(self.path.split("?")[0])
                if route is None:
                    self._send(404, b"not found", "text/plain", {})
                elif callable(route):
                    route(self)
                else:
                    self._serve(route)

            def _serve(self, r: Route) -> None:
                if r.delay:
                    time.sleep(r.delay)
                if r.script:
                    status, headers = r.script.pop(0)
                    self._send(status, b"try later", "text/plain", headers)
                    return
                body = r.body.replace(b"{{BASE}}", server.base.encode())
                headers = dict(r.headers)
                tag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if r.etag:
                    headers["ETag"] = tag
                    if self.headers.get("If-None-Match") == tag:
                        self._send(304, b"", None, headers)
                        return
                if r.last_modified:
                    headers["Last-Modified"] = LAST_MODIFIED
                    if self.headers.get("If-Modified-Since") == LAST_MODIFIED:
                        self._send(304, b"", None, headers)
                        return
                if r.gzip:
                    headers["Content-Encoding"] = "gzip"
                self._send(r.status, body, r.content_type, headers, dribble=r.dribble)

            def _send(self, status: int, body: bytes, ctype: str | None, headers: dict[str, str], dribble: float = 0.0) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if dribble:
                        for i in range(len(body)):
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(dribble)
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> NewsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    def fixture(self, path: str, name: str, content_type: str, **kw: object) -> str:
        self.routes[path] = Route((FIXTURES / name).read_bytes(), content_type, **kw)  # type: ignore[arg-type]
        return self.url(path)

    def redirect(self, path: str, to: str, status: int = 302) -> None:
        def send(h: BaseHTTPRequestHandler) -> None:
            h.send_response(status)
            h.send_header("Location", to)
            h.send_header("Content-Length", "0")
            h.end_headers()

        self.routes[path] = send

    def reset_counts(self) -> None:
        with self.lock:
            self.hits.clear()
            self.times.clear()


def gzip_bomb(decompressed: int) -> bytes:
    """``decompressed`` zero bytes, gzipped (about a thousandth of the size)."""
    return gzip.compress(b"\0" * decompressed, compresslevel=9)


def publisher(server: NewsServer) -> None:
    """The fixtures of one publisher ("Northern Ledger") and its misbehaving corners."""
    server.fixture("/feeds/world.rss", "world.rss", "application/rss+xml; charset=utf-8")
    server.fixture("/feeds/politics.atom", "politics.atom", "application/atom+xml", etag=False, last_modified=True)
    server.fixture("/feeds/science.rdf", "science.rdf", "application/rdf+xml")
    server.fixture("/sitemaps/news.xml", "news-sitemap.xml", "application/xml")
    server.fixture("/sitemaps/index.xml", "sitemap-index.xml", "text/xml")
    server.fixture("/sitemaps/pages.xml", "sitemap.xml", "application/xml")
    for page in ("harbour-bridge", "dam-talks", "port-strike", "river-survey", "valley-summit", "rail-tunnel"):
        section = {"harbour-bridge": "world", "dam-talks": "world", "port-strike": "business",
                   "river-survey": "science", "valley-summit": "politics", "rail-tunnel": "business"}[page]
        server.fixture(f"/{section}/{page}.html", f"{page}.html", "text/html; charset=utf-8")
    server.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /private/\n", "text/plain")
    server.fixture("/private/memo.html", "rail-tunnel.html", "text/html")
