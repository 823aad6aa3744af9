"""The `qa` command line: a thin translation of ``qa.Assistant`` (flags in, printed results out).

Imports are lazy so `qa --help` starts fast. Exit codes: 0 ok, 1 error or some inputs failed,
2 usage error, 3 (`qa ask`) no answer found in the index.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

    from qa.settings import Settings

app = typer.Typer(
    name="qa",
    help="Question answering over news articles, with cited, time-aware answers.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
)
index_app = typer.Typer(help="Inspect and maintain the index.", no_args_is_help=True)
app.add_typer(index_app, name="index")
sources_app = typer.Typer(help="The feeds and sitemaps `qa watch` follows (kept in the index folder).", no_args_is_help=True)
app.add_typer(sources_app, name="sources")

EXIT_NOT_FOUND = 3

IndexOpt = typer.Option(None, "--index", help="Index folder (env QA_INDEX, default ./index)")
ModelOpt = typer.Option(None, "--model", help="sentence-transformers model name or path (env QA_MODEL)")
JsonOpt = typer.Option(False, "--json", help="Print one JSON object on stdout")
ChromaOpt = typer.Option(None, "--chroma-url", help="Use a Chroma server (http(s)://host:port, or with a path behind a proxy) for vectors (env QA_CHROMA_URL)")


def _show_version(value: bool) -> None:
    if value:
        from qa import __version__

        typer.echo(f"qa {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit"),
) -> None:
    pass


def _fail(message: str, code: int = 1) -> NoReturn:
    from qa.errors import printable

    typer.echo(f"qa: error: {printable(message)}", err=True)
    raise typer.Exit(code)


def _settings(index: Path | None = None, **overrides: Any) -> Settings:
    from pydantic import ValidationError

    from qa.settings import Settings

    if index is not None:
        overrides["index"] = index
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**overrides)
    except ValidationError as e:
        err = e.errors()[0]
        _fail(f"setting {'.'.join(str(x) for x in err['loc'])}: {err['msg']}", 2)


def _date_arg(value: str | None, flag: str, *, last: bool = False, day_only: bool = False) -> date | None:
    """An ISO date flag: ``YYYY-MM-DD``, or (unless ``day_only``) ``YYYY-MM``/``YYYY`` meaning
    the period's first day, or its last day when ``last``. Anything else exits 2."""
    if value is None:
        return None
    from qa.dates import parse_iso_period

    try:
        first, end = parse_iso_period(value)
        if day_only and first != end:
            raise ValueError(value)
    except ValueError:
        forms = "YYYY-MM-DD" if day_only else "YYYY-MM-DD, YYYY-MM or YYYY"
        _fail(f"{flag}: not a date: {value!r} (use {forms})", 2)
    return end if last else first


def _run(fn: Any) -> Any:
    """Turn qa's own errors into one line and an exit code, never a traceback."""
    from qa.errors import QAError

    try:
        return fn()
    except QAError as e:
        _fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)


def _with_assistant(settings: Settings, call: Callable[[Any], Any]) -> Any:
    """``call(assistant)`` on an Assistant over ``settings``, closed after; qa's errors as ``_run``."""
    from qa.assistant import Assistant

    bot = Assistant(settings)
    try:
        return _run(lambda: call(bot))
    finally:
        bot.close()


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def _filters(since: str | None, until: str | None, source: str | None) -> Any:
    from qa.index.filters import check_range
    from qa.retrieve import SearchFilters

    first, last = _date_arg(since, "--since"), _date_arg(until, "--until", last=True)
    _run(lambda: check_range(first, last, names=("--since", "--until")))  # exit 2, before the index is opened
    return SearchFilters(first, last, source)


# ---------------------------------------------------------------- ingest


