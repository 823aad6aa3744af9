"""The FastAPI app: each route translates one ``qa.Assistant`` call.

OpenAI chat-completions protocol (`POST /v1/chat/completions`, plain and SSE streaming;
`GET /v1/models`) so any OpenAI client, chat UI or bot framework can use qa as its model, plus the
CLI's JSON contracts (`POST /ask`, `POST /search`, `POST /ingest`) and `GET /healthz`.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.assistant import Assistant
from qa.errors import NO_INDEX_PUBLIC, IndexBusyError, IndexMissingError, QAError, RequestError, UsageError, gist
from qa.index.filters import check_range
from qa.retrieve import SearchFilters
from qa.server.openai_chat import (
    MODEL_ID, ChatRequest, chat_backend_name, completion, completion_events, read_messages,
)
from qa.server.security import (
    BodyLimit, BodyTooLarge, RateLimiter, TrustedHosts, allowed_hosts, backend_for, forwarded, internal_error, key_ok,
    loopback_only, public_details, public_sources, rate_bucket, too_large,
)
from qa.settings import REPLICA_WAIT_MAX_SECONDS, Settings
from qa.text import unicode_problem

WEB = Path(__file__).resolve().parent.parent / "web"


# ---------------------------------------------------------------- request bodies


class _Range(BaseModel):
    since: date | None = None
    until: date | None = None

    @model_validator(mode="after")
    def _a_range_with_days(self) -> "_Range":
        check_range(self.since, self.until)  # a ValueError to pydantic: the 422 of every bad field
        return self


class AskRequest(_Range):
    question: str = Field(..., min_length=1, max_length=2000)
    as_of: date | None = None
    k: int | None = Field(None, ge=1, le=100)
    since: date | None = None
    until: date | None = None
    source: str | None = None
    llm: str | None = None


class SearchRequest(_Range):
    query: str = Field(..., min_length=1, max_length=2000)
    k: int = Field(10, ge=1, le=200)
    as_of: date | None = None
    since: date | None = None
    until: date | None = None
    source: str | None = None


class IngestRequest(BaseModel):
    articles: list[Any] = Field(
        default_factory=list, max_length=10_000,
        description="Article records: {id, url, title, text|body|content, published_at|date|publish_date, "
        "source, authors}. Each is checked on its own: a bad record is reported in `errors` with its "
        "1-based position as `line`, the others are ingested.",
    )
    urls: list[str] = Field(
        default_factory=list, max_length=100,
        description="Pages, feeds or sitemaps to fetch — only on hosts the operator listed in "
        "QA_INGEST_URL_HOSTS (403 when none is listed); a URL elsewhere is that URL's error.",
    )


# ---------------------------------------------------------------- app


def _follow(bot: Assistant, stop: threading.Event) -> None:
    """On a replica: catch up with the Chroma server every ``replica_poll_seconds``; the
    assistant switches to each new local generation between requests. A failure is reported
    once (and again when it changes), never fatal: the replica keeps serving its last version
    from its own files. Failures in a row space the attempts out (``follow_wait``), so a catch-up
    that keeps failing (a full rebuild reads the whole index) does not load the server every poll."""
    said = ""
    failures = 0
    while not stop.is_set():
        try:
            bot.catch_up()
            said, failures = "", 0
        except IndexBusyError:
            pass  # another process is catching up this folder
        except Exception as e:  # a server down for a while: keep serving what we have
            failures += 1
            msg = f"qa: replica: {gist(e)}"
            if msg != said:
                print(msg, file=sys.stderr, flush=True)
                said = msg
        stop.wait(follow_wait(bot.settings.replica_poll_seconds, failures))


def follow_wait(poll: float, failures: int) -> float:
    """Seconds before a replica's next catch-up: the poll interval, doubled for each failure in a
    row after the first, at most REPLICA_WAIT_MAX_SECONDS (or the poll interval, if that is longer)."""
    if failures <= 1:
        return poll
    return max(poll, min(poll * 2.0 ** min(failures - 1, 30), REPLICA_WAIT_MAX_SECONDS))


def create_app(settings: Settings, *, bound_host: str = "127.0.0.1", watch: bool = False) -> FastAPI:
    """The app; ``watch``: poll the followed sources (qa sources) in a background thread while
    serving, taking turns with `POST /ingest` on the write lock."""
    from contextlib import asynccontextmanager

    from qa.answer.llms import parse_backend

    parse_backend(settings.llm)  # an operator's typo fails at startup, not on a client's request
    for name, spec in settings.llm_choices.items():
        try:
            parse_backend(spec)
        except UsageError as e:
            raise UsageError(f"QA_LLM_CHOICES[{name!r}]: {e}") from None
    bot = Assistant(settings)
    replica = bot.is_replica()  # a corrupt marker fails here, as one line, not in the lifespan
    write_lock = threading.Lock()
    # ingests run here, one at a time: one waiting for the writer lock (another process's ingest
    # or rebuild) holds none of the request threads every route is answered with
    ingests = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-ingest")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        try:  # load the encoder and open the index before the first request, not during it
            bot.search("warm up", 1)
        except QAError:
            pass  # an empty index still serves /healthz and /ingest
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(bot, stop, write_lock), name="qa-watch", daemon=True)
        if watch:
            watcher.start()
        follower = threading.Thread(target=_follow, args=(bot, stop), name="qa-follow", daemon=True)
        if replica:
            follower.start()
        yield
        stop.set()
        for thread in (watcher, follower):
            if thread.is_alive():
                thread.join(timeout=30)
        ingests.shutdown(wait=True, cancel_futures=True)
        bot.close()

    app = FastAPI(title="qa", version="0.1.0", description="Cited, time-aware answers over news articles", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)  # served below, behind the key like the rest
    limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_clients)

    # inside the rate limiter (added first): a task group there would wrap BodyTooLarge
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(TrustedHosts, allowed_hosts=allowed_hosts(settings, bound_host))

    @app.middleware("http")
    async def limits(request: Request, call_next: Any) -> Any:
        if request.url.path != "/healthz" and not limiter.allow(rate_bucket(settings, request)):
            return JSONResponse({"error": {"message": "rate limit exceeded", "type": "rate_limited"}}, status_code=429, headers={"Retry-After": "60"})
        try:
            return await call_next(request)
        except Exception as e:  # never a stack trace over HTTP: the operator's log has it
            return JSONResponse(internal_error(f"{request.method} {request.url.path}", e), status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(x) for x in e["loc"][1:]), "message": e["msg"]} for e in exc.errors()]
        return JSONResponse({"error": {"message": "invalid request", "type": "invalid_request", "details": problems}}, status_code=422)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException and Starlette's own (404, 405)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, BodyTooLarge):
            return too_large(settings.max_request_bytes)
        return JSONResponse({"error": {"message": str(exc.detail), "type": "http_error"}}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(QAError)
    async def qa_error(request: Request, exc: QAError) -> JSONResponse:
        # the server's own problem (its configuration, its index, a model or endpoint it uses), even
        # one the terminal calls a usage error (exit 2); what the request gets wrong is a
        # RequestError (its question) or an HTTPException: a bad request
        status = 400 if isinstance(exc, RequestError) else 503
        return JSONResponse({"error": {"message": exc.public, "type": type(exc).__name__}}, status_code=status)

    def authorized(request: Request) -> None:
        if settings.api_key and not key_ok(settings, request):
            raise HTTPException(401, "missing or wrong API key (Authorization: Bearer …)", headers={"WWW-Authenticate": "Bearer"})

    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(authorized)])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(authorized)])
    def docs() -> Any:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/openapi.json", title="qa API")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB / "index.html")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        try:
            return {"status": "ok", **bot.status()}
        except IndexMissingError:
            return {"status": "empty", "detail": NO_INDEX_PUBLIC}
        except QAError:  # its text names the server's folders: not for an unauthenticated client
            return {"status": "error", "detail": "the index cannot be read (see `qa index stats` on the server)"}

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
        exchanges, text = read_messages(req.messages, req.as_of or date.today())
        problem = unicode_problem(text)
        if problem:  # what the request gets wrong (the question's own text), never the server's problem
            raise HTTPException(400, f"the last user message is {problem}")
        conversation = bot.chat(llm=backend, exchanges=exchanges)
        created = int(time.time())
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if req.stream:
            events = completion_events(conversation, text, req.as_of, cid, created)
            return StreamingResponse(events, media_type="text/event-stream")
        question, answer = conversation.ask(text, as_of=req.as_of)
        return completion(question, answer, cid, created)

    @app.post("/ask", dependencies=[Depends(authorized)])
    def ask(req: AskRequest) -> dict[str, Any]:
        filters = SearchFilters(req.since, req.until, req.source)
        backend = backend_for(settings, req.llm)
        answer = bot.ask(req.question, as_of=req.as_of, k=req.k, filters=filters, llm=backend)
        shown = answer.to_dict()
        return {**shown, "citations": public_sources(shown["citations"]), **public_details(answer)}

    @app.post("/search", dependencies=[Depends(authorized)])
    def search(req: SearchRequest) -> dict[str, Any]:
        filters = SearchFilters(req.since, req.until, req.source)
        passages = bot.search(req.query, req.k, as_of=req.as_of, filters=filters)
        return {"query": req.query, "results": public_sources([p.to_dict(i) for i, p in enumerate(passages, 1)])}

    def ingest_records(req: IngestRequest) -> dict[str, Any]:
        with write_lock:
            report = bot.ingest_records(req.articles, urls=req.urls, url_hosts=settings.ingest_url_hosts)
        return report.to_dict()

    @app.post("/ingest", dependencies=[Depends(authorized)])
    async def ingest(req: IngestRequest, request: Request) -> dict[str, Any]:
        if not settings.api_key and (not loopback_only(settings, bound_host) or forwarded(request.headers)):
            raise HTTPException(403, "set QA_API_KEY to allow /ingest on a server reachable beyond loopback "
                                     "(bound beyond it, answering a host name in QA_ALLOWED_HOSTS, or behind a proxy)")
        if req.urls and not settings.ingest_url_hosts:
            raise HTTPException(403, "this server fetches no URL a request names (the operator lists hosts in QA_INGEST_URL_HOSTS)")
        if not req.articles and not req.urls:
            raise HTTPException(422, "give articles (records) or urls")
        return await asyncio.get_running_loop().run_in_executor(ingests, ingest_records, req)

    return app


def _watch(bot: Assistant, stop: threading.Event, lock: threading.Lock) -> None:
    """`qa serve --watch`: poll due sources until the server stops; one log line a round."""
    import sys

    from qa.errors import printable

    def log(line: str) -> None:
        sys.stderr.write(f"qa watch: {printable(line)}\n")
        sys.stderr.flush()

    def round_done(report: Any) -> None:
        for problem in [*report.errors, *report.warnings]:
            log(problem.one_line())
        log(f"{len(report.feeds)} feeds, fetched {report.fetched}, not modified {report.not_modified}; "
            f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, {report.failed} failed")

    bot.watch(stop, on_round=round_done, on_error=lambda e: log(f"error: {e}"), lock=lock)
