"""qa inside your own LangChain chains: ``QARetriever`` and ``answer_chain()``.

    from qa.langchain import QARetriever, answer_chain
    retriever = QARetriever(index="index", k=8, as_of=date(2025, 3, 10))   # a BaseRetriever
    docs = retriever.invoke("When did Varga and Hale last speak?")          # Documents, cited spans
    chain = answer_chain(index="index")                                     # a Runnable
    answer = chain.invoke({"question": "And before that?", "history": [...], "as_of": "2025-03-10"})

``QARetriever`` is qa's hybrid, time-aware search; each Document's metadata carries the citation
(title, url, source, published_at, doc_id, chunk_id and the exact ``start``/``end`` span in the
cleaned article) and the rest of the chunk's record, so the Documents can be handed back to qa.
``answer_chain`` is the whole verified answer (``Assistant.ask``) as a Runnable: its input is a
question or ``{"question" (or "input"), "as_of", "history" (or "chat_history"), "context"}``,
its output the structured ``qa.Answer``. Given ``context`` Documents (as ``create_retrieval_chain``
passes them), it answers from those instead of searching — verified against them all the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from qa.assistant import Assistant
from qa.index.filters import SearchFilters, check_range
from qa.types import Answer, Passage

__all__ = ["QARetriever", "answer_chain", "document_of", "passage_of"]


# ---------------------------------------------------------------- Passage ⇄ Document


def document_of(passage: Passage) -> Document:
    """A passage as a LangChain Document: its text, and its citation and record as metadata."""
    from qa.index.records import to_chroma

    meta = {**to_chroma(passage.record), "published_at": passage.record.published_iso or None}
    meta.update(chunk_id=passage.chunk_id, score=round(float(passage.score), 6), similarity=round(float(passage.similarity), 6))
    return Document(page_content=passage.text, metadata=meta, id=passage.chunk_id)


def passage_of(document: Document, position: int = 1) -> Passage:
    """A Document back as a qa Passage. One of ``QARetriever``'s comes back exactly; any other
    (your own vector store's) is taken as an article of its own: ``doc_id`` from its metadata
    (``doc_id``, ``id``, ``source``) or its text, ``published_at``/``date`` read strictly, the span
    0…len(text) unless ``start`` is given, its date expressions resolved against that date."""
    from qa.dates import parse_date
    from qa.index.records import from_chroma
    from qa.temporal import event_days
    from qa.types import UNDATED, short_hash

    meta = dict(document.metadata or {})
    text = document.page_content
    if "event_first_day" in meta and meta.get("doc_id"):
        record = from_chroma(meta)
    else:
        try:
            published = parse_date(meta.get("published_at") or meta.get("date"))
        except ValueError:
            published = None
        start = int(meta.get("start") or 0)
        first, last, spans = event_days(text, published)
        record = from_chroma({
            "doc_id": str(meta.get("doc_id") or meta.get("id") or meta.get("source") or f"document-{short_hash(text)}"),
            "chunk_index": position - 1, "start": start, "end": start + len(text),
            "title": meta.get("title") or "", "url": meta.get("url") or "", "source": meta.get("source") or "",
            "published_at": published.isoformat() if published else None,
            "published_day": published.toordinal() if published else UNDATED,
            "event_first_day": first, "event_last_day": last, "event_dates": spans,
        })
    chunk_id = str(meta.get("chunk_id") or document.id or f"{record.doc_id}#{position}")
    return Passage(chunk_id, text, record, float(meta.get("score") or 0.0), float(meta.get("similarity") or 0.0))


# ---------------------------------------------------------------- the retriever


class QARetriever(BaseRetriever):
    """qa's hybrid (dense + BM25), time-aware search as a LangChain retriever.

    Built from an index folder (``QARetriever(index="index")``) or an open ``Assistant``
    (``QARetriever(assistant=bot)``); ``k`` passages, as of ``as_of`` (articles published later
    do not exist yet; default: today), within the ``since``/``until``/``source`` filters."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: str | Path | None = None
    assistant: Any = Field(default=None, exclude=True, repr=False)
    k: int = Field(8, ge=1, le=200)
    as_of: date | None = None
    since: date | None = None
    until: date | None = None
    source: str | None = None
    _bot: Assistant | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _a_range_with_days(self) -> "QARetriever":
        check_range(self.since, self.until)  # pydantic's ValidationError, as for its other fields
        return self

    @property
    def bot(self) -> Assistant:
        if self._bot is None:
            self._bot = self.assistant if self.assistant is not None else Assistant.open(index=self.index)
        return self._bot

    @property
    def filters(self) -> SearchFilters:
        return SearchFilters(self.since, self.until, self.source)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        passages = self.bot.search(query, self.k, as_of=self.as_of, filters=self.filters)
        return [document_of(p) for p in passages]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        passages = await self.bot.asearch(query, self.k, as_of=self.as_of, filters=self.filters)
        return [document_of(p) for p in passages]


# ---------------------------------------------------------------- the answer chain


def answer_chain(
    index: str | Path | None = None,
    *,
    assistant: Assistant | None = None,
    chat_model: Any = None,
    llm: str | None = None,
    k: int | None = None,
    as_of: date | None = None,
    filters: SearchFilters | None = None,
) -> Runnable[Any, Answer]:
    """The whole verified answer chain as a Runnable (``invoke``, ``ainvoke``, ``batch``):
    question (and history) → standalone question → passages (searched, or the ``context``
    Documents given) → extractive or generated answer (``chat_model``, any LangChain chat model,
    or the ``llm`` backend string) → verification → ``qa.Answer``."""
    if assistant is None:
        assistant = Assistant.open(index=index, chat_model=chat_model)
    elif chat_model is not None:
        from qa.answer.llms import register_chat_model

        llm = register_chat_model(chat_model)
    bot = assistant

    def run(value: Any) -> Answer:
        question, when, history, context = _read_input(value)
        conversation = bot.chat(llm=llm, exchanges=_exchanges(history, when or as_of or date.today()))
        standalone = conversation.rewrite(question)
        passages = None if context is None else [passage_of(d, i) for i, d in enumerate(context, 1)]
        return bot.ask(standalone, as_of=when or as_of, k=k, filters=filters, llm=llm, passages=passages)

    async def arun(value: Any) -> Answer:
        import asyncio

        return await asyncio.to_thread(run, value)

    return RunnableLambda(run, afunc=arun, name="qa_answer")


def _read_input(value: Any) -> tuple[str, date | None, Any, list[Document] | None]:
    """(question, as of, history, context Documents or None) from a string or a mapping."""
    if isinstance(value, str):
        return value, None, None, None
    if not isinstance(value, Mapping):
        raise TypeError(f"qa answer_chain takes a question or a mapping, not {type(value).__name__}")
    question = value.get("question", value.get("input"))
    if not isinstance(question, str) or not question.strip():
        raise ValueError("qa answer_chain: the input needs a 'question' (or 'input') string")
    history = value.get("history", value.get("chat_history"))
    context = value.get("context")
    if context is not None:
        context = list(context)
        if not all(isinstance(d, Document) for d in context):
            raise TypeError("qa answer_chain: 'context' is a list of LangChain Documents")
    return question, _as_of(value.get("as_of")), history, context


def _as_of(when: Any) -> date | None:
    """An input's ``as_of``: a date, or an ISO date string (``YYYY-MM``/``YYYY``: its last day)."""
    if when is None or isinstance(when, date):
        return when
    if not isinstance(when, str):
        raise TypeError(f"qa answer_chain: 'as_of' is a date or an ISO date string, not {type(when).__name__}")
    from qa.dates import parse_iso_period

    try:
        return parse_iso_period(when)[1]
    except ValueError as e:
        raise ValueError(f"qa answer_chain: 'as_of': {e}") from None


def _exchanges(history: Any, as_of: date) -> list[tuple[str, Answer | None]]:
    """Earlier turns as (question, answer) pairs, from LangChain messages, OpenAI-style
    ``{"role", "content"}`` dicts or (question, answer) pairs (an answer an ``Answer`` or text)."""
    if not history:
        return []
    if isinstance(history, str):
        raise TypeError("qa answer_chain: history is a list of messages or (question, answer) pairs")
    out: list[tuple[str, Answer | None]] = []
    pending: str | None = None
    for item in _as_messages(history):
        role, content = item
        if role == "user":
            if pending is not None:
                out.append((pending, None))
            pending = content if isinstance(content, str) else str(content)
        elif role == "assistant" and pending is not None:
            answer = content if isinstance(content, Answer) else _read_reply(str(content), as_of)
            out.append((pending, answer))
            pending = None
    if pending is not None:
        out.append((pending, None))
    return out


def _as_messages(history: Iterable[Any]) -> Iterable[tuple[str, Any]]:
    roles = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant"}
    for item in history:
        if isinstance(item, BaseMessage):
            yield roles.get(item.type, item.type), item.content if isinstance(item.content, str) else item.text
        elif isinstance(item, Mapping):
            yield roles.get(str(item.get("role")), str(item.get("role"))), item.get("content") or ""
        elif isinstance(item, tuple) and len(item) == 2:
            yield "user", item[0]
            if item[1] is not None:
                yield "assistant", item[1]
        else:
            raise TypeError(f"qa answer_chain: cannot read a history item of type {type(item).__name__}")


def _read_reply(text: str, as_of: date) -> Answer:
    """An earlier reply given as text: qa's own chat markdown (with its Sources list) is read back
    as the server reads it; any other text is an answer without citations."""
    from qa.server.markdown import read_answer

    return read_answer(text, as_of)
