"""Conversations: history, and follow-ups rewritten into standalone questions.

"And before that?" or "What did they discuss?" only make sense after the previous turn. With an
LLM configured, the condense prompt (prompts/condense.md) rewrites them; without one, a
deterministic rewrite carries over the previous question's names and the date of its answer
(``qa.temporal.answer_event``). `qa chat`, the HTTP `/v1/chat/completions` and the web page (which
calls it) all talk through a Conversation, made by ``Assistant.chat``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from qa.answer.stream import AnswerStream
from qa.temporal import answer_event, find_time_mentions
from qa.types import Answer

if TYPE_CHECKING:
    from qa.assistant import Assistant

_FOLLOW_START = re.compile(r"^\s*(and|but|so|also|then|what about|how about|and what|what else|ok(ay)?,?)\b", re.I)
_PRONOUN = re.compile(r"\b(they|them|their|theirs|he|him|his|she|her|hers|it|its|those|these|the two|both)\b", re.I)
_BEFORE = re.compile(r"\b(before (that|then|this)|earlier( than that)?|previously|prior to that|the (time|call|meeting) before)\b", re.I)
_AFTER = re.compile(r"\b(after (that|then|this)|later|since then|next)\b", re.I)
_QWORD = re.compile(r"^\s*(when|what|who|whom|whose|where|why|how|which|did|do|does|is|are|was|were|has|have|can|will)\b", re.I)
_NAME_RUN = re.compile(r"[A-Z][\w'’.-]*(?:\s+(?:and|&|of|the|de|van|von)\s+[A-Z][\w'’.-]*|\s+[A-Z][\w'’.-]*)*")
_TIME_WORDS = {m for m in __import__("calendar").month_name if m} | {d for d in __import__("calendar").day_name}
_NOT_NAMES = _TIME_WORDS | {"When", "What", "Who", "Whom", "Where", "Why", "How", "Which", "Did", "Do", "Does", "Is",
              "Are", "Was", "Were", "Has", "Have", "Can", "Will", "And", "But", "So", "The", "A", "An", "I"}


@dataclass
class Turn:
    question: str
    standalone: str
    answer: str
    answered: bool
    event_date: str | None = None  # ISO first day of the answer's event, for "before that"
    event_label: str | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)


def names_in(question: str) -> str:
    """The named things a question is about ("Putin and Netanyahu")."""
    runs = []
    for m in _NAME_RUN.finditer(question):
        words = m.group(0).split()
        while words and words[0] in _NOT_NAMES:
            words = words[1:]
        while words and (words[-1] in _NOT_NAMES or words[-1] in ("and", "&", "of", "the")):
            words = words[:-1]
        if words and not any(w in _TIME_WORDS for w in words):
            runs.append(" ".join(words))
    return " and ".join(runs)


def is_follow_up(text: str) -> bool:
    words = text.split()
    if _FOLLOW_START.search(text) or _BEFORE.search(text) and len(words) <= 6:
        return True
    return bool(_PRONOUN.search(text)) and not names_in(text)


def rewrite_deterministic(text: str, history: list[Turn]) -> str:
    """Standalone form of a follow-up, from the previous turn's question and answer date."""
    if not history or not is_follow_up(text):
        return text
    prev = history[-1]
    base = prev.standalone
    base_core = re.sub(r"\s+(before|after) [^?]*\?$", "?", base)
    when = prev.event_label or prev.event_date
    if _BEFORE.search(text) and prev.event_date:
        return base_core.rstrip("?").rstrip() + f" before {when}?"
    if _AFTER.search(text) and prev.event_date and len(text.split()) <= 6:
        return base_core.rstrip("?").rstrip() + f" after {when}?"
    names = names_in(base_core)
    out = text.strip()
    out = _FOLLOW_START.sub("", out).strip(" ,") or out
    if names:
        out = _PRONOUN.sub(names, out, count=1)
    if not _QWORD.search(out):  # "and Netanyahu?" → the previous question about the new subject
        return base
    if when and not find_time_mentions(out, None):
        prep = "on" if when.split(" ", 1)[0] in _TIME_WORDS or when[:1].isdigit() and "-" in when else "in"
        out = out.rstrip("?").rstrip() + f" {prep} {when}?"
    return out[:1].upper() + out[1:]


class Conversation:
    """One conversation with an Assistant; optionally persisted as JSON under the index."""

    def __init__(self, assistant: Assistant, name: str | None = None, llm: str | None = None):
        self.assistant = assistant
        self.name = name
        self.llm = llm
        self.history: list[Turn] = []
        if name:
            self.path = assistant.settings.resolved_index() / "sessions" / f"{_safe(name)}.json"
            if self.path.exists():
                self.history = [Turn(**t) for t in json.loads(self.path.read_text())["turns"]]

    def rewrite(self, text: str) -> str:
        """``text`` as a standalone question: the LLM's condensed form when the backend is an LLM
        and it gives one, else the deterministic rewrite."""
        if self.history and is_follow_up(text):
            history = "\n".join(f"User: {t.standalone}\nAssistant: {t.answer}" for t in self.history[-3:])
            condensed = self.assistant.condense(history, text, llm=self.llm)
            if condensed:
                return condensed
        return rewrite_deterministic(text, self.history)

    def ask(self, text: str, *, as_of: date | None = None) -> tuple[str, Answer]:
        """(the standalone question asked, its answer); the turn joins the history."""
        standalone = self.rewrite(text)
        answer = self.assistant.ask(standalone, as_of=as_of, llm=self.llm)
        self._record(text, standalone, answer)
        return standalone, answer

    def ask_stream(self, text: str, *, as_of: date | None = None) -> tuple[str, AnswerStream]:
        """As ``ask``, the answer as a stream; the turn joins the history when the answer is complete."""
        standalone = self.rewrite(text)
        stream = self.assistant.ask_stream(standalone, as_of=as_of, llm=self.llm)

        def pieces() -> Iterator[str | Answer]:
            yield from stream
            self._record(text, standalone, stream.answer)
            yield stream.answer

        return standalone, AnswerStream(pieces())

    def replay(self, question: str, answer: Answer | None) -> None:
        """Add an earlier turn known from elsewhere (an API request's messages; ``answer`` None
        when the user spoke twice in a row). Its standalone question is the deterministic rewrite,
        so rebuilding a conversation calls no model; only the question being asked is condensed."""
        standalone = rewrite_deterministic(question, self.history)
        if answer is None:
            self.history.append(Turn(question, standalone, "", True))
        else:
            self._record(question, standalone, replace(answer, question=standalone))

    def _record(self, question: str, standalone: str, answer: Answer) -> None:
        event = answer_event(answer)
        self.history.append(
            Turn(question, standalone, answer.answer, answer.answered,
                 event.first.isoformat() if event else None, event.label if event else None,
                 [c.to_dict() for c in answer.citations])
        )
        self.save()

    def reset(self) -> None:
        self.history = []
        self.save()

    def save(self) -> None:
        if not self.name:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"name": self.name, "turns": [asdict(t) for t in self.history]}, indent=1))
        tmp.replace(self.path)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80] or "default"
