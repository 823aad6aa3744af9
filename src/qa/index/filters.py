"""Which chunks a search may return: the one statement of the filter rule.

Each engine translates it into its own terms: Chroma's ``where`` (chroma.chroma_where), the numpy
mask of the exact search (DenseIndex.mask), the tantivy range query (LexicalIndex.search).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from qa.errors import RequestError
from qa.index.records import UNDATED


class EmptyRangeError(RequestError, ValueError):
    """A range a caller gave that holds no day: a RequestError for qa's surfaces (the CLI's exit 2,
    the server's 400) and a ValueError for pydantic's validators (the server's 422 body,
    QARetriever's ValidationError), so every surface reports the one error."""


def check_range(since: date | None, until: date | None, *, names: tuple[str, str] = ("since", "until"),
                context: str = "") -> None:
    """The one check of a range a caller gave, for every surface (``names``: how it calls the ends,
    ``context``: what it prefixes): ``since`` after ``until`` holds no day, and is refused, never
    searched as an empty range. A window qa narrows itself may be empty."""
    if since is not None and until is not None and since > until:
        raise EmptyRangeError(f"{context}{names[0]} {since.isoformat()} is after {names[1]} {until.isoformat()}: "
                              "no day is in that range")


@dataclass(frozen=True)
class SearchFilters:
    since: date | None = None
    until: date | None = None
    source: str | None = None
    as_of: date | None = None  # nothing published after this day exists yet (undated articles do)

    @property
    def dated_only(self) -> bool:
        """A since/until range asks for dated articles only; as-of alone keeps undated ones."""
        return self.since is not None or self.until is not None

    @property
    def first_day(self) -> int | None:
        """The earliest published day let through (set only with ``dated_only``)."""
        return self.since.toordinal() if self.since else None

    @property
    def last_day(self) -> int | None:
        """The latest published day let through: the end of the range or the as-of day."""
        days = [d.toordinal() for d in (self.until, self.as_of) if d]
        return min(days) if days else None

    def admits(self, day: int, source: str) -> bool:
        """Whether a chunk published on ``day`` (an ordinal, or UNDATED) by ``source`` passes."""
        if self.source is not None and source != self.source:
            return False
        if day == UNDATED:
            return not self.dated_only
        first, last = self.first_day, self.last_day
        return (first is None or day >= first) and (last is None or day <= last)
