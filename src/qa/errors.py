"""Exceptions that surfaces turn into one-line messages and exit codes."""

from __future__ import annotations


class QAError(Exception):
    """A user-facing error: its message is printed on one line, without a traceback."""

    exit_code = 1


class UsageError(QAError):
    exit_code = 2


class IndexMissingError(QAError):
    """The index folder holds no usable generation yet."""


class ModelMismatchError(QAError):
    exit_code = 2


class IndexBusyError(QAError):
    """Another process holds the index's writer lock."""


class InputError(Exception):
    """One input (file or JSONL line) could not be used. ``failed`` distinguishes a broken input
    (counts as failed) from one that is merely not an article (empty, unknown type: skipped)."""

    def __init__(self, path: str, message: str, *, line: int | None = None, failed: bool = True):
        super().__init__(message)
        self.path = path
        self.line = line
        self.failed = failed

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "error": str(self)}

    def one_line(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        kind = "failed" if self.failed else "skipped"
        return f"{kind}: {where}: {self}"
