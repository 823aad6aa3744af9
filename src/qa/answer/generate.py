"""Generated answers: an LCEL chain retrieve → number the passages → prompt (prompts/) → chat
model → parse [n] markers → verify, falling back to the extractive answer when the model's
answer does not hold up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from qa.answer.extractive import NOT_FOUND
from qa.answer.verify import verify
from qa.errors import QAError
from qa.prompts import load_prompt
from qa.settings import Settings
from qa.temporal import find_time_mentions
from qa.types import Answer, Passage


def annotate_dates(text: str, published: date | None) -> str:
    """Passage text with each resolved relative date followed by its absolute date."""
    out, pos = [], 0
    for m in find_time_mentions(text, published):
        if m.resolved and not any(ch.isdigit() for ch in m.text):
            out.append(text[pos : m.end])
            out.append(f" ({m.label()})")
            pos = m.end
    out.append(text[pos:])
    return "".join(out)


def format_passages(passages: list[Passage], template: str) -> str:
    return "\n".join(
        template.format(
            n=i,
            title=p.title or "untitled",
            source=p.source or "unknown source",
            published=p.published_at.isoformat() if p.published_at else "date unknown",
            text=annotate_dates(p.text, p.published_at),
        )
        for i, p in enumerate(passages, 1)
    )


@dataclass
class Prepared:
    question: str
    as_of: date
    passages: list[Passage]
    relevant: list[Passage]
    extractive: Callable[[], Answer]


def llm_error(e: Exception, backend_label: str, settings: Settings) -> QAError:
    """One clear line for the ways an endpoint fails."""
    import openai

    where = settings.llm_base_url or backend_label
    if isinstance(e, openai.APITimeoutError):
        return QAError(f"LLM {backend_label} at {where} timed out after {settings.llm_timeout:g}s")
    if isinstance(e, openai.APIConnectionError):
        return QAError(f"LLM endpoint {where} is not reachable ({backend_label}): is the server running?")
    if isinstance(e, openai.NotFoundError):
        return QAError(f"LLM {backend_label}: model not found at {where}")
    if isinstance(e, openai.AuthenticationError):
        return QAError(f"LLM {backend_label}: the endpoint refused the API key")
    if isinstance(e, openai.APIStatusError):
        return QAError(f"LLM {backend_label} at {where} answered HTTP {e.status_code}: {str(e)[:200]}")
    return QAError(f"LLM {backend_label} failed: {type(e).__name__}: {str(e)[:200]}")


class Generator:
    """Wraps one chat model; ``answer`` and ``stream`` share the prompt and the verification."""

    def __init__(self, llm: Any, backend_label: str, settings: Settings):
        from langchain_core.prompts import ChatPromptTemplate

        self.llm = llm
        self.label = backend_label
        self.settings = settings
        self.passage_template = load_prompt("passage", settings.prompts_dir)
        self.prompt = ChatPromptTemplate.from_messages(
            [
                ("system", load_prompt("system", settings.prompts_dir)),
                ("human", load_prompt("answer", settings.prompts_dir)),
            ]
        )

    def chain(self, retrieve: Callable[[dict[str, Any]], Prepared]) -> Any:
        """The whole LCEL pipeline, for `invoke` ({"question", "as_of"} → Answer)."""
        from langchain_core.runnables import RunnableLambda

        return RunnableLambda(retrieve) | RunnableLambda(self.answer)

    def _inputs(self, prep: Prepared) -> dict[str, Any]:
        return {
            "question": prep.question,
            "as_of": prep.as_of.isoformat(),
            "passages": format_passages(prep.relevant, self.passage_template),
        }

    def answer(self, prep: Prepared) -> Answer:
        if not prep.relevant:
            return self._not_found(prep)
        t0 = time.perf_counter()
        try:
            message = (self.prompt | self.llm).invoke(self._inputs(prep))
        except Exception as e:
            raise llm_error(e, self.label, self.settings) from None
        return self.finish(prep, str(message.content), getattr(message, "usage_metadata", None), t0)

    def stream(self, prep: Prepared) -> Iterator[str | Answer]:
        """Yield text pieces as the model writes them, then the verified Answer."""
        if not prep.relevant:
            yield self._not_found(prep)
            return
        t0 = time.perf_counter()
        parts: list[str] = []
        usage = None
        try:
            for chunk in (self.prompt | self.llm).stream(self._inputs(prep)):
                piece = str(chunk.content or "")
                if getattr(chunk, "usage_metadata", None):
                    usage = chunk.usage_metadata
                if piece:
                    parts.append(piece)
                    yield piece
        except Exception as e:
            raise llm_error(e, self.label, self.settings) from None
        yield self.finish(prep, "".join(parts), usage, t0)

    def finish(self, prep: Prepared, raw: str, usage: Any, t0: float) -> Answer:
        latency = round(1000 * (time.perf_counter() - t0), 1)
        checked = verify(raw, prep.relevant, drop_unmarked=self.settings.drop_unmarked_sentences)
        extra: dict[str, Any] = {
            "as_of": prep.as_of.isoformat(),
            "backend": self.label.split(":", 1)[0],
            "model": self.label.split(":", 1)[1] if ":" in self.label else None,
            "raw_answer": raw,
            "verification": checked.report(),
            "latency_ms": latency,
            "usage": {
                "prompt_tokens": (usage or {}).get("input_tokens"),
                "completion_tokens": (usage or {}).get("output_tokens"),
            },
        }
        if checked.ok:
            return Answer(prep.question, checked.answer, True, tuple(checked.citations), {**extra, "fallback": False})
        fallback = prep.extractive()
        note = f"(The {self.label} answer was not used: {checked.reason}. Extractive answer:) "
        return Answer(
            prep.question,
            note + fallback.answer if fallback.answered else fallback.answer,
            fallback.answered,
            fallback.citations,
            {**extra, "fallback": True, "fallback_reason": checked.reason},
        )

    def _not_found(self, prep: Prepared) -> Answer:
        return Answer(
            prep.question, NOT_FOUND, False, (),
            {"as_of": prep.as_of.isoformat(), "backend": self.label.split(":", 1)[0],
             "model": self.label.split(":", 1)[1] if ":" in self.label else None,
             "fallback": False, "llm_called": False},
        )
