"""Parsing dates strictly: publication dates from metadata values (never from file times, never
"today" for a word like "yesterday", never year 1900 for a bare number) and ISO dates from flags."""

from __future__ import annotations

import calendar
import re
import warnings
from datetime import date, datetime, timezone

MAX_DATE_CHARS = 100  # no real date is longer; longer strings are not parsed at all
# epoch timestamps are accepted only when they fall in this window (seconds since 1970)
EPOCH_FIRST, EPOCH_END = 315_532_800, 4_102_444_800  # 1980-01-01 .. 2100-01-01 (exclusive)
# a publication date outside these years is a typo or a placeholder (0001-01-01, 9999-12-31)
FIRST_YEAR, LAST_YEAR = 1800, 2199

_ISO_PERIOD = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_SEPARATED = re.compile(r"(\d{4})[/.](\d{1,2})[/.](\d{1,2})")  # 2025/03/08, 2025.03.08
_NUMERIC_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")  # 08/03/2025 or 03/08/2025
_EPOCH = re.compile(r"\d{9,10}(?:\.\d+)?|\d{12,13}")
_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)")


def parse_date(value: object) -> date | None:
    """The calendar date a metadata value names (years 1800 to 2199); ``None`` when it is empty.

    Accepts ISO 8601 dates and datetimes (the day as written, whatever the offset), RFC 2822,
    common news formats ("March 8, 2025", "8 March 2025", "Mar. 8, 2025 10:30 AM ET",
    "2025/03/08") and epoch seconds or milliseconds between 1980 and 2100. Raises ``ValueError``
    for anything else (relative words, bare numbers, a missing year, month or day, ambiguous
    numeric day/month, a year outside 1800–2199), so callers can report the field and keep the
    article undated.
    """
    found = _parse(value)
    if found is not None and not FIRST_YEAR <= found.year <= LAST_YEAR:
        raise ValueError(f"not a plausible publication date: {found.isoformat()} (years {FIRST_YEAR}–{LAST_YEAR})")
    return found


def _parse(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, (int, float)):
        return _from_epoch(value)
    if not isinstance(value, str):
        raise ValueError(f"not a date: a {type(value).__name__}")
    text = value.strip()
    if not text:
        return None
    if len(text) > MAX_DATE_CHARS:
        raise ValueError(f"not a date: {len(text):,} characters")
    for parse in (_iso, _separated, _epoch_text, _rfc2822, _written):
        found = parse(text)
        if found is not None:
            return found
    raise ValueError(f"not a date: {text!r}")


def parse_iso_period(text: str) -> tuple[date, date]:
    """First and last day of ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY`` (exactly these forms)."""
    m = _ISO_PERIOD.fullmatch(text)
    if not m:
        raise ValueError(f"not an ISO date: {text!r}")
    y, mo, d = (int(g) if g else None for g in m.groups())
    try:
        if d is not None:
            day = date(y, mo, d)  # type: ignore[arg-type]
            return day, day
        if mo is not None:
            return date(y, mo, 1), date(y, mo, calendar.monthrange(y, mo)[1])  # type: ignore[arg-type]
        return date(y, 1, 1), date(y, 12, 31)  # type: ignore[arg-type]
    except (ValueError, calendar.IllegalMonthError) as e:
        raise ValueError(f"not an ISO date: {text!r}") from e


def _from_epoch(number: int | float) -> date:
    seconds = number / 1000 if EPOCH_END <= number < EPOCH_END * 1000 else number  # NaN, ±inf fall through
    if not EPOCH_FIRST <= seconds < EPOCH_END:
        raise ValueError(f"not a date: {_short(number)} (epoch seconds or milliseconds between 1980 and 2100)")
    return datetime.fromtimestamp(seconds, tz=timezone.utc).date()


def _short(number: int | float) -> str:
    text = repr(number)
    return text if len(text) <= 30 else f"{text[:20]}… ({len(text):,} digits)"


def _iso(text: str) -> date | None:
    if not text[:1].isdigit():
        return None
    try:
        return datetime.fromisoformat(text.replace("z", "Z")).date()
    except ValueError:
        return None


def _separated(text: str) -> date | None:
    m = _SEPARATED.fullmatch(text)
    if not m:
        return None
    try:
        return date(*(int(g) for g in m.groups()))
    except ValueError:
        raise ValueError(f"not a date: {text!r}") from None


def _epoch_text(text: str) -> date | None:
    return _from_epoch(float(text)) if _EPOCH.fullmatch(text) else None


def _rfc2822(text: str) -> date | None:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(text).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _written(text: str) -> date | None:
    """Dates written out ("March 8, 2025"): dateutil, parsed twice with different defaults so a
    missing year, month or day shows as a difference instead of being filled in."""
    from dateutil import parser as du

    m = _NUMERIC_DMY.fullmatch(text)
    if m and int(m[1]) <= 12 and int(m[2]) <= 12 and m[1] != m[2]:
        raise ValueError(f"not a date: {text!r} (day and month are ambiguous)")
    if not _YEAR.search(text):  # "8 8 8", "3/8/25": a two-digit year is a guess
        return None
    parsed = []
    for default in (datetime(2000, 1, 1), datetime(2001, 2, 2)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # unknown zone names ("ET") do not change the day
                parsed.append(du.parse(text, default=default).date())
        except (ValueError, OverflowError, TypeError):
            return None
    return parsed[0] if parsed[0] == parsed[1] else None
