"""What the server lets in and what it lets out: the API key, rate limits, the body limit, the
Host names answered, backend choices by configured name only, and the answer details a client
may see (never the operator's paths)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from qa.answer.generate import LLM_FAILED
from qa.settings import LLMSettings, ServerSettings
from qa.types import Answer


def backend_for(settings: LLMSettings, name: str | None, field: str = "llm") -> str:
    """The operator's backend string for a request's backend NAME (``None``: the default).

    The requested value is only ever looked up among the configured names, never parsed as a
    backend, path or URL — so a request cannot make the server open a file or call a model the
    operator did not configure, and the answer does not depend on what exists on disk."""
    names = settings.llm_names()
    if name is None:
        return names["default"]
    if name not in names:
        raise HTTPException(400, f"{field}: not a configured backend name; choose one of: {', '.join(names)}")
    return names[name]


def public_details(answer: Answer) -> dict[str, Any]:
    """The answer's details a client may see: backend and model names, fallback, timing."""
    keep = ("as_of", "backend", "model", "fallback", "fallback_reason", "llm_error", "latency_ms")
    extra = {k: answer.extra.get(k) for k in keep if k in answer.extra}
    # an LLM's failure in qa's words: the detail quotes the endpoint (its text, its URL)
    if "llm_error" in extra:
        extra["llm_error"] = answer.extra.get("public_error") or LLM_FAILED
    if "fallback_reason" in extra and "public_reason" in answer.extra:
        extra["fallback_reason"] = answer.extra["public_reason"]
    if extra.get("backend") == "gguf" and extra.get("model"):  # the operator's file path stays private
        extra["model"] = Path(str(extra["model"])).name
    return extra


def public_doc_id(doc_id: str) -> str:
    """A document's id as a client sees it: as it is, unless it is a path on the server (a file
    ingested without an id or url is named by its absolute path), which a client sees as a digest
    of it - the same for the same file, saying nothing of where the operator keeps it."""
    if not doc_id.startswith("/"):
        return doc_id
    return "file:" + hashlib.sha256(doc_id.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def public_sources(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Search results or citations (their ``to_dict``) as a client sees them (``public_doc_id``)."""
    return [{**item, "doc_id": public_doc_id(item["doc_id"])} for item in items]


def internal_error(request: str, exc: BaseException) -> dict[str, Any]:
    """What a client is told of a failure qa did not foresee (a bug, a full disk): "internal
    error", never its words nor a stack trace. The operator's log gets the traceback, naming
    the request (``"POST /ingest"``), as uvicorn's own log would."""
    logging.getLogger("uvicorn.error").error("qa serve: %s failed", request, exc_info=exc)
    return {"error": {"message": "internal error", "type": "internal"}}


class RateLimiter:
    """Sliding-window request count per bucket ("key" or "addr:HOST"). The table is bounded:
    buckets idle for a whole window expire, and past ``max_clients`` the least recently seen
    bucket is dropped."""

    window = 60.0

    def __init__(self, per_minute: int, max_clients: int = 10_000):
        self.per_minute = per_minute
        self.max_clients = max_clients
        self.hits: OrderedDict[str, deque[float]] = OrderedDict()  # least recently seen first
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.hits)

    def allow(self, bucket: str) -> bool:
        now = time.monotonic()
        with self.lock:
            self._expire(now)
            q = self.hits.setdefault(bucket, deque())
            self.hits.move_to_end(bucket)
            while q and now - q[0] > self.window:
                q.popleft()
            if len(self.hits) > self.max_clients:
                self.hits.popitem(last=False)
            if len(q) >= self.per_minute:
                return False
            q.append(now)
            return True

    def _expire(self, now: float) -> None:
        while self.hits:
            oldest = next(iter(self.hits.values()))
            if oldest and now - oldest[-1] <= self.window:
                return
            self.hits.popitem(last=False)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body over {limit} bytes")


def too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": {"message": f"request body over {limit} bytes", "type": "too_large"}}, status_code=413)


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes (pure ASGI): by Content-Length when declared,
    and always by the bytes actually read, since a chunked body declares no length."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await too_large(self.limit)(scope, receive, send)
        read = 0
        started = False

        async def counted_receive() -> Any:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracked_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await too_large(self.limit)(scope, receive, send)


INVALID_HOST = {"error": {"message": "invalid Host header: this server does not answer that name", "type": "invalid_host"}}


class TrustedHosts:
    """Starlette's TrustedHostMiddleware (its Host rules, its www redirect), whose plain-text
    'Invalid host header' is answered in the server's JSON error shape instead (pure ASGI): the
    refusal is the 400 it sends without having let the request in."""

    def __init__(self, app: Any, allowed_hosts: list[str]):
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        async def admitted(scope: Any, receive: Any, send: Any) -> None:
            scope["qa.host_admitted"] = True
            await app(scope, receive, send)

        self.check = TrustedHostMiddleware(admitted, allowed_hosts=allowed_hosts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        refused = False

        async def json_refusal(message: Any) -> None:
            nonlocal refused
            if scope.get("qa.host_admitted"):
                await send(message)
            elif message["type"] == "http.response.start" and message["status"] == 400:
                refused = True
                await JSONResponse(INVALID_HOST, status_code=400)(scope, receive, send)
            elif not refused:
                await send(message)  # the www redirect

        await self.check(scope, receive, json_refusal if scope["type"] == "http" else send)


def key_ok(settings: ServerSettings, request: Request) -> bool:
    """Whether the request carries the configured API key (compared in constant time)."""
    if not settings.api_key:
        return False
    given = request.headers.get("authorization", "").encode()
    return hmac.compare_digest(given, f"Bearer {settings.api_key}".encode())


def rate_bucket(settings: ServerSettings, request: Request) -> str:
    """Requests with the right key count against the key; all others against their address, so
    failed attempts never use up the key's allowance."""
    if key_ok(settings, request):
        return "key"
    return f"addr:{client_network(request.client.host) if request.client else '?'}"


def client_network(host: str) -> str:
    """Whom an address's requests count against: an IPv4 address (an IPv4-mapped IPv6 one too),
    or an IPv6 address's /64, the least a single IPv6 client is given, so a client cannot take a
    fresh allowance for each of its 2^64 addresses."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def allowed_hosts(settings: ServerSettings, bound_host: str) -> list[str]:
    """Host header values the server answers. On loopback only the loopback names, so a web page
    that rebinds its own domain to 127.0.0.1 (DNS rebinding) cannot read or write the index."""
    if settings.allowed_hosts:
        return settings.allowed_hosts
    if is_loopback(bound_host):
        return ["localhost", "127.0.0.1", "[::1]", bound_host if ":" not in bound_host else f"[{bound_host}]"]
    return ["*"]


def forwarded(headers: Mapping[str, str]) -> bool:
    """Whether a request came through a proxy that says so (then it may come from anywhere,
    whatever its Host header names)."""
    return any(h in headers for h in ("forwarded", "x-forwarded-for", "x-real-ip"))


def loopback_only(settings: ServerSettings, bound_host: str) -> bool:
    """Whether only this machine can reach the server: bound to loopback, and answering no host
    name but loopback ones (a public name in QA_ALLOWED_HOSTS: a reverse proxy in front of it)."""
    names = allowed_hosts(settings, bound_host)
    return is_loopback(bound_host) and all(is_loopback(n.strip("[]")) for n in names)


def is_loopback(host: str) -> bool:
    if host == "localhost":  # "" binds every interface
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
