"""chromadb's HTTP client, with every request bounded. chromadb's own waits forever (httpx
``timeout=None``), so a server that accepts a connection and never answers hung an ingest, and a
replica's catch-up thread stopped for good; and it let httpx's errors through as tracebacks.
Imported only when a client of a server is made (importing chromadb takes ~0.7 s)."""

from __future__ import annotations

import re
import threading
from typing import Any

import chromadb
import httpx
from chromadb.api.fastapi import FastAPI
from chromadb.config import Settings as ChromaSettings

from qa.errors import QAError

_making = threading.Lock()


def bounded_client(url: str, host: str, port: int, https: bool, headers: dict[str, str], timeout: float) -> Any:
    """``chromadb.HttpClient`` of the server ``url``, whose requests (its own handshake included)
    fail after ``timeout`` seconds without an answer, or on a broken connection, with one
    QAError naming the server. chromadb accepts no other server API class for an HTTP client,
    so its ``FastAPI`` is bounded as it is made, before the handshake's requests."""
    init = FastAPI.__init__

    def bounded_init(self: FastAPI, system: Any) -> None:
        init(self, system)
        _bound(self, url, timeout)

    if ":" in host:  # an IPv6 address: chromadb joins a bare host and port without brackets; a URL it keeps
        host = f"{'https' if https else 'http'}://[{host}]:{port}"
    with _making:  # the class is patched only while this client is made
        FastAPI.__init__ = bounded_init  # type: ignore[method-assign]
        try:
            return chromadb.HttpClient(
                host=host, port=port, ssl=https, headers=headers or None, settings=ChromaSettings(anonymized_telemetry=False)
            )
        finally:
            FastAPI.__init__ = init  # type: ignore[method-assign]


def _bound(api: FastAPI, url: str, timeout: float) -> None:
    """Every request of ``api``: at most ``timeout`` s without an answer; sent once more when a
    kept-alive connection turns out closed (the server restarted; qa's requests are idempotent:
    gets, upserts, stamps and deletes by id); any failure one QAError naming the server."""
    api._session.timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
    request = api._make_request

    def bounded(method: str, path: str, **kwargs: Any) -> Any:
        try:
            try:
                return request(method, path, **kwargs)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):  # a kept-alive connection
                return request(method, path, **kwargs)  # the server closed or reset (it restarted): once more
        except httpx.TimeoutException:
            raise QAError(f"Chroma server {url} did not answer within {timeout:g} s (QA_CHROMA_TIMEOUT)") from None
        except httpx.TransportError as e:
            raise QAError(f"Chroma server {url} is not reachable: {_first_line(e)}") from None
        except Exception as e:
            if type(e) is Exception:  # chromadb's wrapper of an error answer that is not Chroma's (a proxy's 502 page)
                raise QAError(f"Chroma server {url} answered with an error: {_first_line(e)}") from None
            raise

    api._make_request = bounded  # type: ignore[method-assign]


def _first_line(e: BaseException) -> str:
    """The gist of an error: its text without markup (a proxy's error page), on one line."""
    text = " ".join(re.sub(r"<[^>]*>", " ", str(e)).split())
    return text[:200] if text else type(e).__name__
