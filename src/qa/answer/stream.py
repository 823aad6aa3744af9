"""An answer as it is produced: iterate for its text, then read ``.answer``.

The one decoder of the answerers' internal protocol (text pieces, then the verified Answer last),
in the manner of simonw/llm's ``Response``: every surface (``qa ask --stream``, SSE, the web page,
the Python API) iterates text and reads the final answer from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

from qa.types import Answer


class AnswerStream:
    """``for piece in stream`` yields the verified text as it comes (the pieces joined are exactly
    ``stream.answer.answer``); ``stream.answer`` is the final Answer with its citations (reading it
    first consumes the rest of the stream)."""

    def __init__(self, items: Iterable[str | Answer]):
        self._items = iter(items)
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        for item in self._items:
            if isinstance(item, Answer):
                self._answer = item
                return
            yield item

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            for _ in self:
                pass
        if self._answer is None:
            raise RuntimeError("the answerer ended without an answer")
        return self._answer

    @property
    def done(self) -> bool:
        """Whether the final answer has arrived."""
        return self._answer is not None

    @classmethod
    def of(cls, answer: Answer) -> AnswerStream:
        """A finished answer as a stream of one piece (the extractive backend)."""
        return cls([answer.answer, answer] if answer.answer else [answer])


class AsyncAnswerStream:
    """An ``AnswerStream`` for async code: ``async for piece in stream`` yields the verified text
    (each piece produced in a worker thread, so the event loop never blocks on the model), then
    ``await stream.final()`` — or ``stream.answer`` once iterated — is the final Answer."""

    def __init__(self, start: Callable[[], AnswerStream]):
        self._start = start
        self._stream: AnswerStream | None = None

    async def _open(self) -> AnswerStream:
        if self._stream is None:
            self._stream = await asyncio.to_thread(self._start)
        return self._stream

    async def __aiter__(self) -> AsyncIterator[str]:
        stream = await self._open()
        pieces = iter(stream)
        end = object()
        while (piece := await asyncio.to_thread(next, pieces, end)) is not end:
            yield piece  # type: ignore[misc]

    async def final(self) -> Answer:
        """The final Answer (consuming what is left of the stream)."""
        stream = await self._open()
        return await asyncio.to_thread(lambda: stream.answer)

    @property
    def answer(self) -> Answer:
        if self._stream is None or not self._stream.done:
            raise RuntimeError("iterate the stream (or await stream.final()) before reading .answer")
        return self._stream.answer
