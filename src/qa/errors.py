"""Exceptions that surfaces turn into one-line messages and exit codes."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

# control characters, line/paragraph separators and lone surrogates (a file name's undecodable
# bytes), plus the bidirectional controls that can reorder what a line shows (other format
# characters, such as the joiners of Persian, stay)
_UNPRINTABLE = {"Cc", "Zl", "Zp", "Cs"}
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: object, keep: str = "") -> str:
    """``text`` on one terminal line: control and invisible characters escaped (``\\n``,
    ``\\x1b``, ``\\u202e``) so a file name or field can never forge a line of output or drive
    the terminal. ``keep`` names characters left as they are (``"\\n\\t"`` for multi-line text)."""
    return "".join(
        _escaped(ch) if (ch in _BIDI or unicodedata.category(ch) in _UNPRINTABLE) and ch not in keep else ch
        for ch in str(text)
    )


def encodable(text: str) -> str:
    """``text`` as UTF-8 can encode it, for a report, an index or JSON: its lone surrogates
    escaped. A file name's bytes that are not UTF-8 reach Python as surrogates (``caf\\udce9``)
    and are shown as the bytes they were (``caf\\xe9``)."""
    if text.isascii():
        return text
    return "".join(_escaped(ch) if unicodedata.category(ch) == "Cs" else ch for ch in text)


def _escaped(ch: str) -> str:
    if "\udc80" <= ch <= "\udcff":  # an undecodable byte, as os.fsdecode keeps it
        return f"\\x{ord(ch) - 0xDC00:02x}"
    return ch.encode("unicode_escape").decode("ascii")


class QAError(Exception):
    """A user-facing error: its message is printed on one line, without a traceback.
    ``public`` is what a client of `qa serve` is told instead, where the message names what only
    the operator may see (the LLM endpoint's URL); by default the message itself."""

    exit_code = 1

    def __init__(self, *args: object, public: str | None = None) -> None:
        super().__init__(*args)
        self.public = public if public is not None else str(self)


class UsageError(QAError):
    exit_code = 2


class RequestError(UsageError):
    """What the caller's own input gets wrong (a question that is empty or not text, a number of
    passages out of range): a usage error in the terminal, a bad request (400) on the server,
    where every other QAError is the server's own problem (503)."""


class IndexMissingError(QAError):
    """The index folder holds no usable generation yet. The message names the folder, which only
    the operator may see: a server's client is told what `/healthz` says."""

    def __init__(self, *args: object, public: str | None = None) -> None:
        super().__init__(*args, public=public if public is not None else NO_INDEX_PUBLIC)


NO_INDEX_PUBLIC = "no index published yet: ingest articles first"


class ModelMismatchError(QAError):
    exit_code = 2


class ModelMissingError(UsageError):
    """The model asked for (embedding model, cross-encoder) is not on this machine, nor to be
    fetched, or is there but cannot be loaded (``problem``): a setting's fault either way, exit 2.
    A server's client is not told its name or path."""

    def __init__(self, message: str, what: str = "embedding model", problem: str = "is not installed") -> None:
        super().__init__(message, public=model_public(what, problem))


def unloadable_model(what: str, location: str, exc: BaseException, hint: str = "") -> ModelMissingError:
    """The one error for a model a setting names (``what``: "cross-encoder (QA_RERANKER)") that
    is there but cannot be loaded (a damaged folder, a download the hub failed): the setting's
    fault as a missing model is, exit 2, one line naming the folder. ``hint`` is added for a
    name that is not a folder."""
    folder = Path(location).expanduser().is_dir()
    return ModelMissingError(
        f"{what} {'folder ' if folder else ''}{location!r} cannot be loaded: {type(exc).__name__}: "
        f"{gist(exc, 300)}" + ("" if folder or not hint else f" ({hint})"),
        what, problem="cannot be loaded",
    )


def model_public(what: str, problem: str) -> str:
    """What a server's client is told of a model a setting names (``what``: "cross-encoder
    (QA_RERANKER)") that is missing or cannot be loaded: which model, never its name or path nor
    the library's words about its folder."""
    return f"the {what.split(' (')[0]} {problem} on the server"


def chroma_public(problem: str) -> str:
    """What a server's client is told of the index's Chroma server failing: that it did, never
    its URL (the operator's address) nor the words of the library that reached it."""
    return f"the index's Chroma server {problem}"


def index_public(problem: str) -> str:
    """What a server's client is told of an index the server cannot use as it is (damaged on
    disk, not matching the server's settings, one writer's rule broken): what is wrong with it,
    never its folder nor the Chroma server it lives on, nor how the operator repairs it (the
    terminal's message says that: `qa index stats` on the server)."""
    return f"the index {problem}"


class ServerAnswerError(QAError):
    """A Chroma server (or a proxy in front of it) answered a request with an error of its own:
    it is there and failed or refused the request, unlike a timeout or a lost connection. Not
    "no such collection", which qa asks about and which stays chromadb's ``NotFoundError``."""


class IndexBusyError(QAError):
    """Another process holds the index's writer lock."""


class InputError(Exception):
    """One input (file or JSONL line) could not be used. ``failed`` distinguishes a broken input
    (counts as failed) from one that is merely not an article (empty, unknown type: skipped)."""

    def __init__(self, path: str, message: str, *, line: int | None = None, failed: bool = True):
        super().__init__(encodable(message))
        self.path = encodable(path)  # as it can be shown and written as JSON
        self.line = line
        self.failed = failed

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "error": str(self)}

    def one_line(self) -> str:
        kind = "failed" if self.failed else "skipped"
        return f"{kind}: {_where(self.path, self.line)}: {printable(self)}"


@dataclass(frozen=True)
class InputWarning:
    """An input that was used, with something dropped or changed on the way (an unreadable date,
    a non-http(s) url, a truncated title)."""

    path: str
    line: int | None
    warning: str

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "warning": self.warning}

    def one_line(self) -> str:
        return f"warning: {_where(self.path, self.line)}: {printable(self.warning)}"


def gist(e: BaseException, limit: int = 200) -> str:
    """What a one-line error quotes of another: its first line, cut at ``limit`` characters, or
    its type's name when it has no text."""
    lines = str(e).splitlines()
    return lines[0][:limit] if lines else type(e).__name__


def _where(path: str, line: int | None) -> str:
    return printable(f"{path}:{line}" if line is not None else path)
