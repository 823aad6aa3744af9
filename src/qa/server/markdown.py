"""Answers as chat-message markdown, and such a message read back.

Answer words are quoted from articles, so they are literal text: every character markdown or
HTML could read as markup is backslash-escaped; only the ``[n]`` citation markers stay. A reply
ends with a "Sources:" list (``sources_markdown``). ``read_answer`` reads a reply a client sends
back as an earlier turn of a conversation.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from qa.links import safe_url
from qa.text import as_question
from qa.types import Answer, Citation

_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()<>#!|~&")
_CITATION_MARKER = re.compile(r"(\[\d+(?:\s*[,;]\s*\d+)*\])")
# How markdown reads a backslash escape (CommonMark: any ASCII punctuation may be escaped), so a
# client needs no copy of the set escaped here: the web page and the tests apply this same rule.
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_SOURCES = "\n\nSources:"
_SOURCE_LINE = re.compile(r"\[(\d+)\] .*?, (\d{4}-\d{2}-\d{2}|date unknown): “(.*)”(?: <[^<>\s]*>)?")


def _escape_markdown(text: str) -> str:
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)


def markdown_text(text: str) -> str:
    """``text`` as literal markdown (and HTML) text on one line: every character markdown or HTML
    could read as markup is backslash-escaped, so article metadata cannot become links or tags."""
    return _escape_markdown(" ".join(text.split()))


def markdown_answer(text: str) -> str:
    """An answer as chat-message markdown: the words (quoted from articles) are literal text, the
    ``[n]`` citation markers stay as they are — except that a colon right after a marker is escaped,
    since "[1]: URL" would be a link reference definition turning every [1] into a hidden link."""
    parts = _CITATION_MARKER.split(text)
    return "".join(
        part if i % 2 else ("\\" if i and part.startswith(":") else "") + _escape_markdown(part)
        for i, part in enumerate(parts)
    )


def markdown_link(url: str | None) -> str:
    """An autolink for an http(s) URL (qa.links.safe_url), ``""`` for anything else."""
    url = safe_url(url)
    return f"<{url.replace('<', '%3C').replace('>', '%3E')}>" if url else ""


def sources_markdown(answer: Answer) -> str:
    if not answer.citations:
        return ""
    lines = ["", "", "Sources:"]
    for c in answer.citations:
        when = c.published_at.isoformat() if c.published_at else "date unknown"
        link = markdown_link(c.url)
        where = f" {link}" if link else ""
        title, source = markdown_text(c.title or "untitled"), markdown_text(c.source or "unknown source")
        lines.append(f"[{c.n}] {title} — {source}, {when}: “{markdown_text(c.quote)}”{where}")
    return "\n".join(lines)


def unescape_markdown(text: str) -> str:
    """Markdown text as a client displays it (backslash escapes removed)."""
    return _ESCAPED.sub(r"\1", text)


def read_answer(content: str, as_of: date) -> Answer:
    """A reply (``markdown_answer`` + ``sources_markdown``) sent back by a client as an earlier
    turn, read into what is left of its Answer as of ``as_of``: the answer text and, from the
    Sources list, each citation's quote and publication date (the question is the conversation's
    to fill in). A message in any other form (a client's own wording) is an answer text without
    citations."""
    body, _, sources = content.partition(_SOURCES)
    citations = []
    for line in sources.splitlines():
        m = _SOURCE_LINE.fullmatch(line.strip())
        if m:
            citations.append(Citation(int(m[1]), unescape_markdown(m[3]), "", "", "", "", "", _day(m[2]), 0, 0))
    return Answer("", unescape_markdown(body).strip(), True, tuple(citations), {"as_of": as_of.isoformat()})


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:  # "date unknown", or a client's own edit
        return None


def conversation_markdown(name: str, turns: list[Any]) -> str:
    """A kept conversation (``qa.conversation.Turn`` list) as a Markdown document: each question
    (with the standalone question asked, when it was rewritten), the answer and its sources, in
    the same escaped form as a chat reply."""
    lines = [f"# qa chat: {markdown_text(name)}", ""]
    for turn in turns:
        lines += [f"## {markdown_text(turn.question)}", ""]
        if turn.standalone != as_question(turn.question):  # rewritten, not only read as a question
            lines += [f"*Asked as: {markdown_text(turn.standalone)}*", ""]
        citations = tuple(_citation(c) for c in turn.citations)
        answer = Answer(turn.standalone, turn.answer, turn.answered, citations)
        lines += [markdown_answer(turn.answer) + sources_markdown(answer), ""]
    return "\n".join(lines).rstrip() + "\n"


def _citation(d: dict[str, Any]) -> Citation:
    fields = {k: d.get(k) for k in ("n", "quote", "text", "doc_id", "title", "url", "source", "start", "end")}
    return Citation(**{k: v if v is not None else "" for k, v in fields.items()},  # type: ignore[arg-type]
                    published_at=_day(str(d.get("published_at") or "")))
