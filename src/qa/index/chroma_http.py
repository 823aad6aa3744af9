"""chromadb's HTTP client, with every request bounded. chromadb's own waits forever (httpx
``timeout=None``), so a server that accepts a connection and never answers hung an ingest, and a
replica's catch-up thread stopped for good; and it let httpx's errors through as tracebacks.
Imported only when a client of a server is made (importing chromadb takes ~0.7 s)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import chromadb
import httpcore
import httpx
from chromadb.api.fastapi import FastAPI
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError

from qa.errors import QAError, ServerAnswerError, chroma_public, gist
from qa.index.server_url import ServerAddress

_making = threading.Lock()


def bounded_client(url: str, address: ServerAddress, headers: dict[str, str], timeout: float) -> Any:
    """``chromadb.HttpClient`` of the server ``url``, whose requests (its own handshake included)
    fail after ``timeout`` seconds without an answer, or on a broken connection, with one
    QAError naming the server. chromadb accepts no other server API class for an HTTP client,
    so its ``FastAPI`` is bounded as it is made, before the handshake's requests."""
    init = FastAPI.__init__

    def bounded_init(self: FastAPI, system: Any) -> None:
        init(self, system)
        _bound(self, url, timeout)

    with _making:  # the class is patched only while this client is made
        FastAPI.__init__ = bounded_init  # type: ignore[method-assign]
        try:
            # a full URL: chromadb joins a bare host and port without an IPv6 host's brackets, and
            # drops a path; a URL it keeps whole
            return chromadb.HttpClient(
                host=address.url(), port=address.port, ssl=address.https, headers=headers or None,
                settings=ChromaSettings(anonymized_telemetry=False),
            )
        finally:
            FastAPI.__init__ = init  # type: ignore[method-assign]


def _bound(api: FastAPI, url: str, timeout: float) -> None:
    """Every request of ``api``: at most ``timeout`` s without an answer; sent once more when a
    kept-alive connection turns out closed (the server restarted; qa's requests are idempotent:
    gets, upserts, stamps and deletes by id); any failure one QAError naming the server."""
    api._session.timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
    _with_deadlines(api._session)
    request = api._make_request

    def bounded(method: str, path: str, **kwargs: Any) -> Any:
        _deadline.at = time.monotonic() + timeout  # the whole call, its one retry included
        try:
            try:
                return request(method, path, **kwargs)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):  # a kept-alive connection
                return request(method, path, **kwargs)  # the server closed or reset (it restarted): once more
        except NotFoundError:
            raise  # "no such collection": the callers' own question (qa.index.shared)
        except ChromaError as e:  # the server's own error answer (it failed, or refused the request)
            raise ServerAnswerError(f"Chroma server {url} answered with an error: {gist(e)}", public=chroma_public("answered with an error")) from None
        except httpx.TimeoutException:
            raise QAError(f"Chroma server {url} did not answer within {timeout:g} s (QA_CHROMA_TIMEOUT)",
                          public=chroma_public("did not answer in time")) from None
        except httpx.TransportError as e:
            raise QAError(f"Chroma server {url} is not reachable: {_first_line(e)}", public=chroma_public("is not reachable")) from None
        except Exception as e:
            if type(e) is Exception:  # chromadb's wrapper of an error answer that is not Chroma's (a proxy's 502 page)
                raise ServerAnswerError(f"Chroma server {url} answered with an error: {_first_line(e)}",
                                        public=chroma_public("answered with an error")) from None
            raise
        finally:
            _deadline.at = None

    api._make_request = bounded  # type: ignore[method-assign]


class _Deadline(threading.local):
    """When the current thread's request must be over (``time.monotonic()``), if it is bounded."""

    at: float | None = None


_deadline = _Deadline()
_SLICE = 64 * 1024


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """The timeout of one network step: httpx's own, or less when the request's deadline is nearer."""
    at = _deadline.at
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the request took longer than its timeout")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # httpcore sends a whole request body in one write, each send() bounded on its own: in
        # slices, a server that reads slowly is cut off by the deadline too
        view = memoryview(buffer)
        for i in range(0, len(view), _SLICE):
            self._stream.write(view[i : i + _SLICE], _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend, each step given at most what is left of its request's time."""

    def __init__(self, backend: httpcore.NetworkBackend):
        self._backend = backend

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_tcp(host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_unix_socket(path, _left(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _with_deadlines(session: httpx.Client) -> None:
    """Put ``_DeadlineBackend`` under each of the client's connection pools (its own, and a
    proxy's from the environment). httpx offers no public hook for it; if its internals change,
    the per-read timeout still holds (tests/integration/test_server_failures.py's trickling relay
    fails then)."""
    for transport in [session._transport, *session._mounts.values()]:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]


def _first_line(e: BaseException) -> str:
    """The gist of an error: its text without markup (a proxy's error page), on one line."""
    text = " ".join(re.sub(r"<[^>]*>", " ", str(e)).split())
    return text[:200] if text else type(e).__name__
