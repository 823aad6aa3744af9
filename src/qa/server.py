"""`qa serve`: the HTTP face of ``qa.Assistant``.

OpenAI chat-completions protocol (`POST /v1/chat/completions`, plain and SSE streaming;
`GET /v1/models`) so any OpenAI client, chat UI or bot framework can use qa as its model, plus the
CLI's JSON contracts (`POST /ask`, `POST /search`, `POST /ingest`) and `GET /healthz`.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import threading
import time
import uuid
from pathlib import Path
from collections import OrderedDict, deque
from datetime import date
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware
from pydantic import BaseModel, Field

from qa.assistant import Assistant
from qa.conversation import Turn, rewrite_deterministic
from qa.errors import QAError, UsageError
from qa.links import safe_url
from qa.retrieve import SearchFilters
from qa.settings import Settings
from qa.types import Answer

MODEL_ID = "qa"


# ---------------------------------------------------------------- request bodies


class Message(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = ""

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(part.get("text", "")) for part in self.content if isinstance(part, dict))
        return self.content or ""


class ChatRequest(BaseModel):
    model: str = MODEL_ID
    messages: list[Message] = Field(..., min_length=1)
    stream: bool = False
    as_of: date | None = None  # qa extension: answer as of this day
    max_tokens: int | None = None
    temperature: float | None = None


class AskRequest(BaseModel):
    question: str = Field(..., min_length=1, max_length=2000)
    as_of: date | None = None
    k: int | None = Field(None, ge=1, le=100)
    since: date | None = None
    until: date | None = None
    source: str | None = None
    llm: str | None = None


class SearchRequest(BaseModel):
    query: str = Field(..., min_length=1, max_length=2000)
    k: int = Field(10, ge=1, le=200)
    as_of: date | None = None
    since: date | None = None
    until: date | None = None
    source: str | None = None


class IngestRequest(BaseModel):
    articles: list[Any] = Field(
        ..., min_length=1, max_length=10_000,
        description="Article records: {id, url, title, text|body|content, published_at|date|publish_date, "
        "source, authors}. Each is checked on its own: a bad record is reported in `errors` with its "
        "1-based position as `line`, the others are ingested.",
    )


# ---------------------------------------------------------------- helpers


_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()<>#!|~&")


_CITATION_MARKER = re.compile(r"(\[\d+(?:\s*[,;]\s*\d+)*\])")


def _escape_markdown(text: str) -> str:
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)


def markdown_text(text: str) -> str:
    """``text`` as literal markdown (and HTML) text on one line: every character markdown or HTML
    could read as markup is backslash-escaped, so article metadata cannot become links or tags."""
    return _escape_markdown(" ".join(text.split()))


def markdown_answer(text: str) -> str:
    """An answer as chat-message markdown: the words (quoted from articles) are literal text, the
    ``[n]`` citation markers stay as they are — except that a colon right after a marker is escaped,
    since "[1]: URL" would be a link reference definition turning every [1] into a hidden link."""
    parts = _CITATION_MARKER.split(text)
    return "".join(
        part if i % 2 else ("\\" if i and part.startswith(":") else "") + _escape_markdown(part)
        for i, part in enumerate(parts)
    )


def markdown_link(url: str | None) -> str:
    """An autolink for an http(s) URL (qa.links.safe_url), ``""`` for anything else."""
    url = safe_url(url)
    return f"<{url.replace('<', '%3C').replace('>', '%3E')}>" if url else ""


def sources_markdown(answer: Answer) -> str:
    if not answer.citations:
        return ""
    lines = ["", "", "Sources:"]
    for c in answer.citations:
        when = c.published_at.isoformat() if c.published_at else "date unknown"
        link = markdown_link(c.url)
        where = f" {link}" if link else ""
        title, source = markdown_text(c.title or "untitled"), markdown_text(c.source or "unknown source")
        lines.append(f"[{c.n}] {title} — {source}, {when}: “{markdown_text(c.quote)}”{where}")
    return "\n".join(lines)


def backend_for(settings: Settings, name: str | None, field: str = "llm") -> str:
    """The operator's backend string for a request's backend NAME (``None``: the default).

    The requested value is only ever looked up among the configured names, never parsed as a
    backend, path or URL — so a request cannot make the server open a file or call a model the
    operator did not configure, and the answer does not depend on what exists on disk."""
    names = settings.llm_names()
    if name is None:
        return names["default"]
    if name not in names:
        raise UsageError(f"{field}: not a configured backend name; choose one of: {', '.join(names)}")
    return names[name]


def chat_backend_name(model: str) -> str | None:
    """A chat request's ``model`` → backend name: "qa" is the default, "qa:NAME" or NAME a choice."""
    return None if model == MODEL_ID else model.removeprefix(f"{MODEL_ID}:")


