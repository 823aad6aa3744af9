"""Generated answers: an LCEL chain retrieve → number and delimit the passages → prompt (prompts/)
→ chat model → verify sentence by sentence (qa.answer.verify), falling back to the extractive
answer when no sentence holds up.

Only verified sentences are ever shown: a stream yields each sentence once it is complete and
verified, so the streamed text is exactly the final answer. When the model fails:
- before it produced anything, a refused key (401), a forbidden request (403), an unknown model
  (404) or an unreachable endpoint is a configuration error: one line, exit 1 (``QAError``);
- anything else — the per-request timeout (QA_LLM_TIMEOUT), the deadline for the whole answer
  (QA_LLM_DEADLINE), another HTTP error, a stream that breaks off — ends generation: the sentence
  being written is discarded, the verified sentences already shown stand (``llm_error`` says what
  happened), and if there are none the extractive answer is given (``fallback_reason``).
"""

from __future__ import annotations

import html
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.answer.verify import SentenceBuffer, Verified, Verifier, annotate_dates, neutralise_markers
from qa.errors import QAError
from qa.prompts import load_prompt
from qa.settings import LLMSettings, Settings
from qa.types import Answer, Passage

if TYPE_CHECKING:
    from qa.temporal import QuestionTime

_PASSAGE_TAG = re.compile(r"<(\s*/?\s*passage)", re.I)


def neutralise(text: str) -> str:
    """Article text as passage data: it can open or close no passage tag and carries no [n] marker."""
    return neutralise_markers(_PASSAGE_TAG.sub(r"&lt;\1", text))


def _attribute(value: str) -> str:
    return html.escape(neutralise(" ".join(value.split())), quote=True)


