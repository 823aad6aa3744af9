"""The OpenAI chat-completions protocol over a ``qa.conversation.Conversation``.

A request's ``messages`` are a whole conversation: the earlier user/assistant turns become the
Conversation's history (not persisted) and the last user message is asked of it, so a follow-up
is understood as in `qa chat` — the LLM condense step included when the backend is an LLM.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, Field

from qa.errors import QAError
from qa.server.markdown import markdown_answer, read_answer, sources_markdown
from qa.server.security import internal_error, public_details, public_sources
from qa.types import Answer

if TYPE_CHECKING:
    from qa.conversation import Conversation

MODEL_ID = "qa"


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


def chat_backend_name(model: str) -> str | None:
    """A chat request's ``model`` → backend name: "qa" is the default, "qa:NAME" or NAME a choice."""
    return None if model == MODEL_ID else model.removeprefix(f"{MODEL_ID}:")


def read_messages(messages: list[Message], as_of: date) -> tuple[list[tuple[str, Answer | None]], str]:
    """(the earlier turns as (question, answer) pairs, the question now asked). An assistant
    message is our earlier reply, read back (``read_answer``); a user message followed by another
    has no answer; system and tool messages are not part of the conversation."""
    exchanges: list[tuple[str, Answer | None]] = []
    pending: str | None = None
    for m in messages:
        if m.role == "user":
            if pending is not None:
                exchanges.append((pending, None))
            pending = m.text()
        elif m.role == "assistant" and pending is not None:
            exchanges.append((pending, read_answer(m.text(), as_of)))
            pending = None
    if pending is None:
        raise HTTPException(422, "messages must end with a user message")
    return exchanges, pending


def usage(answer: Answer) -> dict[str, int]:
    u = answer.extra.get("usage") or {}
    p, c = u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def completion(question: str, answer: Answer, cid: str, created: int) -> dict[str, Any]:
    """The whole reply, as one ``chat.completion``."""
    return {
        "id": cid, "object": "chat.completion", "created": created, "model": MODEL_ID,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": markdown_answer(answer.answer) + sources_markdown(answer)}}],
        "usage": usage(answer),
        "citations": public_sources([c.to_dict() for c in answer.citations]),
        "qa": qa_details(question, answer),
    }


def qa_details(question: str, answer: Answer) -> dict[str, Any]:
    """The reply's ``qa`` extension: the question as asked, whether it was answered, the short
    answer (its span inside the quote of citation ``n``) and the public backend details."""
    short = answer.short_answer.to_dict() if answer.short_answer else None
    return {"question": question, "answered": answer.answered, "short_answer": short,
            "short_answer_reason": answer.short_answer_reason, **public_details(answer)}


def completion_events(
    conversation: Conversation, text: str, as_of: date | None, cid: str, created: int
) -> Iterator[str]:
    """The reply as SSE ``chat.completion.chunk`` events. Only verified text is sent (a stream
    cannot take text back): the pieces are exactly the final answer. Always closed with
    finish_reason and [DONE]; an error (a configuration error before anything was generated)
    comes as an ``error`` event."""

    def event(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
        chunk = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    try:
        question, stream = conversation.ask_stream(text, as_of=as_of)
        for piece in stream:
            yield event({"content": markdown_answer(piece)})
        answer = stream.answer
    except Exception as e:  # the status line is sent: the error travels in the stream
        error = ({"message": e.public, "type": type(e).__name__} if isinstance(e, QAError)
                 else internal_error("POST /v1/chat/completions (streamed)", e)["error"])
        yield f"data: {json.dumps({'error': error}, ensure_ascii=False)}\n\n"
        yield event({}, "stop")
        yield "data: [DONE]\n\n"
        return
    tail = sources_markdown(answer)
    if tail:
        yield event({"content": tail})
    yield event({}, "stop", citations=public_sources([c.to_dict() for c in answer.citations]), qa=qa_details(question, answer))
    yield "data: [DONE]\n\n"
