"""`qa serve`: the HTTP face of ``qa.Assistant``.

OpenAI chat-completions protocol (`POST /v1/chat/completions`, plain and SSE streaming;
`GET /v1/models`) so any OpenAI client, chat UI or bot framework can use qa as its model, plus the
CLI's JSON contracts (`POST /ask`, `POST /search`, `POST /ingest`) and `GET /healthz`.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import uuid
from pathlib import Path
from collections import defaultdict, deque
from datetime import date
from typing import Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from qa.assistant import Assistant
from qa.conversation import Turn, rewrite_deterministic
from qa.errors import QAError
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


class IngestArticle(BaseModel):
    model_config = {"extra": "allow"}
    id: str | None = None
    url: str | None = None
    title: str | None = None
    text: str | None = None
    body: str | None = None
    content: str | None = None
    published_at: str | None = None
    date: str | None = None
    publish_date: str | None = None
    source: str | None = None
    authors: list[str] | str | None = None


class IngestRequest(BaseModel):
    articles: list[IngestArticle] = Field(..., min_length=1, max_length=10_000)


# ---------------------------------------------------------------- helpers


def sources_markdown(answer: Answer) -> str:
    if not answer.citations:
        return ""
    lines = ["", "", "Sources:"]
    for c in answer.citations:
        when = c.published_at.isoformat() if c.published_at else "date unknown"
        where = f" <{c.url}>" if c.url else ""
        lines.append(f"[{c.n}] {c.title or 'untitled'} — {c.source or 'unknown source'}, {when}: “{c.quote}”{where}")
    return "\n".join(lines)


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
    """Sliding-window request count per client address."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.hits: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self.lock:
            q = self.hits[client]
            while q and now - q[0] > 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return False
            q.append(now)
            return True


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
    limiter = RateLimiter(settings.rate_limit_per_minute)
    write_lock = threading.Lock()

    @app.middleware("http")
    async def limits(request: Request, call_next: Any) -> Any:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > settings.max_request_bytes:
            return JSONResponse({"error": {"message": f"request body over {settings.max_request_bytes} bytes", "type": "too_large"}}, status_code=413)
        client = request.client.host if request.client else "?"
        if request.url.path != "/healthz" and not limiter.allow(client):
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
        return JSONResponse({"error": {"message": str(exc.detail), "type": "http_error"}}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(QAError)
    async def qa_error(request: Request, exc: QAError) -> JSONResponse:
        return JSONResponse({"error": {"message": str(exc), "type": type(exc).__name__}}, status_code=400 if exc.exit_code == 2 else 503)

    def authorized(request: Request) -> None:
        if not settings.api_key:
            return
        header = request.headers.get("authorization", "")
        if header != f"Bearer {settings.api_key}":
            raise HTTPException(401, "missing or wrong API key (Authorization: Bearer …)", headers={"WWW-Authenticate": "Bearer"})

    web = Path(__file__).parent / "web"
    app.mount("/static", StaticFiles(directory=web), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(web / "index.html")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        try:
            stats = bot.reader.catalog.stats()
            return {"status": "ok", "documents": stats["documents"], "generation": bot.reader.gen.name}
        except QAError as e:
            return {"status": "empty", "detail": str(e)}

    @app.get("/v1/models", dependencies=[Depends(authorized)])
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "qa",
                                            "backend": settings.llm}]}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorized)])
    def chat_completions(req: ChatRequest) -> Any:
        question = standalone_question(req.messages)
        created = int(time.time())
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if req.stream:
            return StreamingResponse(_sse(bot, question, req, cid, created), media_type="text/event-stream")
        answer = bot.ask(question, as_of=req.as_of)
        return {
            "id": cid, "object": "chat.completion", "created": created, "model": MODEL_ID,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": answer.answer + sources_markdown(answer)}}],
            "usage": _usage(answer),
            "citations": [c.to_dict() for c in answer.citations],
            "qa": {"question": question, "answered": answer.answered, **_extra(answer)},
        }

    @app.post("/ask", dependencies=[Depends(authorized)])
    def ask(req: AskRequest) -> dict[str, Any]:
        filters = SearchFilters(req.since, req.until, req.source)
        return bot.ask(req.question, as_of=req.as_of, k=req.k, filters=filters, llm=req.llm).to_dict()

    @app.post("/search", dependencies=[Depends(authorized)])
    def search(req: SearchRequest) -> dict[str, Any]:
        filters = SearchFilters(req.since, req.until, req.source)
        passages = bot.search(req.query, req.k, as_of=req.as_of, filters=filters)
        return {"query": req.query, "results": [p.to_dict(i) for i, p in enumerate(passages, 1)]}

    @app.post("/ingest", dependencies=[Depends(authorized)])
    def ingest(req: IngestRequest) -> dict[str, Any]:
        if not _is_loopback(bound_host) and not settings.api_key:
            raise HTTPException(403, "set QA_API_KEY to allow /ingest on a server bound beyond loopback")
        records = [a.model_dump(exclude_none=True) for a in req.articles]
        with write_lock:
            report = bot.ingest(records)
        return report.to_dict()

    return app


def _usage(answer: Answer) -> dict[str, int]:
    u = answer.extra.get("usage") or {}
    p, c = u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _extra(answer: Answer) -> dict[str, Any]:
    keep = ("as_of", "backend", "model", "fallback", "fallback_reason", "llm_error", "latency_ms")
    return {k: answer.extra.get(k) for k in keep if k in answer.extra}


def _sse(bot: Assistant, question: str, req: ChatRequest, cid: str, created: int) -> Any:
    """The answer as OpenAI chunks. Only verified text is sent (a stream cannot take text back):
    the pieces are exactly the final answer. Always closed with finish_reason and [DONE]; an error
    (a configuration error before anything was generated) comes as an ``error`` event."""

    def event(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
        chunk = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    answer = None
    try:
        for item in bot.ask_stream(question, as_of=req.as_of):
            if isinstance(item, Answer):
                answer = item
                break
            yield event({"content": item})
    except Exception as e:  # the status line is sent: the error travels in the stream
        message, kind = (str(e), type(e).__name__) if isinstance(e, QAError) else ("internal error", "internal")
        yield f"data: {json.dumps({'error': {'message': message, 'type': kind}}, ensure_ascii=False)}\n\n"
        yield event({}, "stop")
        yield "data: [DONE]\n\n"
        return
    assert answer is not None
    tail = sources_markdown(answer)
    if tail:
        yield event({"content": tail})
    yield event({}, "stop", citations=[c.to_dict() for c in answer.citations],
                qa={"question": question, "answered": answer.answered, **_extra(answer)})
    yield "data: [DONE]\n\n"