@app.command()
def ingest(
    paths: list[str] = typer.Argument(..., help="Files, folders, globs, - for JSONL on stdin, or http(s) URLs (article pages, RSS/Atom/RDF/JSON feeds, sitemaps)"),
    published_at: Optional[str] = typer.Option(None, "--published-at", help="Publication date for articles that carry none (YYYY-MM-DD)"),
    override_published_at: Optional[str] = typer.Option(
        None, "--override-published-at", help="Publication date for these articles, replacing their own (YYYY-MM-DD)"
    ),
    source: Optional[str] = typer.Option(None, "--source", help="Source name for these articles"),
    prune: bool = typer.Option(False, "--prune", help="Remove documents under these inputs whose files are gone"),
    index: Optional[Path] = IndexOpt,
    chroma_url: Optional[str] = ChromaOpt,
    model: Optional[str] = ModelOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add articles (files or URLs) to the index; unchanged ones are skipped, changed ones replaced.

    URLs are fetched politely (robots.txt, per-host turns, conditional GET): an article page, or a
    feed's or sitemap's entries."""
    from qa.assistant import Assistant
    from qa.feeds.urls import looks_like_url
    from qa.progress import fetch_progress, ingest_progress

    settings = _settings(index, chroma_url=chroma_url, model=model)
    if published_at is not None and override_published_at is not None:
        _fail("use --published-at (fill missing dates) or --override-published-at (replace them), not both", 2)
    pub = _date_arg(published_at, "--published-at", day_only=True)
    override = _date_arg(override_published_at, "--override-published-at", day_only=True)
    shown = fetch_progress if any(looks_like_url(p) for p in paths) else ingest_progress
    with shown(enabled=True) as progress:
        report = _run(lambda: Assistant(settings).ingest(
            paths, published_at=pub, override_published_at=override, source=source, prune=prune,
            progress=progress,
        ))
    for problem in [*report.errors, *report.warnings]:
        typer.echo(problem.one_line(), err=True)
    if as_json:
        _print_json(report.to_dict())
    else:
        _print_ingest_summary(report)
    raise typer.Exit(1 if report.failed else 0)


def _print_ingest_summary(report: Any) -> None:
    parts = [f"{report.added} added", f"{report.updated} updated", f"{report.unchanged} unchanged"]
    if report.duplicates:
        parts.append(f"{report.duplicates} duplicates")
    if report.removed:
        parts.append(f"{report.removed} removed")
    if report.dates_filled:
        parts.append(f"{report.dates_filled} dates filled")
    if report.dates_overridden:
        parts.append(f"{report.dates_overridden} dates overridden")
    parts += [f"{report.skipped} skipped", f"{report.failed} failed"]
    fetched = ""
    if hasattr(report, "fetched"):  # URLs were read (a FeedReport)
        fetched = f" · fetched {report.fetched}, not modified {report.not_modified}, feeds {len(report.feeds)}"
    typer.echo(", ".join(parts) + fetched + f" · index: {report.documents} documents, {report.chunks} chunks")


# ---------------------------------------------------------------- search / ask


@app.command()
def search(
    query: str = typer.Argument(..., help="What to look for"),
    k: int = typer.Option(10, "--k", min=1, max=200, help="Number of passages"),
    since: Optional[str] = typer.Option(None, "--since", help="Only articles published on/after DATE (YYYY-MM-DD, YYYY-MM or YYYY)"),
    until: Optional[str] = typer.Option(None, "--until", help="Only articles published on/before DATE (YYYY-MM-DD, YYYY-MM or YYYY)"),
    source: Optional[str] = typer.Option(None, "--source", help="Only articles from this source"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Search as of this date: later articles are ignored"),
    index: Optional[Path] = IndexOpt,
    chroma_url: Optional[str] = ChromaOpt,
    model: Optional[str] = ModelOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Print the passages that best match QUERY, ranked."""
    from qa.assistant import Assistant

    settings = _settings(index, chroma_url=chroma_url, model=model)
    filters = _filters(since, until, source)
    when = _date_arg(as_of, "--as-of", last=True)
    bot = Assistant(settings)
    passages = _run(lambda: bot.search(query, k, as_of=when, filters=filters))
    unknown = _unknown_source(bot, source) if not passages else None
    if as_json:
        out: dict[str, Any] = {"query": query, "results": [p.to_dict(i) for i, p in enumerate(passages, 1)]}
        _print_json({**out, "unknown_source": unknown} if unknown else out)
        return
    from qa.render import print_passages

    print_passages(query, passages)


SOURCES_SHOWN = 10  # known source names a hint lists


def _unknown_source(bot: Any, source: str | None) -> dict[str, Any] | None:
    """When no indexed document has ``source`` (a typo, another capitalisation): a one-line hint
    on stderr naming it and the sources the index has, and what --json says of it; else None."""
    if source is None:
        return None
    known = _run(bot.source_names)
    if source in known:
        return None
    from qa.errors import printable

    shown = ", ".join(repr(name) for name in known[:SOURCES_SHOWN]) or "none"
    more = f" and {len(known) - SOURCES_SHOWN} more (qa index ls)" if len(known) > SOURCES_SHOWN else ""
    typer.echo(printable(f"qa: no indexed document has source {source!r}; the sources are: {shown}{more}"), err=True)
    return {"source": source, "known": known}


LlmOpt = typer.Option(None, "--llm", help="extractive (default) | openai:MODEL | ollama:MODEL | gguf:PATH (env QA_LLM)")
BaseUrlOpt = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (env QA_LLM_BASE_URL / OPENAI_BASE_URL)")


@app.command()
def ask(
    question: str = typer.Argument(..., help="Your question, or - to read it from stdin"),
    k: int = typer.Option(8, "--k", min=1, max=100, help="Passages to read"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Answer as of this date (default today)"),
    since: Optional[str] = typer.Option(None, "--since", help="Only articles published on/after DATE (YYYY-MM-DD, YYYY-MM or YYYY)"),
    until: Optional[str] = typer.Option(None, "--until", help="Only articles published on/before DATE (YYYY-MM-DD, YYYY-MM or YYYY)"),
    source: Optional[str] = typer.Option(None, "--source", help="Only articles from this source"),
    llm: Optional[str] = LlmOpt,
    base_url: Optional[str] = BaseUrlOpt,
    stream: bool = typer.Option(False, "--stream", help="Print the answer as it is generated"),
    index: Optional[Path] = IndexOpt,
    chroma_url: Optional[str] = ChromaOpt,
    model: Optional[str] = ModelOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Answer QUESTION from the indexed articles, citing every sentence."""
    from qa.assistant import Assistant

    if question == "-":
        question = " ".join(sys.stdin.buffer.read().decode("utf-8", "surrogateescape").split())
        if not question:
            _fail("ask -: no question on stdin", 2)
    settings = _settings(index, chroma_url=chroma_url, model=model, llm=llm, llm_base_url=base_url)
    when = _date_arg(as_of, "--as-of", last=True)
    filters = _filters(since, until, source)
    bot = Assistant(settings)
    if stream and not as_json:
        answer = _run(lambda: _stream_answer(bot, question, when, k, filters))
        if not answer.answered:
            _unknown_source(bot, source)
    else:
        answer = _run(lambda: bot.ask(question, as_of=when, k=k, filters=filters))
        unknown = _unknown_source(bot, source) if not answer.answered else None
        if as_json:
            _print_json({**answer.to_dict(), "unknown_source": unknown} if unknown else answer.to_dict())
        else:
            from qa.render import print_answer

            print_answer(answer)
    raise typer.Exit(0 if answer.answered else EXIT_NOT_FOUND)


def _stream_answer(bot: Any, question: str, when: Any, k: int, filters: Any) -> Any:
    """Print the answer as it is verified (never a sentence verification rejects), then its sources."""
    from qa.errors import printable
    from qa.render import print_sources
    stream = bot.ask_stream(question, as_of=when, k=k, filters=filters)
    for piece in stream:
        sys.stdout.write(printable(piece, keep="\n\t"))  # article words: never terminal controls
        sys.stdout.flush()
    sys.stdout.write("\n")
    answer = stream.answer
    if answer.extra.get("llm_error") and not answer.extra.get("fallback"):
        sys.stdout.write(f"[the answer stops early: {printable(answer.extra['llm_error'])}]\n")
    print_sources(answer)
    return answer


SHOWN_LINE_MAX = 200  # characters of a rewritten question shown by `qa chat`


def _one_line(text: str, limit: int = SHOWN_LINE_MAX) -> str:
    """Untrusted text (a model's rewrite, the user's input) as one terminal line of at most ``limit``
    characters, control and invisible characters escaped."""
    from qa.errors import printable

    line = printable(text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


@app.command()
def chat(
    session: Optional[str] = typer.Option(None, "--session", help="Keep this conversation under the index (resume it later)"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Answer as of this date (default today)"),
    llm: Optional[str] = LlmOpt,
    base_url: Optional[str] = BaseUrlOpt,
    list_sessions: bool = typer.Option(False, "--list", help="List the kept sessions and exit"),
    export: Optional[str] = typer.Option(None, "--export", metavar="NAME", help="Print session NAME as Markdown with its sources and exit"),
    index: Optional[Path] = IndexOpt,
    chroma_url: Optional[str] = ChromaOpt,
    model: Optional[str] = ModelOpt,
    as_json: bool = typer.Option(False, "--json", help="With --list or --export: print one JSON object; else one JSON object a turn, a line each (`qa ask --json` plus the message)"),
) -> None:
    """A conversation in the terminal: follow-ups like "and before that?" are understood.

    Line editing and history as in a shell (arrow keys, Ctrl-R). Commands: /sources (the last
    answer's sources), /reset (forget the conversation), /exit. With --json, each turn is one
    line on stdout: {"message", …the answer as `qa ask --json`}; nothing else is printed there.
    """
    from qa.assistant import Assistant
    from qa.render import print_answer, print_sources
    from qa.text import as_question

    settings = _settings(index, chroma_url=chroma_url, model=model, llm=llm, llm_base_url=base_url)
    if list_sessions or export is not None:
        _chat_sessions(settings, export, as_json)
        return
    when = _date_arg(as_of, "--as-of", last=True)
    bot = Assistant(settings)
    _run(lambda: bot.reader)  # fail early, in one line, when there is no index
    conv = bot.chat(session, llm=llm)
    read_line = _line_editor(settings.resolved_index() / "sessions" / ".history")
    if as_json:  # a program's conversation: one answer object a line, the commands still work
        read_line = input
    else:
        typer.echo("qa chat — ask about the indexed news; /sources, /reset, /exit")
        if conv.history:
            typer.echo(f"(resumed session {session!r}: {len(conv.history)} earlier turns)")
    last = None
    while True:
        try:
            text = read_line("" if as_json else "you> ").strip()
        except (EOFError, KeyboardInterrupt):
            if not as_json:
                typer.echo("")
            break
        if not text:
            continue
        if text in ("/exit", "/quit"):
            break
        if text == "/reset":
            conv.reset()
            last = None
            if not as_json:
                typer.echo("(conversation forgotten)")
            continue
        if text == "/sources":  # with --json, each turn's line holds its sources already
            if as_json:
                pass
            elif last is None:
                typer.echo("(no answer yet)")
            else:
                print_sources(last)
            continue
        if text.startswith("/"):
            typer.echo(f"unknown command {_one_line(text)}; try /sources, /reset or /exit", err=as_json)
            continue
        try:
            standalone, last = conv.ask(text, as_of=when)
        except Exception as e:  # one bad turn must not end the conversation
            from qa.errors import QAError, printable

            if not isinstance(e, QAError):
                raise
            typer.echo(f"qa: error: {printable(e)}", err=True)
            continue
        if as_json:
            sys.stdout.write(json.dumps({"message": text, **last.to_dict()}, ensure_ascii=False) + "\n")
            sys.stdout.flush()
            continue
        if standalone != as_question(text):  # a rewrite (the model's unverified): one escaped, short line
            typer.echo(f"(asking: {_one_line(standalone)})")
        print_answer(last)
        typer.echo("")


def _line_editor(history_file: Path) -> Callable[[str], str]:
    """``input`` with line editing and a history of questions kept in ``history_file`` (GNU
    readline or libedit, as Python has), when both ends are a terminal; plain ``input`` otherwise."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return input
    try:
        import readline
    except ImportError:  # no readline on this platform: input() still works, without editing
        return input
    import atexit

    readline.set_history_length(1000)
    try:
        readline.read_history_file(history_file)
    except OSError:
        pass

    def save() -> None:
        try:
            history_file.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(history_file)
        except OSError:
            pass

    atexit.register(save)

    def read(prompt: str) -> str:
        line = input(prompt)
        n = readline.get_current_history_length()
        if line.strip().startswith("/") and n:  # questions are history; /exit, /reset are not
            readline.remove_history_item(n - 1)
        return line

    return read


def _chat_sessions(settings: Settings, export: str | None, as_json: bool) -> None:
    """`qa chat --list` and `qa chat --export NAME`."""
    from dataclasses import asdict

    from qa.conversation import list_sessions, load_session
    from qa.errors import printable

    index = settings.resolved_index()
    if export is None:
        sessions = list_sessions(index)
        if as_json:
            _print_json({"sessions": [s.to_dict() for s in sessions]})
            return
        for s in sessions:
            typer.echo("\t".join([printable(s.name), str(s.turns), s.modified, printable(s.last_question)]))
        return
    turns = load_session(index, export)
    if turns is None:
        _fail(f"no chat session {export!r} under {index} (see qa chat --list)")
    if as_json:
        _print_json({"name": export, "turns": [asdict(t) for t in turns]})
        return
    from qa.server.markdown import conversation_markdown

    sys.stdout.write(conversation_markdown(export, turns))


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    llm: Optional[str] = LlmOpt,
    base_url: Optional[str] = BaseUrlOpt,
    index: Optional[Path] = IndexOpt,
    chroma_url: Optional[str] = ChromaOpt,
    forwarded_allow_ips: Optional[str] = typer.Option(
        None, "--forwarded-allow-ips",
        help="Proxies (comma-separated, '*' = any) whose X-Forwarded-For is believed (env QA_TRUSTED_PROXIES; default: none)",
    ),
    watch_sources: bool = typer.Option(False, "--watch", help="Also poll the followed sources (qa sources) while serving"),
) -> None:
    """Serve qa over HTTP: OpenAI chat-completions API, /ask, /search, /ingest, /healthz."""
    import uvicorn

    from qa.server import create_app

    from qa.errors import printable

    settings = _settings(index, chroma_url=chroma_url, llm=llm, llm_base_url=base_url, trusted_proxies=forwarded_allow_ips)
    app = _run(lambda: create_app(settings, bound_host=host, watch=watch_sources))
    typer.echo(f"qa serving {printable(str(settings.resolved_index()))} on http://{host}:{port} (OpenAI API at /v1)", err=True)
    proxies = settings.trusted_proxies or None  # never uvicorn's default of trusting 127.0.0.1
    uvicorn.run(app, host=host, port=port, log_level="warning",
                proxy_headers=proxies is not None, forwarded_allow_ips=proxies)


# ---------------------------------------------------------------- following the news


@sources_app.command("add")
def sources_add(
    url: str = typer.Argument(..., help="Feed (RSS, Atom, RDF, JSON Feed) or sitemap URL"),
    every: Optional[str] = typer.Option(None, "--every", help="How often to poll it: 90s, 30m, 2h, 1d (default QA_WATCH_EVERY, 30m)"),
    name: Optional[str] = typer.Option(None, "--name", help="Its name: the source of its articles, and a handle for `qa sources rm`"),
    index: Optional[Path] = IndexOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Follow a feed or sitemap (an already followed URL gets the new --every/--name)."""
    from qa.errors import printable

    source, new = _with_assistant(_settings(index), lambda bot: bot.add_source(url, every=every, name=name))
    if as_json:
        _print_json({"source": source.to_dict(), "added": new})
        return
    named = f" ({printable(source.name)})" if source.name else ""
    typer.echo(f"{'following' if new else 'updated'} {printable(source.url)}{named} every {source.every}")


@sources_app.command("ls")
def sources_ls(index: Optional[Path] = IndexOpt, as_json: bool = JsonOpt) -> None:
    """The followed sources, one a line: URL, name, every, last poll and its outcome (tab-separated)."""
    from qa.errors import printable

    rows = _with_assistant(_settings(index), lambda bot: bot.source_status())
    if as_json:
        _print_json({"sources": rows})
        return
    for r in rows:
        last = r["last_poll"] or "never polled"
        outcome = "" if r["ok"] is None else ("ok" if r["ok"] else f"failed: {r['message']}")
        typer.echo("\t".join(printable(str(x)) for x in (r["url"], r["name"] or "-", r["every"], last, outcome)))


@sources_app.command("rm")
def sources_rm(
    url_or_name: str = typer.Argument(..., help="The source's URL or name"),
    index: Optional[Path] = IndexOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Stop following a source (its documents stay in the index; `qa index rm` removes them)."""
    from qa.errors import printable

    gone = _with_assistant(_settings(index), lambda bot: bot.remove_source(url_or_name))
    if as_json:
        _print_json({"removed": gone.to_dict()})
        return
    typer.echo(f"no longer following {printable(gone.url)}")


@app.command()
def watch(
    once: bool = typer.Option(False, "--once", help="Poll the due sources once and exit (for cron)"),
    index: Optional[Path] = IndexOpt,
    chroma_url: Optional[str] = ChromaOpt,
    model: Optional[str] = ModelOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Poll every due source (qa sources), ingest what is new, and keep doing it until stopped.

    With --json, one report a round (the `qa ingest --json` contract plus fetched, not_modified,
    feeds), one JSON object a line. Exit code with --once: 0, or 1 when something failed."""
    import signal
    import threading

    from qa.assistant import Assistant
    from qa.progress import fetch_progress

    settings = _settings(index, chroma_url=chroma_url, model=model)
    bot = Assistant(settings)
    if not _run(bot.sources):
        _fail(f"no sources to watch in {settings.resolved_index()}: add one with `qa sources add URL`")

    def show(report: Any, *, indent: bool) -> None:
        for problem in [*report.errors, *report.warnings]:
            typer.echo(problem.one_line(), err=True)
        if as_json:
            sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2 if indent else None) + "\n")
            sys.stdout.flush()
        elif report.feeds or not indent:
            _print_ingest_summary(report)

    if once:
        with fetch_progress(enabled=True) as progress:
            report = _run(lambda: bot.poll(progress=progress))
        if not report.feeds and not as_json:
            typer.echo("no source is due", err=True)
        show(report, indent=True)
        raise typer.Exit(1 if report.failed else 0)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    typer.echo(f"watching {len(bot.sources())} source(s) in {settings.resolved_index()} (Ctrl-C to stop)", err=True)

    def failed(error: Exception) -> None:
        from qa.errors import printable

        typer.echo(f"qa: error: {printable(error)}", err=True)

    bot.watch(stop, on_round=lambda report: show(report, indent=False), on_error=failed)
    typer.echo("stopped", err=True)


# ---------------------------------------------------------------- index


@index_app.command("stats")
def index_stats(index: Optional[Path] = IndexOpt, as_json: bool = JsonOpt) -> None:
    """Documents, chunks, model, size on disk and date range of the index."""
    stats = _with_assistant(_settings(index), lambda bot: bot.stats())
    if as_json:
        _print_json(stats)
        return
    for key, value in stats.items():
        typer.echo(f"{key:>16}: {value}")


@index_app.command("ls")
def index_ls(index: Optional[Path] = IndexOpt, as_json: bool = JsonOpt) -> None:
    """The indexed documents, one a line: id, publication date, chunks, title, source, path (tab-separated)."""
    from qa.errors import printable

    documents = _with_assistant(_settings(index), lambda bot: bot.documents())
    if as_json:
        _print_json({"documents": [d.to_dict() for d in documents]})
        return
    for d in documents:  # article metadata: never terminal controls
        when = d.published_at.isoformat() if d.published_at else "undated"
        typer.echo("\t".join([printable(d.doc_id), when, str(d.chunks), printable(d.title or "untitled"),
                              printable(d.source or "unknown source"), printable(d.path or "-")]))


@index_app.command("rebuild")
def index_rebuild(
    index: Optional[Path] = IndexOpt,
    chroma_url: Optional[str] = ChromaOpt,
    model: Optional[str] = typer.Option(None, "--model", help="Re-embed with this model instead"),
    as_json: bool = JsonOpt,
) -> None:
    """Re-chunk and re-embed every document into a fresh index, swapped in when complete."""
    from qa.progress import ingest_progress

    with ingest_progress(enabled=True) as progress:
        report = _with_assistant(_settings(index, chroma_url=chroma_url), lambda bot: bot.rebuild(model=model, progress=progress))
    if as_json:
        _print_json(report.to_dict())
    else:
        typer.echo(f"rebuilt: {report.documents} documents, {report.chunks} chunks")


@index_app.command("follow")
def index_follow(
    index_id: str = typer.Argument(..., help="The followed index's id (`qa index stats --json` on the writer: index_id)"),
    index: Optional[Path] = IndexOpt,
    chroma_url: Optional[str] = ChromaOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Make --index a replica of an index on a Chroma server, or bring a replica up to date.
    `qa serve` on a replica keeps it up to date by itself."""
    report = _with_assistant(_settings(index, chroma_url=chroma_url), lambda bot: bot.follow(index_id))
    if as_json:
        _print_json(report.to_dict())
    elif report.up_to_date:
        typer.echo(f"up to date: version {report.version}, {report.documents} documents, {report.chunks} chunks")
    else:
        how = "built" if report.full else f"+{report.added_chunks}/-{report.deleted_chunks} chunks"
        typer.echo(f"version {report.version} ({how}): {report.documents} documents, {report.chunks} chunks in {report.seconds:.1f} s")


@index_app.command("rm")
def index_rm(
    doc_ids: list[str] = typer.Argument(..., help="Document ids (as shown by search --json)"),
    index: Optional[Path] = IndexOpt,
    chroma_url: Optional[str] = ChromaOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Remove documents from the index."""
    removed, missing = _with_assistant(_settings(index, chroma_url=chroma_url), lambda bot: bot.remove(doc_ids))
    for m in missing:
        typer.echo(f"qa: error: no document with id {m!r}", err=True)
    if as_json:
        _print_json({"removed": removed, "missing": missing})
    else:
        typer.echo(f"removed {len(removed)} document(s)")
    raise typer.Exit(1 if missing else 0)


@app.command("eval")
def eval_cmd(
    dataset: Path = typer.Argument(..., help="Folder with articles.jsonl and questions.jsonl (format: README, `qa eval`)"),
    k: int = typer.Option(10, "--k", min=1, max=100, help="Passages considered per question"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N questions"),
    no_answers: bool = typer.Option(False, "--no-answers", help="Score retrieval only"),
    llm: Optional[str] = LlmOpt,
    base_url: Optional[str] = BaseUrlOpt,
    index: Optional[Path] = typer.Option(None, "--index", help="Keep the index here (reused next time); default: a temporary folder"),
    as_json: bool = JsonOpt,
) -> None:
    """Measure AnswerRecall@1/5/10, MRR@10 and answer accuracy on a dated question set."""
    import tempfile

    from qa.progress import eval_progress

    with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp, eval_progress(enabled=True) as (progress, on_question):
        result = _with_assistant(
            _settings(index or Path(tmp) / "index", llm=llm, llm_base_url=base_url),
            lambda bot: bot.eval(dataset, k=k, limit=limit, with_answers=not no_answers, progress=progress,
                                 on_question=on_question),
        )
    if as_json:
        _print_json(result)
        return
    from qa.render import print_eval

    print_eval(result)


def main() -> None:
    """The `qa` command. Whatever the command left alive is frozen out of the garbage collector on
    the way out: the interpreter's last full collection would walk every object the imports made
    (chromadb, onnxruntime, ...), ~0.25 s of each cold command, only to free memory the exit frees."""
    import gc

    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":
    main()
