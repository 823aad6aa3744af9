"""The core API every surface uses: ``Assistant.open(index=...)`` then ``ask``/``search``/``ingest``."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from qa.ingest.pipeline import IngestReport, Progress
from qa.retrieve import Retriever, SearchFilters
from qa.settings import Settings
from qa.store import IndexReader
from qa.types import Answer, Article, Passage


class Assistant:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._reader: IndexReader | None = None
        self._lock = threading.Lock()
        self._generators: dict[str, Any] = {}

    @classmethod
    def open(cls, index: str | Path | None = None, **overrides: Any) -> Assistant:
        if index is not None:
            overrides["index"] = Path(index)
        return cls(Settings(**overrides))

    # ------------------------------------------------------------ reading
    @property
    def reader(self) -> IndexReader:
        """The published generation; reopened when a newer one has been published."""
        with self._lock:
            from qa.generations import Generations

            current = Generations(self.settings.resolved_index()).current()
            if self._reader is None or (current is not None and current != self._reader.gen):
                old = self._reader
                self._reader = IndexReader(self.settings)
                if old is not None:
                    old.close()
            return self._reader

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        as_of: date | None = None,
        filters: SearchFilters | None = None,
    ) -> list[Passage]:
        from qa.temporal import question_time

        qtime = question_time(query, as_of or date.today())
        filters = _with_as_of(filters, as_of)
        passages, _ = Retriever(self.reader, self.settings).search(
            query, k or self.settings.search_k, filters, qtime
        )
        return passages

    def _prepare(
        self, question: str, as_of: date | None, k: int | None, filters: SearchFilters | None
    ) -> Any:
        """Retrieve once; the extractive answer is computed only if someone asks for it."""
        from qa.answer.extractive import extractive_answer, is_relevant
        from qa.answer.generate import Prepared
        from qa.temporal import question_time

        as_of = as_of or date.today()
        qtime = question_time(question, as_of)
        retriever = Retriever(self.reader, self.settings)
        passages, qvec = retriever.search(question, k or self.settings.k, _with_as_of(filters, as_of), qtime)

        def extractive() -> Answer:
            return extractive_answer(
                question,
                passages,
                qvec,
                retriever.encoder,
                as_of=as_of,
                max_sentences=self.settings.answer_sentences,
                min_relevance=self.settings.min_relevance,
                shortlist=self.settings.answer_shortlist,
            )

        relevant = is_relevant(question, passages, self.settings.min_relevance)
        return Prepared(question, as_of, passages, relevant, extractive)

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
    ) -> Answer:
        """A cited answer; ``llm`` (or the setting) picks extractive or a generation backend."""
        generator = self._generator(llm)
        if generator is None:
            return self._prepare(question, as_of, k, filters).extractive()
        # the LCEL chain: retrieve → number passages → prompt → chat model → parse → verify
        chain = generator.chain(lambda q: self._prepare(q["question"], q["as_of"], k, filters))
        return chain.invoke({"question": question, "as_of": as_of})

    def ask_stream(
        self,
        question: str,
        *,
        as_of: date | None = None,
        k: int | None = None,
        filters: SearchFilters | None = None,
        llm: str | None = None,
    ) -> Iterator[str | Answer]:
        """Text pieces as they are generated, then the verified Answer (last item)."""
        generator = self._generator(llm)
        prep = self._prepare(question, as_of, k, filters)
        if generator is None:
            answer = prep.extractive()
            yield answer.answer
            yield answer
            return
        yield from generator.stream(prep)

    def chat(self, session: str | None = None, *, llm: str | None = None) -> Any:
        """A Conversation: ``.ask(text)`` understands follow-ups; ``session`` persists it."""
        from qa.conversation import Conversation

        return Conversation(self, name=session, llm=llm)

    def stats(self) -> dict[str, Any]:
        return self.reader.stats()

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
        """``published_at`` fills in missing dates; ``override_published_at`` replaces them."""
        from qa.ingest.loaders import _from_record
        from qa.ingest.pipeline import ingest, to_article

        report = IngestReport()
        paths: list[str] = []
        articles: list[Article] = []
        for item in paths_or_articles:
            if isinstance(item, Article):
                articles.append(item)
            elif isinstance(item, dict):
                raw = _from_record(item, "<api>", line=len(articles) + 1)
                articles.append(to_article(
                    raw, published_at=published_at, override_published_at=override_published_at, source=source,
                    report=report,
                ))
            else:
                paths.append(str(item))
        return ingest(
            paths, self.settings, articles=articles, published_at=published_at,
            override_published_at=override_published_at, source=source, prune=prune, progress=progress,
            report=report,
        )

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _with_as_of(filters: SearchFilters | None, as_of: date | None) -> SearchFilters | None:
    """Answering as of a day means articles published later do not exist yet."""
    if as_of is None:
        return filters
    from dataclasses import replace

    return replace(filters or SearchFilters(), as_of=as_of)
