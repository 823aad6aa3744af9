"""Parsing publication dates from metadata values (never from file times)."""

from __future__ import annotations

import re
from datetime import date, datetime

_ISO = re.compile(r"^\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")


def parse_date(value: object) -> date | None:
    """Return the calendar date of a metadata value, ``None`` when empty.

    Raises ``ValueError`` for a non-empty value that is not a date, so callers can name the field.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value > 10**11:  # milliseconds
            value = value / 1000
        return datetime.utcfromtimestamp(value).date()
    text = str(value).strip()
    if not text:
        return None
    m = _ISO.match(text)
    if m:
        y, mo, d = (int(g) for g in m.groups())
        try:
            return date(y, mo, d)
        except ValueError as e:
            raise ValueError(f"not a date: {text!r}") from e
    from dateutil import parser as du

    try:
        return du.parse(text, default=datetime(1900, 1, 1)).date()
    except (ValueError, OverflowError):
        pass
    import dateparser

    parsed = dateparser.parse(text, settings={"RETURN_AS_TIMEZONE_AWARE": False})
    if parsed is None:
        raise ValueError(f"not a date: {text!r}")
    return parsed.date()
