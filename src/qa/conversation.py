"""Conversations: history, and follow-ups rewritten into standalone questions.

"And before that?" or "What did they discuss?" only make sense after the previous turn. With an
LLM configured, the condense prompt (prompts/condense.md) rewrites them; without one, a
deterministic rewrite carries over the previous question's names and the date of its answer.
The chat CLI and the HTTP server both use this module.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from qa.temporal import find_time_mentions, format_span
from qa.types import Answer

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


def answer_event(answer: Answer) -> tuple[date | None, str | None]:
    """The date of the event the answer reports: the answerer's own, else its first citation's."""
    event = answer.extra.get("event")
    if event:
        return date.fromisoformat(event["first"]), event["label"]
    if not answer.citations:
        return None, None
    c = answer.citations[0]
    mentions = [m for m in find_time_mentions(c.quote, c.published_at) if m.resolved]
    if not mentions:
        return c.published_at, None
    pick = max(mentions, key=lambda m: m.last)  # type: ignore[arg-type, return-value]
    return pick.first, format_span(pick.first, pick.last, pick.granularity)  # type: ignore[arg-type]


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

    def __init__(self, assistant: Any, name: str | None = None, llm: str | None = None):
        self.assistant = assistant
        self.name = name
        self.llm = llm
        self.history: list[Turn] = []
        if name:
            self.path = assistant.settings.resolved_index() / "sessions" / f"{_safe(name)}.json"
            if self.path.exists():
                self.history = [Turn(**t) for t in json.loads(self.path.read_text())["turns"]]

    def rewrite(self, text: str) -> str:
        generator = self.assistant._generator(self.llm)
        if generator is not None and self.history and is_follow_up(text):
            from qa.prompts import load_prompt

            history = "\n".join(f"User: {t.standalone}\nAssistant: {t.answer}" for t in self.history[-3:])
            prompt = load_prompt("condense", self.assistant.settings.prompts_dir).format(history=history, question=text)
            try:
                out = str(generator.llm.invoke(prompt).content).strip().splitlines()[0].strip()
            except Exception:
                out = ""
            if 5 <= len(out) <= 300:
                return out
        return rewrite_deterministic(text, self.history)

    def ask(self, text: str, *, as_of: date | None = None) -> tuple[str, Answer]:
        standalone = self.rewrite(text)
        answer = self.assistant.ask(standalone, as_of=as_of, llm=self.llm)
        event, label = answer_event(answer)
        self.history.append(
            Turn(text, standalone, answer.answer, answer.answered,
                 event.isoformat() if event else None, label,
                 [c.to_dict() for c in answer.citations])
        )
        self.save()
        return standalone, answer

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