def standalone_question(messages: list[Message]) -> str:
    """The last user message, rewritten against the earlier turns (as `qa chat` does)."""
    from qa.temporal import find_time_mentions

    history: list[Turn] = []
    pending: str | None = None
    for m in messages:
        if m.role == "user":
            if pending is not None:
                history.append(Turn(pending, rewrite_deterministic(pending, history), "", True))
            pending = m.text()
        elif m.role == "assistant" and pending is not None:
            standalone = rewrite_deterministic(pending, history)
            answer_text = m.text()
            dated = [t for t in find_time_mentions(answer_text.split("Sources:")[0], None) if t.resolved]
            event = dated[0] if dated else None
            history.append(
                Turn(pending, standalone, answer_text, True,
                     event.first.isoformat() if event else None, event.label() if event else None)
            )
            pending = None
    if pending is None:
        raise HTTPException(422, "messages must end with a user message")
    return rewrite_deterministic(pending, history)


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


def key_ok(settings: Settings, request: Request) -> bool:
    """Whether the request carries the configured API key (compared in constant time)."""
    if not settings.api_key:
        return False
    given = request.headers.get("authorization", "").encode()
    return hmac.compare_digest(given, f"Bearer {settings.api_key}".encode())


def rate_bucket(settings: Settings, request: Request) -> str:
    """Requests with the right key count against the key; all others against their address, so
    failed attempts never use up the key's allowance."""
    if key_ok(settings, request):
        return "key"
    return f"addr:{request.client.host if request.client else '?'}"


def allowed_hosts(settings: Settings, bound_host: str) -> list[str]:
    """Host header values the server answers. On loopback only the loopback names, so a web page
    that rebinds its own domain to 127.0.0.1 (DNS rebinding) cannot read or write the index."""
    if settings.allowed_hosts:
        return settings.allowed_hosts
    if _is_loopback(bound_host):
        return ["localhost", "127.0.0.1", "[::1]", bound_host if ":" not in bound_host else f"[{bound_host}]"]
    return ["*"]


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------- app


