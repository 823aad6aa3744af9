"""An answer as it is produced: iterate for its text, then read ``.answer``.

The one decoder of the answerers' internal protocol (text pieces, then the verified Answer last),
in the manner of simonw/llm's ``Response``: every surface (``qa ask --stream``, SSE, the web page,
the Python API) iterates text and reads the final answer from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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
