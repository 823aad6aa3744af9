"""Conversations: the one rule that turns a message into a standalone question, and where the
turns are kept.

"And before that?", "Who asked for the call?" or "What about Varga and Hale?" only make sense
after the previous turn. ``rewrite`` carries over the names they refer back to and the date of the
previous answer (``qa.temporal.answer_event``), keeps the previous frame for "what about X?", and
lets a new topic start fresh. With an LLM configured, a follow-up also goes to the condense prompt
(prompts/condense.md); the model's rewrite is believed only when it keeps what the rule keeps
(``accept_condensed``). `qa chat`, the Python API, ``qa.langchain``, `/v1/chat/completions` and the
web page (which calls it) all talk through a Conversation, made by ``Assistant.chat``; its turns
live in a JSON session file, a LangChain message history, or memory.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from qa.answer.stream import AnswerStream
from qa.temporal import answer_event, find_time_mentions, question_asks_when
from qa.text import as_question, content_words
from qa.types import Answer

if TYPE_CHECKING:
    from qa.assistant import Assistant


class MessageHistory(Protocol):
    """Where a bot keeps its messages: a LangChain ``BaseChatMessageHistory`` (file, SQL, Redis …)
    or anything with the same three members (LangChain deprecates the class in 1.6.4, not the
    stores built on it)."""

    @property
    def messages(self) -> Sequence[Any]: ...

    def add_messages(self, messages: Sequence[Any]) -> None: ...

    def clear(self) -> None: ...

_CUE = re.compile(r"^\s*(?:(?:and|but|so|also|then|ok(?:ay)?|well|now)\b[\s,]*)+", re.I)
_WHAT_ABOUT = re.compile(r"^\s*(?:(?:and|but|so|ok(?:ay)?)[\s,]+)?(?:what|how)\s+about\s+(?P<x>[^?]+?)\s*[?.!]*\s*$", re.I)
_AND_X = re.compile(r"^\s*and\s+(?P<x>[^?]+?)\s*\?\s*$", re.I)
_PERSONS = re.compile(r"\b(they|them|the two(?: leaders| men| women| sides)?|the pair|both (?:men|women|leaders|sides)|both of them|each other)\b", re.I)
_POSSESSIVE = re.compile(r"\b(their|his)\b", re.I)
_THINGS = re.compile(r"\b(it|its|that|this|those|these|there|then)\b", re.I)
_BEFORE = re.compile(r"\b(before (that|then|this|it)|earlier( than that| one)?|previously|prior to that|the (time|call|meeting|one) before)\b", re.I)
_AFTER = re.compile(r"\b(after (that|then|this|it)|later|since then|the (time|call|meeting|one) after)\b", re.I)
_QWORD = re.compile(r"^\s*(when|what|who|whom|whose|where|why|how|which|did|do|does|is|are|was|were|has|have|had|can|could|will|would|should)\b", re.I)
_OWN_TIME_FREE = re.compile(r"\b(ever|first|last(?!\s*[(?.!]|\s*$)|latest|most recent(ly)?|next|recent(ly)?|now|currently|still)\b", re.I)
_STATE = re.compile(r"^\s*(?:\w+\s+){0,2}?(is|are|does|do|has|have|can|will)\b", re.I)  # a present state, not the event
_SINGULAR = re.compile(r"\b(he|him|she|her|his)\b", re.I)
_TRAILING_THEN = re.compile(r"[\s,]+(then|at (that|the) time)\s*(?=[?.!]*$)", re.I)
_NAMED = r"[A-Z][\w'’.-]*(?:\s+\d[\w.-]*)?"  # a capitalised word, with the number that names it ("Apollo 11")
_NAME_RUN = re.compile(rf"{_NAMED}(?:\s+(?:and|&|of|the|de|van|von)\s+{_NAMED}|\s+{_NAMED})*")
_TIME_WORDS = {m for m in calendar.month_name if m} | {d for d in calendar.day_name}
_NOT_NAMES = _TIME_WORDS | {
    "When", "What", "Who", "Whom", "Whose", "Where", "Why", "How", "Which", "Did", "Do", "Does", "Is", "Are", "Was",
    "Were", "Has", "Have", "Had", "Can", "Could", "Will", "Would", "Should", "And", "But", "So", "Also", "Then", "Now",
    "Ok", "Okay", "Well", "The", "A", "An", "I", "Tell", "Give", "Show", "List", "Please", "Any", "Anything", "Is",
    "About", "In", "On", "At", "Before", "After", "Since", "Last", "This", "That", "It", "They", "He", "She",
    "Reported",  # an answer's dated lead: "Reported Monday 3 March 2025 [1]: …"
}


@dataclass
class Turn:
    question: str
    standalone: str
    answer: str
    answered: bool
    event_date: str | None = None  # ISO first day of the answer's event, for "before that"
    event_label: str | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    frame: str | None = None  # the standalone question without the date it inherited

    @property
    def core(self) -> str:
        return self.frame or self.standalone


def names_in(question: str) -> str:
    """The named things a question is about ("Putin and Netanyahu"): runs of capitalised words,
    without question words, weekdays and months."""
    runs = []
    for m in _NAME_RUN.finditer(question):
        words = m.group(0).split()
        while words and words[0].strip(",.") in _NOT_NAMES:
            words = words[1:]
        while words and (words[-1] in _NOT_NAMES or words[-1] in ("and", "&", "of", "the")):
            words = words[:-1]
        if words and not any(w.strip(",.?") in _TIME_WORDS for w in words):
            runs.append(" ".join(words).rstrip(",.?!"))
    return " and ".join(runs)


def is_follow_up(text: str, history: list[Turn] | None = None) -> bool:
    """Whether ``text`` leans on the conversation (the one rule: see ``rewrite_deterministic``)."""
    return _kind(text, history[-1] if history else None) != "new"


def _kind(text: str, prev: Turn | None) -> str:
    """new | before | after | about (``what about X?``) | refers (leans on the previous turn)."""
    words = text.split()
    if _BEFORE.search(text) and len(words) <= 7:
        return "before"
    if _AFTER.search(text) and len(words) <= 7:
        return "after"
    if _about(text) is not None:
        return "about"
    if names_in(_CUE.sub("", text)):
        return "new"  # a question that names its own subject starts fresh
    if _CUE.match(text) or _PERSONS.search(text) or _SINGULAR.search(text) or _POSSESSIVE.search(text) or _refers_to_thing(text):
        return "refers"
    if prev is not None and set(content_words(text)) & set(content_words(f"{prev.core} {prev.answer}")):
        return "refers"  # "Who asked for the call?" after an answer about a call
    if prev is None and (_CUE.match(text) or _PERSONS.search(text)):
        return "refers"
    return "new"


def _refers_to_thing(text: str) -> bool:
    """An "it"/"its"/"that"… with nothing before it in the question it could stand for ("how long
    did it last?", not "when did the museum reopen its east wing?")."""
    return any(not re.search(r"\b(the|a|an)\s+\w+", text[: m.start()], re.I) for m in _THINGS.finditer(text))


def _about(text: str) -> str | None:
    """X of "what about X?" / "and X?" (not a question of its own, not "and before that?")."""
    m = _WHAT_ABOUT.match(text) or _AND_X.match(text)
    if not m:
        return None
    x = m.group("x").strip(" ,")
    return None if not x or _QWORD.match(x) or _PERSONS.fullmatch(x) or _THINGS.fullmatch(x) else x


def _narrows(x: str, prev: Turn) -> bool:
    """Whether X of "what about X?" is something the previous answer mentions ("what about Syria?")."""
    return set(content_words(x)) <= set(content_words(prev.answer))


def _topic(prev: Turn) -> re.Match[str] | None:
    """The last "about Y" of the previous question, which "what about X?" replaces."""
    return re.search(r"\babout (?!.*\babout\b)(.+?)\s*\?$", prev.core)


def _about_fresh(x: str, prev: Turn) -> bool:
    """Whether "what about X?" starts another story: X is not a time, not a name that could
    replace the previous names, not something the previous answer mentions, and the previous
    question has no "about Y" for it to replace ("what about the storm?" after a call)."""
    return not _is_time(x) and not names_in(x) and not _narrows(x, prev) and not _topic(prev)


def _other_story(text: str, prev: Turn | None) -> bool:
    """Whether the turn ``text`` (after ``prev``) turned to another story ("what about the
    storm?"): a pronoun after it does not reach past it."""
    text = as_question(text)  # a kept turn's message, as typed
    x = _about(text)
    return x is not None and prev is not None and _kind(text, prev) == "about" and _about_fresh(x, prev)


def _is_time(x: str) -> bool:
    """Whether ``x`` is only a time expression ("in June", "last month", "2024")."""
    rest = x
    for m in sorted(find_time_mentions(x, None), key=lambda m: -m.start):
        rest = rest[: m.start] + rest[m.end :]
    rest = re.sub(r"\b(in|on|during|the|of)\b", "", rest, flags=re.I)
    return bool(find_time_mentions(x, None)) and not rest.strip(" ,?.") or bool(re.fullmatch(r"(?:in\s+)?(19|20)\d\d", x.strip()))


def _without_time(question: str) -> str:
    """``question`` without its time expressions (and their preposition)."""
    out = question
    for m in sorted(find_time_mentions(question, None), key=lambda m: -m.start):
        before = re.search(r"\s+(in|on|during|of|at)\s*$", out[: m.start], re.I)
        cut = before.start() if before else m.start
        out = out[:cut] + out[m.end :]
    out = re.sub(r"\b(in|on) (19|20)\d\d\b", "", out)
    return re.sub(r"\s+([?.!,])", r"\1", re.sub(r"\s{2,}", " ", out)).strip()


def _with(question: str, tail: str) -> str:
    """``question`` with ``tail`` added before its question mark."""
    return question.rstrip(" ?.!") + f" {tail}?"


def _on(label: str) -> str:
    """The preposition for an answer's date label: on a day, in a month or year."""
    return "on" if label.split(" ", 1)[0] in calendar.day_name else "in"


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text


def rewrite_deterministic(text: str, history: list[Turn]) -> str:
    """Standalone form of ``text`` after ``history`` (see ``rewrite``)."""
    return rewrite(text, history)[0]


def rewrite(text: str, history: list[Turn]) -> tuple[str, str]:
    """(standalone question, its frame: the same without an inherited date) — the one
    conversation rule, for `qa chat`, the Python API, `/v1` and the web page:

    - "and before that?" / "and after that?": the previous question's frame, before (after) the
      date of the previous answer;
    - "what about X?" / "and X?": the previous frame with X — X replaces the previous names
      ("what about Varga and Hale?"), the previous time ("what about in June?"), or narrows the
      question when the previous answer mentions X ("what about Syria?");
    - a question that refers back (a pronoun, "the call" said before, "and …") and names nothing
      of its own keeps the previous names and, unless it asks when, the date of the previous answer;
    - a question that names its own subject (or shares nothing with the previous turn) starts
      fresh: no name, no date inherited.

    A message is read as ``qa ask`` reads a question (``qa.text.as_question``): how it is spaced
    or ends ("and the storm", "what about in June…") never changes what it asks.
    """
    text = as_question(" ".join(text.split()))
    if not history or not text:
        return text, text
    prev = history[-1]
    kind = _kind(text, prev)
    label = prev.event_label or prev.event_date
    if kind in ("before", "after"):
        core = re.sub(r"\s+(before|after) [^?]*\?$", "?", prev.core)
        if not label:
            return text, text
        return _with(core, f"{kind} {label}"), core
    if kind == "about":
        x = _about(text) or ""
        if _is_time(x):
            x = x if re.match(r"(in|on|during|before|after|since|last|this|next)\b", x, re.I) else f"in {x}"
            out = _with(_without_time(prev.core), x)
            return out, out
        in_answer, topic = _narrows(x, prev), _topic(prev)
        names = names_in(prev.core[: topic.start()] if topic else prev.core)  # not the topic's ("about Syria")
        if _about_fresh(x, prev):  # "what about the storm?" after a call: another story
            return text, text
        thing = re.match(r"(the|a|an)\s", x, re.I) is not None
        if names and not in_answer and not (thing and topic):
            out = prev.core.replace(names, x)  # the same question about someone else: its own date
            return out, out
        frame = prev.core[: topic.start(1)] + x + "?" if topic else _with(prev.core, f"about {x}")
        return _dated(frame, text, label), frame
    body = _sentence(_CUE.sub("", text).strip(" ,")) or text
    if kind == "new":  # "where was Netanyahu then?": then is the previous answer's date
        if label and _TRAILING_THEN.search(body):
            body = _with(_TRAILING_THEN.sub("", body), f"{_on(label)} {label}")
        return body, body
    names, source = _referent(history, singular=bool(_SINGULAR.search(body)) and not _PERSONS.search(body))
    if source is not prev:
        label = source.event_label or source.event_date if source is not None else label
    if names:
        if _SINGULAR.search(body) and " and " not in names:
            body = re.sub(r"\b(his)\b", f"{names}'s", body, count=1, flags=re.I)
            body = re.sub(r"\b(he|him|she|her)\b", names, body, count=1, flags=re.I)
        elif _PERSONS.search(body):
            body = _PERSONS.sub(names, body, count=1)
        elif _POSSESSIVE.search(body):
            body = _POSSESSIVE.sub(f"{names}'s", body, count=1)
        else:
            body = _with(body, f"({names})")
    if not _QWORD.search(body):  # "and the dam?" with no question of its own
        body = _with(prev.core, f"about {_CUE.sub('', text).strip(' ,?')}")
    frame = _sentence(_TRAILING_THEN.sub("", body))
    return _dated(frame, body, label), frame


def _referent(history: list[Turn], *, singular: bool) -> tuple[str, Turn | None]:
    """Who a pronoun refers back to, and the turn that named them: the names of the latest of the
    last three questions that has any (one person for he/she), not reaching past a turn that
    started another story; else, after a "who"/"which" question, the first name its answer gives
    ("they" after "who won the cup?" is the winner); else for he/she a person the previous answer
    names ("Governor Lise Hammar said …")."""
    start = max(0, len(history) - 3)
    for i in range(len(history) - 1, start - 1, -1):
        turn = history[i]
        names = names_in(turn.core)
        if names and (not singular or " and " not in names):
            return names, turn
        if _other_story(turn.question, history[i - 1] if i else None):
            break
    if history and re.match(r"\s*(who|which)\b", history[-1].core, re.I):
        named = names_in(re.sub(r"\[\d+\]", "", history[-1].answer)).split(" and ")[0]
        if named:
            return named, history[-1]
    if singular and history:
        people = [n for n in names_in(history[-1].answer).split(" and ") if len(n.split()) >= 2]
        if people:
            return people[0], history[-1]
    return "", None


def _dated(frame: str, text: str, label: str | None) -> str:
    """``frame`` about the previous answer's date, unless the question has a time of its own,
    asks when (or for the first, last, latest …) or asks about a present state ("who is …")."""
    if (not label or find_time_mentions(frame, None) or _OWN_TIME_FREE.search(frame) or question_asks_when(frame)
            or _STATE.match(frame)):
        return frame
    return _with(frame, f"{_on(label)} {label}")


def accept_condensed(condensed: str | None, deterministic: str, context: str = "") -> bool:
    """Whether an LLM's rewrite may replace the deterministic one: a line that keeps every name
    and date the rule keeps (a small model that drops "Putin and Netanyahu" or the date is not
    believed) and names nothing that is not in ``context`` (the conversation and the question)."""
    if not condensed:
        return False
    low, known = condensed.lower(), context.lower()
    if not all(part.lower() in low for part in names_in(deterministic).split(" and ") if part):
        return False
    said = {(m.first, m.last) if m.resolved else m.text.lower() for m in find_time_mentions(condensed, None)}
    if not all(((m.first, m.last) if m.resolved else m.text.lower()) in said for m in find_time_mentions(deterministic, None)):
        return False  # the same days, in any wording ("8 March 2025" for "Saturday 8 March 2025")
    return not context or all(word.lower() in known for name in names_in(condensed).split(" and ") for word in name.split())


class Conversation:
    """One conversation with an Assistant. Its turns are kept in a LangChain message history
    (``MessageHistory``) when one is given (the bot's own store: file, SQL, Redis …), else
    as a JSON session file under the index when named, else in memory only."""

    def __init__(
        self,
        assistant: Assistant,
        name: str | None = None,
        llm: str | None = None,
        history: MessageHistory | None = None,
    ):
        self.assistant = assistant
        self.name = name
        self.llm = llm
        self.history: list[Turn] = []
        self.store: _Store | None = None
        if history is not None:
            self.store = _MessageStore(history)
        elif name:
            self.store = _JsonSession(session_path(assistant.settings.resolved_index(), name), name)
        if self.store is not None:
            self.store.load(self)

    @property
    def path(self) -> Any:
        """The JSON session file (a named conversation without a message history), else None."""
        return self.store.path if isinstance(self.store, _JsonSession) else None

    def rewrite(self, text: str) -> str:
        """``text`` as a standalone question (the rule: ``rewrite``)."""
        return self._rewrite(text)[0]

    def _rewrite(self, text: str) -> tuple[str, str]:
        """(standalone, frame). With an LLM backend, a follow-up is condensed by the model
        (prompts/condense.md); its rewrite is used when it keeps the names the rule keeps. A
        question the rule reads as a new topic never goes to the model."""
        standalone, frame = rewrite(text, self.history)
        if self.history and is_follow_up(text, self.history):
            history = "\n".join(f"User: {t.standalone}\nAssistant: {t.answer}" for t in self.history[-3:])
            condensed = self.assistant.condense(history, text, llm=self.llm)
            if condensed and accept_condensed(condensed, standalone, f"{history}\n{text}"):
                return condensed, frame
        return standalone, frame

    def ask(self, text: str, *, as_of: date | None = None) -> tuple[str, Answer]:
        """(the standalone question asked, its answer); the turn joins the history."""
        standalone, frame = self._rewrite(text)
        answer = self.assistant.ask(standalone, as_of=as_of, llm=self.llm)
        self._record(text, standalone, answer, frame)
        return standalone, answer

    async def aask(self, text: str, *, as_of: date | None = None) -> tuple[str, Answer]:
        """``ask`` without blocking the event loop (run in a worker thread)."""
        import asyncio

        return await asyncio.to_thread(self.ask, text, as_of=as_of)

    def ask_stream(self, text: str, *, as_of: date | None = None) -> tuple[str, AnswerStream]:
        """As ``ask``, the answer as a stream; the turn joins the history when the answer is complete."""
        standalone, frame = self._rewrite(text)
        stream = self.assistant.ask_stream(standalone, as_of=as_of, llm=self.llm)

        def pieces() -> Iterator[str | Answer]:
            yield from stream
            self._record(text, standalone, stream.answer, frame)
            yield stream.answer

        return standalone, AnswerStream(pieces())

    def replay(self, question: str, answer: Answer | None) -> None:
        """Add an earlier turn known from elsewhere (an API request's messages, a message history
        written by someone else; ``answer`` None when the user spoke twice in a row). Its
        standalone question is the deterministic rewrite, so rebuilding a conversation calls no
        model; only the question being asked is condensed."""
        standalone, frame = rewrite(question, self.history)
        if answer is None:
            self.history.append(Turn(question, standalone, "", True, frame=frame))
        else:
            self.history.append(_turn(question, standalone, replace(answer, question=standalone), frame))

    def _record(self, question: str, standalone: str, answer: Answer, frame: str | None = None) -> None:
        turn = _turn(question, standalone, answer, frame)
        self.history.append(turn)
        if self.store is not None:
            self.store.append(self, turn)

    def reset(self) -> None:
        self.history = []
        if self.store is not None:
            self.store.clear(self)

    def save(self) -> None:
        if isinstance(self.store, _JsonSession):
            self.store.save(self)


def _turn(question: str, standalone: str, answer: Answer, frame: str | None) -> Turn:
    event = answer_event(answer)
    return Turn(
        question, standalone, answer.answer, answer.answered,
        event.first.isoformat() if event else None, event.label if event else None,
        [c.to_dict() for c in answer.citations], frame if frame != standalone else None,
    )


# ---------------------------------------------------------------- where turns are kept


class _Store:
    def load(self, conversation: Conversation) -> None: ...
    def append(self, conversation: Conversation, turn: Turn) -> None: ...
    def clear(self, conversation: Conversation) -> None: ...


class _JsonSession(_Store):
    """``INDEX/sessions/NAME.json``: the whole conversation, rewritten atomically each turn."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name

    def load(self, conversation: Conversation) -> None:
        if self.path.exists():
            conversation.history = [Turn(**t) for t in json.loads(self.path.read_text())["turns"]]

    def append(self, conversation: Conversation, turn: Turn) -> None:
        self.save(conversation)

    def clear(self, conversation: Conversation) -> None:
        self.save(conversation)

    def save(self, conversation: Conversation) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"name": self.name, "turns": [asdict(t) for t in conversation.history]}, indent=1))
        tmp.replace(self.path)


QA_KEY = "qa"  # the AIMessage additional_kwargs entry holding a turn's standalone question, date and sources


class _MessageStore(_Store):
    """A LangChain message history (``MessageHistory``): each turn is a HumanMessage (the user's words) and
    an AIMessage (the answer) whose ``additional_kwargs["qa"]`` keeps the rest of the turn, so the
    store's own serialisation carries it. Messages written by others are read as earlier turns."""

    def __init__(self, history: MessageHistory):
        self.messages = history

    def load(self, conversation: Conversation) -> None:
        pending: str | None = None
        for m in self.messages.messages:
            if m.type == "human":
                if pending is not None:
                    conversation.replay(pending, None)
                pending = _text(m.content)
            elif m.type == "ai" and pending is not None:
                meta = (m.additional_kwargs or {}).get(QA_KEY)
                if isinstance(meta, dict) and "standalone" in meta:
                    conversation.history.append(Turn(
                        pending, str(meta["standalone"]), _text(m.content), bool(meta.get("answered", True)),
                        meta.get("event_date"), meta.get("event_label"), list(meta.get("citations") or []),
                        meta.get("frame"),
                    ))
                else:
                    conversation.replay(pending, Answer("", _text(m.content), True))
                pending = None
        if pending is not None:
            conversation.replay(pending, None)

    def append(self, conversation: Conversation, turn: Turn) -> None:
        from langchain_core.messages import AIMessage, HumanMessage

        meta = {k: v for k, v in asdict(turn).items() if k not in ("question", "answer")}
        self.messages.add_messages([HumanMessage(turn.question), AIMessage(turn.answer, additional_kwargs={QA_KEY: meta})])

    def clear(self, conversation: Conversation) -> None:
        self.messages.clear()


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return str(content)


@dataclass(frozen=True)
class SessionInfo:
    name: str
    turns: int
    last_question: str
    modified: str  # ISO timestamp of the file's last change

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def session_path(index: Path, name: str) -> Path:
    return index / "sessions" / f"{_safe(name)}.json"


def list_sessions(index: Path) -> list[SessionInfo]:
    """The JSON sessions under ``index``, most recently changed first (unreadable files skipped)."""
    from datetime import datetime

    out = []
    for path in (index / "sessions").glob("*.json"):
        try:
            data = json.loads(path.read_text())
            turns = data["turns"]
            name = str(data.get("name") or path.stem)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        when = datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="seconds")
        out.append(SessionInfo(name, len(turns), str(turns[-1]["question"]) if turns else "", when))
    return sorted(out, key=lambda s: s.modified, reverse=True)


def load_session(index: Path, name: str) -> list[Turn] | None:
    """The turns of the JSON session ``name``, or None when there is no such session."""
    path = session_path(index, name)
    if not path.exists():
        return None
    return [Turn(**t) for t in json.loads(path.read_text())["turns"]]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80] or "default"