def create_app(settings: Settings, *, bound_host: str = "127.0.0.1") -> FastAPI:
    from contextlib import asynccontextmanager

    from qa.answer.llms import parse_backend

    parse_backend(settings.llm)  # an operator's typo fails at startup, not on a client's request
    for name, spec in settings.llm_choices.items():
        try:
            parse_backend(spec)
        except UsageError as e:
            raise UsageError(f"QA_LLM_CHOICES[{name!r}]: {e}") from None
    bot = Assistant(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        try:  # load the encoder and open the index before the first request, not during it
            bot.search("warm up", 1)
        except QAError:
            pass  # an empty index still serves /healthz and /ingest
        yield
        bot.close()

    app = FastAPI(title="qa", version="0.1.0", description="Cited, time-aware answers over news articles", lifespan=lifespan)
    limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_clients)
    write_lock = threading.Lock()

    # inside the rate limiter (added first): a task group there would wrap BodyTooLarge
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings, bound_host))

    @app.middleware("http")
    async def limits(request: Request, call_next: Any) -> Any:
        if request.url.path != "/healthz" and not limiter.allow(rate_bucket(settings, request)):
            return JSONResponse({"error": {"message": "rate limit exceeded", "type": "rate_limited"}}, status_code=429, headers={"Retry-After": "60"})
        try:
            return await call_next(request)
        except Exception:  # never a stack trace over HTTP
            return JSONResponse({"error": {"message": "internal error", "type": "internal"}}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(x) for x in e["loc"][1:]), "message": e["msg"]} for e in exc.errors()]
        return JSONResponse({"error": {"message": "invalid request", "type": "invalid_request", "details": problems}}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc, BodyTooLarge):
            return too_large(settings.max_request_bytes)
        return JSONResponse({"error": {"message": str(exc.detail), "type": "http_error"}}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(QAError)
    async def qa_error(request: Request, exc: QAError) -> JSONResponse:
        return JSONResponse({"error": {"message": str(exc), "type": type(exc).__name__}}, status_code=400 if exc.exit_code == 2 else 503)

    def authorized(request: Request) -> None:
        if settings.api_key and not key_ok(settings, request):
            raise HTTPException(401, "missing or wrong API key (Authorization: Bearer …)", headers={"WWW-Authenticate": "Bearer"})

    web = Path(__file__).parent / "web"
    app.mount("/static", StaticFiles(directory=web), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(web / "index.html")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        try:
            stats = bot.stats()
            return {"status": "ok", "documents": stats["documents"], "generation": stats["generation"]}
        except QAError as e:
            return {"status": "empty", "detail": str(e)}

    @app.get("/v1/models", dependencies=[Depends(authorized)])
    def models() -> dict[str, Any]:
        """The backends a client may choose, by name only (never a path, URL or model string)."""
        names = [name for name in settings.llm_names() if name != "default"]
        if parse_backend(settings.llm).kind == "extractive":  # "qa" already is the extractive backend
            names.remove("extractive")
        ids = [MODEL_ID] + [f"{MODEL_ID}:{name}" for name in names]
        return {"object": "list", "data": [{"id": i, "object": "model", "created": 0, "owned_by": "qa"} for i in ids]}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorized)])
    def chat_completions(req: ChatRequest) -> Any:
        backend = backend_for(settings, chat_backend_name(req.model), "model")
        question = standalone_question(req.messages)
        created = int(time.time())
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if req.stream:
            return StreamingResponse(_sse(bot, question, req, backend, cid, created), media_type="text/event-stream")
        answer = bot.ask(question, as_of=req.as_of, llm=backend)
        return {
            "id": cid, "object": "chat.completion", "created": created, "model": MODEL_ID,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": markdown_answer(answer.answer) + sources_markdown(answer)}}],
            "usage": _usage(answer),
            "citations": [c.to_dict() for c in answer.citations],
            "qa": {"question": question, "answered": answer.answered, **_extra(answer)},
        }

    @app.post("/ask", dependencies=[Depends(authorized)])
    def ask(req: AskRequest) -> dict[str, Any]:
        filters = SearchFilters(req.since, req.until, req.source)
        backend = backend_for(settings, req.llm)
        answer = bot.ask(req.question, as_of=req.as_of, k=req.k, filters=filters, llm=backend)
        return {**answer.to_dict(), **_extra(answer)}

    @app.post("/search", dependencies=[Depends(authorized)])
    def search(req: SearchRequest) -> dict[str, Any]:
        filters = SearchFilters(req.since, req.until, req.source)
        passages = bot.search(req.query, req.k, as_of=req.as_of, filters=filters)
        return {"query": req.query, "results": [p.to_dict(i) for i, p in enumerate(passages, 1)]}

    @app.post("/ingest", dependencies=[Depends(authorized)])
    def ingest(req: IngestRequest) -> dict[str, Any]:
        if not _is_loopback(bound_host) and not settings.api_key:
            raise HTTPException(403, "set QA_API_KEY to allow /ingest on a server bound beyond loopback")
        with write_lock:
            report = bot.ingest_records(req.articles)
        return report.to_dict()

    return app


def _usage(answer: Answer) -> dict[str, int]:
    u = answer.extra.get("usage") or {}
    p, c = u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _extra(answer: Answer) -> dict[str, Any]:
    keep = ("as_of", "backend", "model", "fallback", "fallback_reason", "llm_error", "latency_ms")
    extra = {k: answer.extra.get(k) for k in keep if k in answer.extra}
    if extra.get("backend") == "gguf" and extra.get("model"):  # the operator's file path stays private
        extra["model"] = Path(str(extra["model"])).name
    return extra


def _sse(bot: Assistant, question: str, req: ChatRequest, llm: str, cid: str, created: int) -> Any:
    """The answer as OpenAI chunks. Only verified text is sent (a stream cannot take text back):
    the pieces are exactly the final answer. Always closed with finish_reason and [DONE]; an error
    (a configuration error before anything was generated) comes as an ``error`` event."""

    def event(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
        chunk = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    try:
        stream = bot.ask_stream(question, as_of=req.as_of, llm=llm)
        for piece in stream:
            yield event({"content": markdown_answer(piece)})
        answer = stream.answer
    except Exception as e:  # the status line is sent: the error travels in the stream
        message, kind = (str(e), type(e).__name__) if isinstance(e, QAError) else ("internal error", "internal")
        yield f"data: {json.dumps({'error': {'message': message, 'type': kind}}, ensure_ascii=False)}\n\n"
        yield event({}, "stop")
        yield "data: [DONE]\n\n"
        return
    tail = sources_markdown(answer)
    if tail:
        yield event({"content": tail})
    yield event({}, "stop", citations=[c.to_dict() for c in answer.citations],
                qa={"question": question, "answered": answer.answered, **_extra(answer)})
    yield "data: [DONE]\n\n"
