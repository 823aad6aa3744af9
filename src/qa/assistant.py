"""The core API every surface uses: ``Assistant.open(index=...)`` then ``ask``/``search``/``ingest``.

The CLI, the HTTP server and the web page are thin translations of these methods, as paper-qa's
``Docs`` and ragna's ``Rag`` are the one object of theirs: asking (``ask``, ``ask_stream``,
``search``, ``chat``), the index (``ingest``, ``remove``, ``rebuild``, ``stats``, ``documents``)
and measuring (``eval``)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.answer.stream import AnswerStream, AsyncAnswerStream
from qa.settings import MAX_K, Settings
from qa.types import Answer, Article, Passage

if TYPE_CHECKING:  # imported where used: `qa index stats` and `qa index ls` stay light
    import threading as _threading

    from qa.conversation import Conversation, MessageHistory, SessionInfo
    from qa.feeds.report import FeedReport, FetchProgress
    from qa.feeds.sources import Source
    from qa.index.catalog import DocumentInfo
    from qa.index.replica import SyncReport
    from qa.index.reader import IndexReader
    from qa.ingest import IngestReport, Progress
    from qa.retrieve import SearchFilters


class Assistant:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._reader: IndexReader | None = None
        self._retired: list[IndexReader] = []  # older generations' readers still used by a call
        self._leases: Counter[int] = Counter()  # id(reader) → calls using it now
        self._lock = threading.Lock()
        self._generators: dict[str, Any] = {}
        self._spans: Any = None  # qa.answer.spans.Analyzer, made on the first question

    @classmethod
    def open(cls, index: str | Path | None = None, *, chat_model: Any = None, **overrides: Any) -> Assistant:
        """An Assistant over ``index`` with any setting as a keyword (``k=8``, ``llm="openai:…"``).
        ``chat_model`` (or ``llm``) may be any LangChain chat model object: it answers through the
        same prompt, verification and fallback as the configured backends."""
        if index is not None:
            overrides["index"] = Path(index)
        if overrides.get("llm") is not None and not isinstance(overrides["llm"], str):
            chat_model = overrides.pop("llm")
        if chat_model is not None:
            from qa.answer.llms import register_chat_model

            overrides["llm"] = register_chat_model(chat_model)
        return cls(Settings(**overrides))

    # ------------------------------------------------------------ reading
    @property
    def reader(self) -> IndexReader:
        """The published generation's reader, for a quick look. It is closed once a newer
        generation is published and no call uses it: to keep it open while you use it, lease it
        with ``with bot.reading() as reader:``, as ``search``, ``ask`` and ``stats`` do."""
        with self._lock:
            reader = self._pinned_current()
            self._close_retired()
            return reader

    @contextmanager
    def reading(self) -> Iterator[IndexReader]:
        """The published generation's reader, kept open for the length of one call: a newer
        generation swaps it for later calls, and the old one is closed when its last call ends —
        so a query running while an ingest publishes never loses its index."""
        with self._lock:
            reader = self._pinned_current()
            self._leases[id(reader)] += 1
        try:
            yield reader
        finally:
            with self._lock:
                self._leases[id(reader)] -= 1
                if self._leases[id(reader)] <= 0 and reader is self._reader:
                    reader.unpin()  # idle: a writer may remove its generation (a long-lived server keeps none)
                self._close_retired()

    def _pinned_current(self) -> IndexReader:
        """Under ``_lock``: ``_current()``, its generation pinned for the call (it is unpinned
        while no call uses it; one removed meanwhile is replaced by the published one)."""
        reader = self._current()
        if not reader.repin():
            self._retired.append(reader)
            self._reader = None
            reader = self._current()
        return reader

    def _current(self) -> IndexReader:
        """Under ``_lock``: the reader of the published generation, opened on first use or when a
        newer generation has been published (the old one is retired, not closed, here)."""
        from qa.index.generations import Generations
        from qa.index.reader import IndexReader

        current = Generations(self.settings.resolved_index()).current()
        if self._reader is None or (current is not None and current != self._reader.gen):
            new = IndexReader(self.settings)
            if self._reader is not None:
                self._retired.append(self._reader)
            self._reader = new
        return self._reader

    def _close_retired(self) -> None:
        """Under ``_lock``: close the retired readers no call is using any more."""
        for reader in [r for r in self._retired if self._leases[id(r)] <= 0]:
            self._retired.remove(reader)
            self._leases.pop(id(reader), None)
            reader.close()

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        as_of: date | None = None,
        filters: SearchFilters | None = None,
    ) -> list[Passage]:
        from qa.retrieve import Retriever
        from qa.temporal import question_time

        _whole_text(query, "query")
        _a_range_with_days(filters)
        qtime = question_time(query, as_of or date.today())
        filters = _with_as_of(filters, as_of)
        with self.reading() as reader:
            passages, _ = Retriever(reader, self.settings).search(query, _wanted(k, self.settings.search_k), filters, qtime)
        return passages

    def ranking(self) -> str:
        """How search orders passages: "learned" (the learned ranker, qa/rank) or "fusion"
        (turned off, or no usable model file)."""
        from qa.rank import in_use

        return "learned" if in_use(self.settings) else "fusion"

    def _prepare(
        self,
        question: str,
        as_of: date | None,
        k: int | None,
        filters: SearchFilters | None,
        passages: list[Passage] | None = None,
    ) -> Any:
        """Retrieve once (or take ``passages`` as found elsewhere); the extractive answer is
        computed only if someone asks for it."""
        from qa.answer.extractive import extractive_answer, is_relevant
        from qa.answer.generate import Prepared
        from qa.retrieve import Retriever, in_window
        from qa.temporal import question_time
        from qa.text import as_question

        _whole_text(question, "question")
        _a_range_with_days(filters)
        question = as_question(question)
        as_of = as_of or date.today()
        qtime = question_time(question, as_of)
        with self.reading() as reader:
            retriever = Retriever(reader, self.settings)
            if passages is None:
                passages, qvec = retriever.for_answer(question, _wanted(k, self.settings.k), _with_as_of(filters, as_of), qtime)
            else:
                qvec = retriever.encoder.encode_query(question)
                passages = _with_similarity(passages, qvec, retriever.encoder)
        relevant = is_relevant(question, passages, self.settings.min_relevance)

        def extractive() -> Answer:
            return extractive_answer(
                question,
                relevant,
                qvec,
                retriever.encoder,
                qtime=qtime,
                max_sentences=self.settings.answer_sentences,
                shortlist=self.settings.answer_shortlist,
            )

        # an LLM reads only the passages from the question's window ("this week"), if it names one
        for_llm = [p for p in relevant if in_window(p.record, qtime) is not False]
        note = ""
        if qtime.evidence is not None:
            note = f"The question asks about news published {qtime.evidence.label}: answer only from passages about that period.\n"
        return Prepared(question, as_of, passages, for_llm, extractive, qtime, note)

    def _extractive(self, prep: Any) -> Answer:
        """The extractive answer, led by its short answer when the reader is confident
        (qa.answer.lead; spaCy is loaded on the first question)."""
        from qa.answer.lead import with_short_answer

        return with_short_answer(
            prep.extractive(), prep.question, prep.relevant, prep.qtime, self.settings, self._analyzer()
        )

    def _analyzer(self) -> Any:
        """The short-answer reader's spaCy analyser (None when short answers are off)."""
        name = self.settings.short_answer_pipeline
        if not name:
            return None
        with self._lock:
            if self._spans is None or self._spans.pipeline != name:
                from qa.answer.spans import Analyzer

                self._spans = Analyzer(name)
            return self._spans

    def _generator(self, llm: str | None) -> Any:
        """None for the extractive backend, else the (cached) generator for ``llm``."""
        from qa.answer.llms import chat_model, parse_backend

        backend = parse_backend(llm or self.settings.llm)
        if backend.kind == "extractive":
            return None
        gen = self._generators.get(backend.label)
        if gen is None:
            from qa.answer.generate import Generator

            gen = self._generators[backend.label] = Generator(
                chat_model(backend, self.settings), backend.label, self.settings
            )
        return gen

    def ask(
        self,
        question: str,
        *,
        as_of: date | None = None,
        k: int | None = None,
        filters: SearchFilters | None = None,
        llm: str | None = None,
        passages: list[Passage] | None = None,
    ) -> Answer:
        """A cited answer; ``llm`` (or the setting) picks extractive or a generation backend.
        ``passages`` answers from passages found elsewhere (a LangChain retriever's documents,
        ``qa.langchain``) instead of searching: they are verified and cited all the same."""
        generator = self._generator(llm)
        if generator is None:
            return self._extractive(self._prepare(question, as_of, k, filters, passages))
        # the LCEL chain: retrieve → number passages → prompt → chat model → parse → verify
        chain = generator.chain(lambda q: self._prepare(q["question"], q["as_of"], k, filters, passages))
        return chain.invoke({"question": question, "as_of": as_of})

    def ask_stream(
        self,
        question: str,
        *,
        as_of: date | None = None,
        k: int | None = None,
        filters: SearchFilters | None = None,
        llm: str | None = None,
        passages: list[Passage] | None = None,
    ) -> AnswerStream:
        """The answer as it is verified: iterate for text pieces, then read ``.answer``."""
        generator = self._generator(llm)
        prep = self._prepare(question, as_of, k, filters, passages)
        if generator is None:
            return AnswerStream.of(self._extractive(prep))
        return AnswerStream(generator.stream(prep))

    # ------------------------------------------------------------ async (for async bots and servers)
    async def asearch(self, query: str, k: int | None = None, **kwargs: Any) -> list[Passage]:
        """``search`` without blocking the event loop (run in a worker thread)."""
        import asyncio

        return await asyncio.to_thread(self.search, query, k, **kwargs)

    async def aask(self, question: str, **kwargs: Any) -> Answer:
        """``ask`` without blocking the event loop (run in a worker thread)."""
        import asyncio

        return await asyncio.to_thread(self.ask, question, **kwargs)

    def astream(self, question: str, **kwargs: Any) -> AsyncAnswerStream:
        """``ask_stream`` for ``async for``: the verified text pieces, then ``await stream.final()``
        (or ``stream.answer`` once iterated). Each piece is produced in a worker thread."""
        return AsyncAnswerStream(lambda: self.ask_stream(question, **kwargs))

    def chat(
        self,
        session: str | None = None,
        *,
        llm: str | None = None,
        exchanges: Iterable[tuple[str, Answer | None]] = (),
        history: MessageHistory | None = None,
    ) -> Conversation:
        """A Conversation: ``.ask(text)`` understands follow-ups. Its turns are kept in
        ``history`` (a LangChain ``BaseChatMessageHistory``: file, SQL, Redis … — or anything with
        its ``messages``, ``add_messages`` and ``clear``) when given,
        else under the index as the JSON session ``session``, else in memory only;
        ``exchanges`` are earlier (question, answer) turns known from elsewhere (the messages of an
        API request), replayed as its history."""
        from qa.conversation import Conversation

        conversation = Conversation(self, name=session, llm=llm, history=history)
        for question, answer in exchanges:
            conversation.replay(question, answer)
        return conversation

    def sessions(self) -> list[SessionInfo]:
        """The JSON chat sessions kept under the index (name, turns, last question), newest first."""
        from qa.conversation import list_sessions

        return list_sessions(self.settings.resolved_index())

    def condense(self, history: str, question: str, *, llm: str | None = None) -> str | None:
        """The LLM's standalone form of the follow-up ``question`` after ``history`` (the
        prompts/condense.md template), or None when ``llm`` is the extractive backend or the model
        gives nothing usable (then the caller rewrites deterministically)."""
        generator = self._generator(llm)
        if generator is None:
            return None
        from qa.prompts import load_prompt

        prompt = load_prompt("condense", self.settings.prompts_dir).format(history=history, question=question)
        try:
            out = str(generator.llm.invoke(prompt).content).strip().splitlines()[0].strip()
        except Exception:  # a failed rewrite is no reason to fail the turn
            return None
        return out if 5 <= len(out) <= 300 else None

    def stats(self) -> dict[str, Any]:
        with self.reading() as reader:
            return reader.stats()

    def status(self) -> dict[str, Any]:
        """The published generation and its document count: the cheap part of ``stats`` (no walk
        of the index folder), for health checks."""
        with self.reading() as reader:
            return {"documents": reader.catalog.stats()["documents"], "generation": reader.gen.name}

    def source_names(self) -> list[str]:
        """The source names of the indexed documents, sorted: the values ``SearchFilters.source``
        can match (not the followed feeds: ``sources``)."""
        with self.reading() as reader:
            return reader.catalog.source_names()

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents (id, title, source, published_at, chunks), in ingest order."""
        with self.reading() as reader:
            return reader.catalog.documents()

    def articles(self) -> Iterator[Article]:
        """Every indexed article with its cleaned text (the text citations quote)."""
        with self.reading() as reader:
            yield from reader.catalog.articles()

    def eval(
        self,
        dataset: str | Path,
        *,
        k: int = 10,
        limit: int | None = None,
        with_answers: bool = True,
        progress: Progress | None = None,
        on_question: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Ingest a dataset folder's articles.jsonl, then score retrieval and answers (by the
        configured backend, ``llm`` included) on its questions.jsonl (see qa.evaluate);
        ``on_question(done, total)`` after each question."""
        from qa.evaluate import run_eval

        return run_eval(self, Path(dataset), k=k, limit=limit, with_answers=with_answers, progress=progress,
                        on_question=on_question)

    # ------------------------------------------------------------ writing
    def ingest(
        self,
        paths_or_articles: Iterable[str | Path | Article | dict[str, Any]],
        *,
        published_at: date | None = None,
        override_published_at: date | None = None,
        source: str | None = None,
        prune: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Paths (files, folders, globs, ``-``), http(s) URLs (article pages, feeds, sitemaps:
        fetched, see qa.feeds; the report is then a ``FeedReport``), ``Article`` objects and dict
        records (the JSONL fields). Dict records are checked one by one: a bad record is reported
        in ``errors`` (path ``<api>``, ``line`` = its 1-based position), never raised, and the
        others are ingested. ``published_at`` fills in missing dates; ``override_published_at``
        replaces them."""
        from qa.feeds.urls import looks_like_url

        items = list(paths_or_articles)
        records = {i: item for i, item in enumerate(items, 1) if isinstance(item, dict)}
        names = [str(item) for item in items if isinstance(item, (str, Path))]
        return self._ingest(
            [n for n in names if not looks_like_url(n)],
            [item for item in items if isinstance(item, Article)],
            records, published_at=published_at, override_published_at=override_published_at,
            source=source, prune=prune, progress=progress, urls=[n for n in names if looks_like_url(n)],
        )

    def ingest_records(
        self,
        records: Iterable[Any],
        *,
        published_at: date | None = None,
        override_published_at: date | None = None,
        source: str | None = None,
        urls: Iterable[str] = (),
        url_hosts: Iterable[str] = (),
    ) -> IngestReport:
        """Untrusted records (``POST /ingest``): every item is a record, never a path; anything
        that is not a valid article record is that record's error (``line`` = its position).
        ``urls`` are fetched only from ``url_hosts`` (the operator's list; on every redirect hop):
        a URL elsewhere is that URL's error, and nothing is fetched from it."""
        return self._ingest(
            [], [], dict(enumerate(records, 1)), published_at=published_at,
            override_published_at=override_published_at, source=source, urls=list(urls), url_hosts=list(url_hosts),
        )

    def _ingest(
        self,
        paths: list[str],
        articles: list[Article],
        records: dict[int, Any],
        *,
        published_at: date | None,
        override_published_at: date | None,
        source: str | None,
        prune: bool = False,
        progress: Progress | None = None,
        urls: list[str] | None = None,
        url_hosts: list[str] | None = None,
    ) -> IngestReport:
        from qa.errors import InputError
        from qa.ingest import IngestReport, accept, ingest
        from qa.ingest.loaders import record_or_error
        from qa.ingest.scope import API as API_PATH

        if urls:
            from qa.feeds.report import FeedReport

            report: IngestReport = FeedReport()
        else:
            report = IngestReport()
        articles = list(articles)
        for position, record in records.items():
            raw = record_or_error(record, API_PATH, position)
            if isinstance(raw, InputError):
                report.error(raw)
                continue
            article = accept(
                raw, API_PATH, self.settings, report, published_at=published_at,
                override_published_at=override_published_at, source=source,
            )
            if article is not None:
                articles.append(article)
        if urls:
            from qa.feeds.crawl import Target
            from qa.feeds.watch import ingest_urls

            return ingest_urls(
                self.settings, [Target(u) for u in urls], paths=paths, articles=articles, report=report,  # type: ignore[arg-type]
                published_at=published_at, override_published_at=override_published_at, source=source,
                prune=prune, progress=progress, hosts=url_hosts,  # type: ignore[arg-type]
            )
        return ingest(
            paths, self.settings, articles=articles, published_at=published_at,
            override_published_at=override_published_at, source=source, prune=prune, progress=progress,
            report=report,
        )

    # ------------------------------------------------------------ following the news
    def sources(self) -> list[Source]:
        """The followed feeds and sitemaps (kept in the index folder), in the order added."""
        from qa.feeds.sources import SourceList

        return SourceList(self.settings.resolved_index()).load()

    def source_status(self) -> list[dict[str, Any]]:
        """Each followed source with its last poll: ``url``, ``name``, ``every``,
        ``every_seconds``, ``last_poll`` and ``next_poll`` (ISO times, None before the first),
        ``ok`` (None before the first) and ``message`` (why the last poll failed)."""
        from qa.feeds.watch import status

        return status(self.settings)

    def add_source(self, url: str, *, every: str | None = None, name: str | None = None) -> tuple[Source, bool]:
        """Follow ``url`` (polled every ``every``, e.g. "30m"; its articles' source is ``name``,
        else the feed's title); an already followed URL gets the new ``every``/``name``. Returns
        the source and whether it is new."""
        from qa.feeds.sources import SourceList

        return SourceList(self.settings.resolved_index()).add(
            url, every=every, name=name, default_every=self.settings.watch_every
        )

    def remove_source(self, url_or_name: str) -> Source:
        """Stop following a source (its documents stay in the index)."""
        from qa.feeds.sources import SourceList
        from qa.feeds.state import FetchState

        root = self.settings.resolved_index()
        gone = SourceList(root).remove(url_or_name)
        state = FetchState(root)
        try:
            state.forget(gone.url)
        finally:
            state.close()
        return gone

    def poll(self, *, every_source: bool = False, progress: FetchProgress | None = None) -> FeedReport:
        """One round: every due source (``every_source``: all) fetched and ingested."""
        from qa.feeds.watch import poll

        return poll(self.settings, progress=progress, every_source=every_source)

    def watch(
        self,
        stop: _threading.Event,
        *,
        on_round: Callable[[FeedReport], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        lock: Any = None,
    ) -> None:
        """Poll due sources until ``stop`` is set (each round's report to ``on_round``, a failed
        round's error to ``on_error``). ``lock``: held around each round (a server's write lock)."""
        from qa.feeds.watch import watch

        watch(self.settings, stop=stop, on_round=on_round, on_error=on_error, lock=lock)

    def remove(self, doc_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Forget documents (or recorded duplicates) by id, each with its recorded duplicates;
        returns (removed, missing)."""
        from qa.index.writer import remove_documents

        return remove_documents(self.settings, list(doc_ids))

    def follow(self, index_id: str) -> SyncReport:
        """Make this index folder a replica of ``index_id`` on the Chroma server
        (``settings.chroma_url``) and catch up; again on a replica: catch up (qa.index.replica)."""
        from qa.index.replica import follow

        return follow(self.settings, index_id)

    def is_replica(self) -> bool:
        """Whether this index folder follows an index on a Chroma server (`qa index follow`)."""
        from qa.index.replica import is_replica

        return is_replica(self.settings)

    def catch_up(self) -> SyncReport:
        """On a replica: catch up with the server's published version (IndexBusyError if another
        process is doing so); `qa serve` calls this every ``replica_poll_seconds``."""
        from qa.index.replica import sync

        return sync(self.settings)

    def rebuild(self, *, model: str | None = None, progress: Progress | None = None) -> IngestReport:
        """Re-chunk and re-embed every document (with ``model`` instead, if given) into a fresh
        generation, published when complete."""
        from qa.ingest import rebuild

        return rebuild(self.settings, model=model, progress=progress)

    def close(self) -> None:
        with self._lock:
            for reader in [*self._retired, *([self._reader] if self._reader is not None else [])]:
                reader.close()
            self._retired.clear()
            self._leases.clear()
            self._reader = None


def _with_similarity(passages: list[Passage], qvec: Any, encoder: Any) -> list[Passage]:
    """Passages found elsewhere, each with its cosine similarity to the question (what
    ``is_relevant`` reads); the ones that carry it already (qa's own, read back) keep theirs."""
    from dataclasses import replace

    missing = [i for i, p in enumerate(passages) if not p.similarity]
    if not missing:
        return list(passages)
    vecs = encoder.encode([f"{passages[i].title}\n{passages[i].text}".strip() for i in missing])
    out = list(passages)
    for i, vec in zip(missing, vecs):
        out[i] = replace(out[i], similarity=float(vec @ qvec))
    return out


def _whole_text(text: str, what: str) -> None:
    """A question or query that is not a str is a TypeError naming it, one holding what is not
    text (bytes that are not UTF-8, from a terminal in another encoding) or nothing but spaces a
    RequestError (a usage error; a server's bad request) naming it; the first would fail deep inside (the tokenizer, the time rules) in
    words of its own, the last be answered with arbitrary passages as if something was asked."""
    from qa.text import unicode_problem

    if not isinstance(text, str):
        raise TypeError(f"{what} is text, not {type(text).__name__}")
    problem = "empty" if not text.strip() else unicode_problem(text)
    if problem:
        from qa.errors import RequestError

        raise RequestError(f"{what}: {problem}")


def _wanted(k: int | None, default: int) -> int:
    """How many passages a call asks for: ``default`` when None, else a whole number from 1 to
    MAX_K (a huge one made the BM25 engine abort the whole process asking for its memory)."""
    if k is None:
        return default
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        from qa.errors import RequestError

        raise RequestError(f"k: {k!r} is not a number of passages (a whole number from 1 to {MAX_K})")
    return k


def _a_range_with_days(filters: SearchFilters | None) -> None:
    """A since after the until holds no day: the caller's mistake (a RequestError, as the CLI's
    exit 2 and the server's 422), never searched as an empty range (qa.index.filters.check_range)."""
    from qa.index.filters import check_range

    if filters is not None:
        check_range(filters.since, filters.until, context="filters: ")


def _with_as_of(filters: SearchFilters | None, as_of: date | None) -> SearchFilters | None:
    """Answering as of a day means articles published later do not exist yet."""
    if as_of is None:
        return filters
    from dataclasses import replace

    from qa.retrieve import SearchFilters

    return replace(filters or SearchFilters(), as_of=as_of)