def format_passages(passages: list[Passage], template: str) -> str:
    return "\n".join(
        template.format(
            n=i,
            title=_attribute(p.title or "untitled"),
            source=_attribute(p.source or "unknown source"),
            published=p.published_at.isoformat() if p.published_at else "date unknown",
            text=neutralise(annotate_dates(p.text, p.published_at)),
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
    qtime: QuestionTime
    time_note: str = ""  # what the question's time cue asks of the passages, for the prompt


def public_label(backend_label: str) -> str:
    """A backend label as messages show it: a local model file by its name, not its path."""
    kind, _, model = backend_label.partition(":")
    return f"{kind}:{Path(model).name}" if kind == "gguf" and model else backend_label


def _without_credentials(url: str | None) -> str | None:
    """An endpoint URL as messages show it: without a user name and password, or a query, in it."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    try:
        u = urlsplit(url)
    except ValueError:
        return "(an endpoint URL that does not parse)"
    return urlunsplit(u._replace(netloc=u.netloc.rsplit("@", 1)[-1], query="", fragment=""))  # nor a key in its query


def llm_error(e: Exception, backend_label: str, settings: LLMSettings) -> QAError:
    """One clear line for the ways an endpoint fails (its ``public`` form names no more than the
    kind of failure: what the answer itself may say)."""
    import openai

    backend_label = public_label(backend_label)
    where = _without_credentials(settings.llm_base_url) or backend_label
    public = f"LLM {backend_label}: {_public_reason(e)}"
    if isinstance(e, openai.APITimeoutError):
        return QAError(f"LLM {backend_label} at {where} timed out after {settings.llm_timeout:g}s", public=public)
    if isinstance(e, openai.APIConnectionError):
        return QAError(f"LLM endpoint {where} is not reachable ({backend_label}): is the server running?", public=public)
    if isinstance(e, openai.NotFoundError):
        return QAError(f"LLM {backend_label}: model not found at {where}", public=f"LLM {backend_label}: model not found")
    if isinstance(e, openai.AuthenticationError):
        return QAError(f"LLM {backend_label}: the endpoint refused the API key")
    if isinstance(e, openai.APIStatusError):
        return QAError(f"LLM {backend_label} at {where} answered HTTP {e.status_code}: {str(e)[:200]}", public=public)
    return QAError(f"LLM {backend_label} failed: {type(e).__name__}: {str(e)[:200]}", public=public)


LLM_FAILED = "the LLM failed"  # an endpoint's failure of no known kind, in qa's words (what a client may see)


class LLMFailed(Exception):
    """The model failed in a way that ends generation and falls back (not a configuration error).
    ``str()`` is the detail (``fallback_reason``, which may quote the endpoint); ``public`` is
    what the fallback note in the answer says: qa's words only, never the endpoint's."""

    def __init__(self, detail: str, public: str = LLM_FAILED):
        super().__init__(detail)
        self.public = public


def _public_reason(e: BaseException) -> str:
    """The kind of an endpoint's failure, in qa's words."""
    import openai

    if isinstance(e, openai.APITimeoutError):
        return "the LLM timed out"
    if isinstance(e, openai.APIConnectionError):
        return "the LLM was not reachable"
    if isinstance(e, openai.APIStatusError):
        return f"the LLM answered HTTP {e.status_code}"
    return LLM_FAILED


def classify(e: BaseException, received: bool, backend_label: str, settings: LLMSettings) -> BaseException:
    """The exception to raise for ``e``: a configuration error (``QAError``) only before the
    model produced anything, ``LLMFailed`` for the failures that fall back, ``e`` itself if it is
    not an LLM failure at all (a bug). A caller's own chat model object (``llms.is_foreign``) may
    raise anything: its other exceptions fall back too."""
    import httpx
    import openai

    from qa.answer.llms import is_foreign

    config = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError, openai.APIConnectionError)
    if not received and isinstance(e, config) and not isinstance(e, openai.APITimeoutError):
        return llm_error(e, backend_label, settings)
    if isinstance(e, (openai.APIError, httpx.HTTPError, OSError)):
        if received:
            return LLMFailed(f"the LLM {public_label(backend_label)} stream broke off ({type(e).__name__}: {str(e)[:120]})",
                             "the LLM's stream broke off")
        return LLMFailed(str(llm_error(e, backend_label, settings)), _public_reason(e))
    if is_foreign(backend_label) and isinstance(e, Exception):
        return LLMFailed(f"the chat model {backend_label} failed ({type(e).__name__}: {str(e)[:120]})", "the chat model failed")
    return e


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
            "time_note": prep.time_note,
        }

    def answer(self, prep: Prepared) -> Answer:
        *_, final = self._generate(prep, stream=False)
        assert isinstance(final, Answer)
        return final

    def stream(self, prep: Prepared) -> Iterator[str | Answer]:
        """Yield the answer's text as it is verified, then the Answer; the text pieces joined are
        exactly ``Answer.answer`` (verified sentences, or else the fallback answer)."""
        shown = False
        for item in self._generate(prep, stream=True):
            if isinstance(item, Answer):
                if not shown and item.answer:  # the fallback or not-found answer, in one piece
                    yield item.answer
                yield item
                return
            yield (" " if shown else "") + item
            shown = True

    def _generate(self, prep: Prepared, stream: bool) -> Iterator[str | Answer]:
        """Each sentence as it is verified and kept, then the Answer."""
        if not prep.relevant:
            yield self._not_found(prep)
            return
        t0 = time.perf_counter()
        buffer, verifier = SentenceBuffer(), Verifier(prep.relevant)
        parts: list[str] = []
        usage, finished, failure, public = None, False, "", ""
        try:
            for message in self._model_output(prep, stream):
                piece = str(message.content or "")
                usage = getattr(message, "usage_metadata", None) or usage
                finished = finished or bool((getattr(message, "response_metadata", None) or {}).get("finish_reason"))
                parts.append(piece)
                for sentence in buffer.feed(piece):
                    if (kept := verifier.add(sentence)) is not None:
                        yield kept
            if not finished:
                public = "the LLM stopped before finishing its answer"
                failure = f"the LLM {public_label(self.label)} stopped before finishing its answer"
        except LLMFailed as e:
            failure, public = str(e), e.public
        if not failure:  # an interrupted last sentence is never shown
            for sentence in buffer.flush():
                if (kept := verifier.add(sentence)) is not None:
                    yield kept
        yield self.finish(prep, "".join(parts), usage, t0, verifier.result(), failure, public)

    def _model_output(self, prep: Prepared, stream: bool) -> Iterator[Any]:
        """The model's message chunks (or its one message), within QA_LLM_DEADLINE.

        The model runs in a worker thread so that the deadline holds even while no chunk arrives;
        past it the worker is told to stop and drops the connection at its next chunk.
        """
        chain, inputs = self.prompt | self.llm, self._inputs(prep)
        out: queue.Queue[tuple[bool, Any]] = queue.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                if stream:
                    for chunk in chain.stream(inputs):
                        if stop.is_set():
                            return
                        out.put((True, chunk))
                else:
                    out.put((True, chain.invoke(inputs)))
                out.put((False, None))
            except BaseException as e:  # handed to the consumer
                out.put((False, e))

        threading.Thread(target=produce, name="qa-llm", daemon=True).start()
        deadline = time.monotonic() + self.settings.llm_deadline
        received = False
        try:
            while True:
                try:
                    more, item = out.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise LLMFailed(
                        f"the LLM {public_label(self.label)} missed the answer deadline (QA_LLM_DEADLINE={self.settings.llm_deadline:g}s)",
                        "the LLM missed the answer deadline",
                    ) from None
                if not more:
                    if item is None:
                        return
                    raise classify(item, received, self.label, self.settings) from None
                received = True
                yield item
        finally:
            stop.set()

    def finish(
        self, prep: Prepared, raw: str, usage: Any, t0: float, checked: Verified, failure: str = "", public: str = ""
    ) -> Answer:
        """The Answer: the verified sentences, or the extractive answer behind a note that says
        why in qa's words (``public``; the details, ``failure``, go in ``fallback_reason``)."""
        latency = round(1000 * (time.perf_counter() - t0), 1)
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
        if failure:
            extra["llm_error"] = failure
            extra["public_error"] = public or LLM_FAILED  # what a server's client sees (qa.server.security)
        if checked.ok:
            return Answer(prep.question, checked.answer, True, tuple(checked.citations), {**extra, "fallback": False})
        reason = failure or checked.reason
        fallback = prep.extractive()
        shown_reason = extra["public_error"] if failure else checked.reason
        note = f"(The {public_label(self.label)} answer was not used: {shown_reason}. Extractive answer:) "
        return Answer(
            prep.question,
            note + fallback.answer if fallback.answered else fallback.answer,
            fallback.answered,
            fallback.citations,
            {**extra, "fallback": True, "fallback_reason": reason, "public_reason": shown_reason},
        )

    def _not_found(self, prep: Prepared) -> Answer:
        """Nothing to give the model: the extractive answer says so (not found, or nothing from
        the question's window), under this backend's name."""
        found = prep.extractive()
        return replace(found, extra={
            **found.extra, "backend": self.label.split(":", 1)[0],
            "model": self.label.split(":", 1)[1] if ":" in self.label else None,
            "fallback": False, "llm_called": False,
        })
