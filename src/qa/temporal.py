"""Time in news: relative expressions resolved against a publication date, and the time intent of
a question ("this week", "last", "when") resolved against an as-of date.

News prose is past-tense reporting: a bare weekday ("on Saturday") is the latest such day on or
before the publication date, a bare month ("in August") the latest such month; "next", and
"will", "could", "may", "likely to" … earlier in the clause, point forward ("could cut again in
June" is the next June). A question may also mean the next one, when it begins within a month.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from qa.types import UNDATED

if TYPE_CHECKING:
    from qa.types import Answer

MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
MONTHS["sept"] = 9
WEEKDAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}

_MONTH = r"(?P<month>january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
_WEEKDAY = r"(?P<weekday>monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_UNIT = r"(?P<unit>day|week|month|year)s?"
# "July 4, 1776", "Monday, March 15, 1820": a day with an old year is claimed (so "Monday" is not
# read as last Monday) but never dated (not last year's July 4)
_OLD_YEAR = r"(?P<old>1[0-8]\d\d)"
_NUM_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
              "seven": 7, "eight": 8, "nine": 9, "ten": 10, "several": 3, "a few": 3, "few": 3}

# Ordered: longer, more specific forms first. Each is matched case-insensitively on word bounds.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<mon>[01]\d)-(?P<day>[0-3]\d)\b")),
    ("weekday_date", re.compile(rf"\b{_WEEKDAY},?\s+(?:{_MONTH}\s+{_DAY}|(?P<day2>[0-3]?\d)(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month2>january|february|march|april|may|june|july|august|september|october|november|december))(?:,?\s+(?:{_YEAR}|{_OLD_YEAR}))?\b", re.I)),
    ("month_day", re.compile(rf"\b{_MONTH}\s+{_DAY}(?:,?\s+(?:{_YEAR}|{_OLD_YEAR}))?\b(?!\s*(?:%|percent|million|billion|people))", re.I)),
    ("day_month", re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+(?:{_YEAR}|{_OLD_YEAR}))?\b", re.I)),
    ("month_year", re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b", re.I)),
    ("ago", re.compile(rf"\b(?P<num>\d+|a few|an?|one|two|three|four|five|six|seven|eight|nine|ten|several|few)\s+{_UNIT}\s+ago\b", re.I)),
    ("rel_unit", re.compile(rf"\b(?P<which>last|this|next|past|previous|coming|earlier this|later this|early this|late last|earlier last)\s+{_UNIT}\b", re.I)),
    ("rel_weekday", re.compile(rf"\b(?P<which>last|this|next|this past|this coming|past|on|early|late)?\s*{_WEEKDAY}(?:\s+(?:morning|afternoon|evening|night))?\b", re.I)),
    ("rel_month", re.compile(rf"\b(?P<which>in|since|until|by|before|after|during|last|this|next|early|late|mid-|mid|from|through|of)\s*{_MONTH}\b(?!\s+[0-3]?\d\b)(?!\.?,?\s+(?:of\s+)?(?:1[0-8]|19|20)\d\d\b)", re.I)),
    ("day_word", re.compile(r"\b(?P<word>today|tonight|yesterday|tomorrow|this morning|this afternoon|this evening|last night)\b", re.I)),
    ("year", re.compile(rf"\b(?P<prep>in|since|by|until|during|from|of|early|late|mid-|throughout|before|after)\s+{_YEAR}\b(?!-)", re.I)),
]

_RELATIVE_KINDS = frozenset({"ago", "rel_unit", "rel_weekday", "rel_month", "day_word"})
# a modal points forward unless it looks back ("could have cut"); "may" only lower-case (not the month)
_FUTURE_CUE = re.compile(
    r"\b((?:will|would|shall|could|might|should|(?-i:may))(?!\s+(?:not\s+)?have\b)|is to|are to|set to|scheduled|"
    r"plans? to|planning to|expected to|likely to|due to|upcoming|going to)\b",
    re.I,
)
# "the strongest since Storm Gorm in November 2023": the date of what a comparison counts from
_SINCE_NAMED = re.compile(r"\b[Ss]ince\s+(?:the\s+)?(?:[A-Z][\w'’-]*\s+){1,4}(?:in|of|on)?\s*$")
_CLAUSE_END = re.compile(r"[.;\n]")
_REPORTED = re.compile(
    r"\b(said|told|announced|added|wrote|reported|stated|confirmed|noted|claimed|revealed|explained)\b", re.I
)


class _FutureCues:
    """Whether a future cue ("will", "is to", "scheduled") comes earlier in the same clause as a
    position, with no reporting verb after it: a date after it points forward ("prices will rise
    on Monday"), unless it dates the report ("prices would rise, the minister said on Monday").
    Positions are found once, so a text dense with dates costs O(n log n), not a scan back to the
    clause start per date."""

    def __init__(self, text: str):
        self.breaks = [m.start() for m in _CLAUSE_END.finditer(text)]
        cues = [m.span() for m in _FUTURE_CUE.finditer(text)]
        self.starts = [a for a, _ in cues]
        self.ends = [b for _, b in cues]
        self.reported = [m.end() for m in _REPORTED.finditer(text)]

    def before(self, pos: int) -> bool:
        i = bisect_left(self.breaks, pos)
        clause_start = self.breaks[i - 1] + 1 if i else 0
        j = bisect_right(self.ends, pos) - 1  # the last cue ending before pos
        if j < 0 or self.starts[j] < clause_start:
            return False
        r = bisect_right(self.reported, pos) - 1  # the last reporting verb ending before pos
        return r < 0 or self.reported[r] <= self.starts[j]


@dataclass(frozen=True)
class TimeMention:
    """A time expression at ``text[start:end]`` and the dates it covers (inclusive)."""

    start: int
    end: int
    text: str
    first: date | None
    last: date | None
    granularity: str  # day | week | month | year
    absolute: bool = False  # the text names its year ("in 2021", "March 3, 2021"), not "2 years ago"
    relative: bool = False  # counted from the anchor ("3 days ago", "last week", "on Friday"), not a calendar date
    since: bool = False  # dates what a comparison counts from: "the worst since Storm Gorm in November 2023"
    kind: str = ""  # the pattern that found it ("day_word": "yesterday"; "rel_unit": "last week"; …)

    @property
    def resolved(self) -> bool:
        return self.first is not None

    @property
    def is_bound(self) -> bool:
        """"before October", "since 2020", "since Storm Gorm in November 2023": a limit, not the
        date of an event."""
        return self.since or self.text.split(" ", 1)[0].lower() in ("before", "after", "since", "until", "by", "through", "from")

    def label(self) -> str:
        """Absolute form for answers: 'Saturday 15 November 2025', 'October 2025', '2024'."""
        if self.first is None or self.last is None:
            return self.text
        return format_span(self.first, self.last, self.granularity)


def format_day(d: date) -> str:
    return f"{calendar.day_name[d.weekday()]} {d.day} {calendar.month_name[d.month]} {d.year}"


def _span_to(anchor: date, unit: str) -> date:
    """The first day of the week, month or year that ends on ``anchor`` ("the past year" asked on
    13 November 2025 begins on 14 November 2024)."""
    if unit == "week":
        return _plus(anchor, -6)
    if unit == "month":
        y, mo = shift_month(anchor, -1)
    else:
        y, mo = anchor.year - 1, anchor.month
    return _plus(date(y, mo, min(anchor.day, calendar.monthrange(y, mo)[1])), 1)


def format_span(first: date, last: date, granularity: str) -> str:
    if granularity == "day" or first == last:
        return format_day(first)
    if granularity == "month" and first.day == 1:
        return f"{calendar.month_name[first.month]} {first.year}"
    if granularity == "year" and (first.month, first.day) == (1, 1):
        return str(first.year)
    year = f" {first.year}" if first.year != last.year else ""  # "30 December 2024 – Sunday 5 January 2025"
    return f"{first.day} {calendar.month_name[first.month]}{year} – {format_day(last)}"


_POSSESSIVE = re.compile(r"(?:['’]s\b)?")


def with_absolute_dates(text: str, mentions: list[TimeMention], skip: TimeMention | None = None) -> str:
    """``text`` with each resolved date counted from the anchor ("3 days ago", "last week", "on
    Friday") followed by its absolute form in parentheses; ``mentions`` are
    ``find_time_mentions`` of ``text``, ``skip`` one left as written. A calendar date is left as
    written even without its year: "the September 11 attacks", "Friday, March 3" or "March 3-5"
    would be misdated by the anchor's year. The one rule for what the reader quotes and what an
    LLM is shown of a passage."""
    out, pos = [], 0
    for m in mentions:
        if m is skip or not m.resolved or not m.relative or m.label().lower() == m.text.lower():
            continue
        end = m.end + len(_POSSESSIVE.match(text, m.end)[0])  # type: ignore[index]  # "last year's" stays one word
        out.append(text[pos:end])
        out.append(f" ({m.label()})")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def month_range(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def shift_month(d: date, n: int) -> tuple[int, int]:
    m = d.month - 1 + n
    return d.year + m // 12, m % 12 + 1


def week_range(d: date) -> tuple[date, date]:
    """The Monday to Sunday week of ``d`` (the last week of 9999 held at the calendar's end)."""
    start = d - timedelta(days=d.weekday())
    return start, _plus(start, 6)


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _closest_year(anchor: date, month: int, day: int | None, future: bool, question: bool = False) -> int:
    """Year for a month (and day) named without one: the latest on/before the anchor, or the
    next on/after it when the sentence points forward; in a question, also the next one when it
    begins within QUESTION_AHEAD_DAYS ("the Super Bowl on February 12" asked on 2 February)."""
    probe = (month, day or 1)
    if future:
        year = anchor.year if probe >= (anchor.month, anchor.day if day else 1) else anchor.year + 1
        return _year_holding(min(year, date.max.year), month, day, 1)
    limit = (anchor.month, anchor.day if day else 31)
    year = anchor.year if probe <= limit else anchor.year - 1
    if question:
        ahead = _year_holding(anchor.year if probe > limit else anchor.year + 1, month, day, 1)
        start = _safe_date(ahead, month, day or 1) if ahead <= date.max.year else None
        if start is not None and 0 < (start - anchor).days <= QUESTION_AHEAD_DAYS:
            return ahead
    return _year_holding(max(year, date.min.year), month, day, -1)


def _year_holding(year: int, month: int, day: int | None, step: int) -> int:
    """``year``, or the nearest year in ``step``'s direction that has the day (29 February: the
    nearest leap year); ``year`` when none within 8 years does (30 February)."""
    for y in range(year, year + 8 * step, step):
        if _safe_date(y, month, day or 1) is not None:
            return y
    return year


WEEKDAY_YEARS = 6
"""How far "Friday, March 3" written without a year is looked for from the nearest March 3: the
first year, going back (forward when the sentence points forward), in which it is a Friday."""


def _year_of_weekday(year: int, month: int, day: int, weekday: int, step: int) -> int:
    """``year`` or the nearest year in ``step``'s direction in which the day falls on ``weekday``
    (within WEEKDAY_YEARS); ``year`` when none does (the text contradicts itself)."""
    for y in range(year, year + step * (WEEKDAY_YEARS + 1), step):
        d = _safe_date(y, month, day)  # None beyond the calendar's years
        if d is not None and d.weekday() == weekday:
            return y
    return year


QUESTION_AHEAD_DAYS = 31
"""A question's "February 12" or "in February" is the next one when it begins within this many
days ("which teams meet on February 12?" asked on 2 February), else the last one ("who won the
election on November 5?" asked in May): questions ask about news, mostly past."""


def _resolve(
    kind: str, m: re.Match[str], anchor: date | None, future: bool, question: bool = False
) -> tuple[date | None, date | None, str]:
    g = {k: v for k, v in m.groupdict().items() if v is not None}
    if kind == "iso":
        d = _safe_date(int(g["year"]), int(g["mon"]), int(g["day"]))
        return d, d, "day"
    if kind in ("weekday_date", "month_day", "day_month"):
        if "old" in g:
            return None, None, "day"
        month = MONTHS[(g.get("month") or g.get("month2") or "").lower().rstrip(".")]
        day = int(g.get("day") or g.get("day2") or 0)
        if day < 1 or day > 31:
            return None, None, "day"
        if "year" in g:
            y = int(g["year"])
        elif anchor is None:
            return None, None, "day"
        else:
            y = _closest_year(anchor, month, day, future, question)
            if "weekday" in g:
                y = _year_of_weekday(y, month, day, WEEKDAYS[g["weekday"].lower()], 1 if future else -1)
        d = _safe_date(y, month, day)
        return d, d, "day"
    if kind == "month_year":
        a, b = month_range(int(g["year"]), MONTHS[g["month"].lower().rstrip(".")])
        return a, b, "month"
    if kind == "year":
        y = int(g["year"])
        return date(y, 1, 1), date(y, 12, 31), "year"
    if anchor is None:
        gran = {"rel_weekday": "day", "day_word": "day", "rel_month": "month"}.get(kind, "day")
        if kind in ("rel_unit", "ago"):
            gran = g["unit"].lower()
        return None, None, gran
    if kind == "day_word":
        w = g["word"].lower()
        off = {"yesterday": -1, "last night": -1, "tomorrow": 1}.get(w, 0)
        d = anchor + timedelta(days=off)
        return d, d, "day"
    if kind == "rel_weekday":
        wd = WEEKDAYS[g["weekday"].lower()]
        which = (g.get("which") or "").lower()
        back = (anchor.weekday() - wd) % 7
        if which in ("next", "this coming") or (future and which not in ("last", "this past", "past")):
            fwd = (wd - anchor.weekday()) % 7
            d = anchor + timedelta(days=fwd or (7 if which == "next" else 0))
        elif which in ("last", "this past", "past"):
            d = anchor - timedelta(days=back or 7)
        else:
            d = anchor - timedelta(days=back)
        return d, d, "day"
    if kind == "rel_month":
        month = MONTHS[g["month"].lower().rstrip(".")]
        which = g["which"].lower()
        if which == "next":
            y = anchor.year if month > anchor.month else anchor.year + 1
        elif which == "last":
            y = anchor.year if month < anchor.month else anchor.year - 1
        elif which == "this":
            y = anchor.year
        else:
            y = _closest_year(anchor, month, None, future, question)
        a, b = month_range(y, month)
        return a, b, "month"
    if kind == "ago":
        raw = g["num"].lower()
        n = int(raw) if raw.isdigit() else _NUM_WORDS.get(raw, 1)
        unit = g["unit"].lower()
        if unit == "day":
            d = anchor - timedelta(days=n)
            return d, d, "day"
        if unit == "week":
            return week_range(anchor - timedelta(weeks=n)) + ("week",)
        if unit == "month":
            y, mo = shift_month(anchor, -n)
            return month_range(y, mo) + ("month",)
        y = anchor.year - n
        return date(y, 1, 1), date(y, 12, 31), "year"
    if kind == "rel_unit":
        which = g["which"].lower()
        unit = g["unit"].lower()
        step = {"last": -1, "past": -1, "previous": -1, "late last": -1, "earlier last": -1,
                "next": 1, "coming": 1}.get(which, 0)
        if unit == "day":
            d = anchor + timedelta(days=step)
            return d, d, "day"
        if which == "past":  # "the past week / month / year": the span up to the anchor
            return _span_to(anchor, unit), anchor, unit
        if unit == "week":
            a, b = week_range(anchor + timedelta(weeks=step))
        elif unit == "month":
            y, mo = shift_month(anchor, step)
            a, b = month_range(y, mo)
        else:
            y = anchor.year + step
            a, b = date(y, 1, 1), date(y, 12, 31)
        if which in ("earlier this", "early this"):
            b = min(b, anchor)
        elif which == "later this":
            a = max(a, anchor)
        return a, b, unit
    return None, None, "day"


SINCE_CHARS = 60  # how far back "since <a name> in" is looked for before a date


def find_time_mentions(text: str, anchor: date | None, *, question: bool = False) -> list[TimeMention]:
    """Every time expression in ``text`` with the dates it refers to, given the anchor date
    (publication date of the article, or as-of date of a question). Unresolvable ones (no anchor)
    come back with ``first is None``. In an article a bare "February 12" is the latest one (news
    reports the past); in a ``question`` it may also be the next one (``QUESTION_AHEAD_DAYS``).
    Likewise for a bare month ("in August")."""
    taken = bytearray(len(text))  # 1 where an earlier pattern already took the character
    cues = _FutureCues(text)
    out: list[TimeMention] = []
    for kind, pat in _PATTERNS:
        for m in pat.finditer(text):
            s, e = m.span()
            while s < e and text[s].isspace():
                s += 1
            if taken.find(1, s, e) != -1:
                continue
            if kind == "rel_weekday" and not m.group("weekday"):
                continue
            if kind == "rel_month" and g_may_verb(m):
                continue
            if kind == "day_word" and _in_a_name(text, s, m.group("word")):
                continue
            if kind == "rel_unit" and m.group("which").lower() == "last" and _ordinal_part(text, s, e):
                continue
            if kind in _RECURRING_KINDS and _EVERY_BEFORE.search(text, max(0, s - 8), s):
                continue  # "every 16 January", "each Tuesday": a custom, no one day
            try:
                first, last, gran = _resolve(kind, m, anchor, cues.before(s), question)
            except (OverflowError, ValueError):  # beyond the calendar (year 0, 10000): unresolved
                first, last, gran = None, None, "day"
            taken[s:e] = b"\x01" * (e - s)
            since = _SINCE_NAMED.search(text, max(0, s - SINCE_CHARS), s) is not None
            out.append(TimeMention(s, e, text[s:e], first, last, gran, bool(m.groupdict().get("year")),
                                   kind in _RELATIVE_KINDS, since, kind))
    out.sort(key=lambda t: t.start)
    return out


_SENTENCE_OPENERS = frozenset(".!?:;\n\"“‘'([")


def _in_a_name(text: str, start: int, word: str) -> bool:
    """A capitalised day word inside a sentence is part of a name ("USA TODAY", "The Tonight
    Show", the song "Yesterday"), not a time: only lower case, or capitalised where a sentence
    begins, is one (in a text without lower case, any)."""
    if word.islower() or not any(ch.islower() for ch in text):
        return False
    i = start - 1
    while i >= 0 and text[i].isspace():  # the last character before it (no copy of an article's prefix)
        i -= 1
    return i >= 0 and text[i] not in _SENTENCE_OPENERS


_RECURRING_KINDS = frozenset({"month_day", "day_month", "rel_weekday"})
_EVERY_BEFORE = re.compile(r"\b(?:every|each)\s+$", re.I)
_THE_BEFORE = re.compile(r"\bthe\s+$", re.I)
_OF_AFTER = re.compile(r"\s+of\b", re.I)


def _ordinal_part(text: str, start: int, end: int) -> bool:
    """"the last day of the carnival", "the last week of the season": the end of something named
    after it, not a period counted from today ("the past week of talks" still is one)."""
    return _THE_BEFORE.search(text, max(0, start - 8), start) is not None and _OF_AFTER.match(text, end) is not None


def g_may_verb(m: re.Match[str]) -> bool:
    """"may" is a month only with a preposition that fits a month ("in May", "last May")."""
    return m.group("month").lower() == "may" and m.group("which").lower() not in (
        "in", "since", "until", "by", "last", "this", "next", "early", "late", "mid", "mid-", "during", "of",
    )


# ---------------------------------------------------------------- questions

_WHEN = re.compile(r"^\s*(when\b|what (date|day|time|year|month)\b|on what (date|day)\b|how long ago\b)|\bwhen (did|was|were|is|will|do|does|has|have)\b", re.I)
_RECENCY = re.compile(
    r"\b(latest|most recent(ly)?|newest|recent(ly)?|current(ly)?|last(?!\s+(week|month|year|night|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|"
    r"june|july|august|september|october|november|december|spring|summer|fall|autumn|winter|time|"
    r"one|two|three|\d)))\b",
    re.I,
)
_EARLIER = re.compile(r"\b(before that|earlier|previous(ly)?|prior|first time)\b", re.I)


RECENT_DAYS = 14
"""A "this week"-type cue ("this week", "recently", "on Tuesday") asks for news published in the 14
days up to the question's date: a weekly quiz's "this week" is often asked days later. A cue that
names its own period counted from that date ("yesterday", "today", "last week") does not
(``names_its_period``)."""
REPORT_LAG_DAYS = {"day": 7, "week": 7, "month": 31, "year": 92}
"""How long after an older period ends it is still reported on: a day or week for a week, a month
("in October": October's figures come out in November) for a month, a year ("in 2022": its
annual statistics come out in the new year) for a quarter."""

BACKGROUND_DAYS = 365
"""A period a question names that ended longer ago than this is background ("a bridge opened in
2001", "stepped away in 2018 but retired this week"), not the news it asks about: such a window
holds nothing in a news index, and qa would reply that nothing from then was indexed."""

_RECENT_CUE = re.compile(r"\b(recent(ly)?|newly|just|this past week|in recent (days|weeks))\b", re.I)


@dataclass(frozen=True)
class Window:
    """The period a question's explicit time cue asks about ("this week", "in October", "this
    year"), and which evidence counts: published from ``published_from`` to ``published_to``, or
    reporting an event inside ``[first, last]``. ``label`` says it for the user: "in the two weeks to
    Thursday 5 January 2023", "in October 2022"."""

    first: date
    last: date
    published_from: date
    published_to: date
    label: str

    def holds_day(self, published: date | None) -> bool:
        return published is not None and self.published_from <= published <= self.published_to

    def overlaps(self, first: date, last: date) -> bool:
        return first <= self.last and last >= self.first

    def admits(self, published: date | None, events: list[tuple[date, date]]) -> bool:
        """Whether a passage or sentence published on ``published`` that reports ``events`` (the
        days of its event mentions, ``event_mentions``) is evidence from this window: it reports an
        event inside the window; or it was published inside the window and does not report only
        events that ended before it (this week's article about last year's parade is not news of
        this week's parade) nor, published after the period it asks about, only later events."""
        if any(self.overlaps(a, b) for a, b in events):
            return published is None or published >= self.first
        if events and all(b < self.first for _, b in events):
            return False
        if events and published is not None and published > self.last and all(a > self.last for a, _ in events):
            return False  # a later report about later events only (November's news, for "in October")
        return self.holds_day(published)

    def admits_sentence(self, published: date | None, mentions: list[TimeMention]) -> bool:
        """``admits`` for one sentence, from all its time mentions: a sentence that names a year
        inside the window ("the birth rate fell 4 percent in 2022, the agency said on Monday",
        for "in 2022") reports on that period, whatever else it dates, even though a bare year is
        background elsewhere."""
        names_year = any(m.granularity == "year" and m.first and m.last and not m.is_bound
                         and self.first <= m.first and m.last <= self.last for m in mentions)
        if names_year and (published is None or published >= self.first):
            return True
        return self.admits(published, event_mentions(mentions))

    def admits_chunk(self, published: date | None, events: tuple[date, date] | None) -> bool:
        """``admits`` for a whole chunk, whose stored event days are one coarse range over every
        date it names (background years included), so only its inclusion rule applies; the
        answer step judges each sentence with ``admits``."""
        if events is not None and self.overlaps(*events):
            return published is None or published >= self.first
        return self.holds_day(published)


def dates_event(m: TimeMention) -> bool:
    """Whether a mention dates an event the text reports: resolved, not a bound ("since May"),
    and not a bare year of background ("founded in 2010") — a relative year ("last year") or
    anything finer counts."""
    return bool(m.first and m.last and not m.is_bound and (m.granularity != "year" or not m.absolute))


def most_precise(mentions: list[TimeMention]) -> list[TimeMention]:
    """``mentions`` without those that only widen another's days ("this year" beside "on
    Thursday", "in March" beside "6 March"): a sentence's date is the most precise it states of
    each period. A coarse date of another period ("began in 2023 … opened on Thursday") stays."""
    ranges = sorted({(m.first, m.last) for m in mentions if m.first and m.last}, key=lambda r: (-r[0].toordinal(), r[1]))
    widening, narrowest = set(), date.max  # the earliest end of the ranges starting on or after this one's start
    for first, last in ranges:  # latest start first; of one start, the shortest first
        if narrowest <= last:
            widening.add((first, last))
        narrowest = min(narrowest, last)
    return [m for m in mentions if (m.first, m.last) not in widening]


def event_mentions(mentions: list[TimeMention]) -> list[tuple[date, date]]:
    """The days of the mentions that date an event (``dates_event``)."""
    return [(m.first, m.last) for m in mentions if dates_event(m) and m.first and m.last]


@dataclass(frozen=True)
class QuestionTime:
    """What a question asks of time, as of ``as_of``: a window ("this week"), a bound ("before
    15 November 2025"), recency ("last", "latest"), or when something happened."""

    as_of: date
    asks_when: bool
    recency: bool
    window: tuple[date, date] | None
    mentions: tuple[TimeMention, ...] = ()
    before: date | None = None  # events strictly before this day
    after: date | None = None  # events strictly after this day
    evidence: Window | None = None  # the one rule for which evidence an explicit cue admits


def question_asks_when(question: str) -> bool:
    """Whether the question asks when something happened ("when did …", "on what day …")."""
    return bool(_WHEN.search(question))


_BOUND = re.compile(r"\b(before|prior to|earlier than|after|since|later than)\s*$", re.I)


def question_time(question: str, as_of: date) -> QuestionTime:
    mentions = tuple(m for m in find_time_mentions(question, as_of, question=True) if m.resolved)
    window_mentions: list[TimeMention] = []
    before = after = None
    for m in mentions:
        bound = _BOUND.search(question, 0, m.start)
        word = bound.group(1).lower() if bound else ""
        if m.text.lower().startswith("before "):
            word = "before"
        if word in ("before", "prior to", "earlier than"):
            before = m.first
        elif word in ("after", "since", "later than"):
            after = m.last
        else:
            window_mentions.append(m)
    window = None
    if window_mentions:
        window = (min(m.first for m in window_mentions), max(m.last for m in window_mentions))  # type: ignore[type-var]
    recency = bool(_RECENCY.search(question)) or bool(before and _EARLIER.search(question))
    return QuestionTime(
        as_of=as_of,
        asks_when=question_asks_when(question),
        recency=recency or before is not None,
        window=window,
        mentions=mentions,
        before=before,
        after=after,
        evidence=evidence_window(question, window_mentions, as_of),
    )


def _plus(d: date, days: int) -> date:
    """``d`` moved by ``days``, held at the calendar's ends (as of year 1 or 9999)."""
    try:
        return d + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def _background(m: TimeMention, horizon: date) -> bool:
    """An absolute date or period ("in 2001", "January 6, 2021") that ended before ``horizon``;
    a relative one ("2 years ago", "last year") is always asked about."""
    return bool(m.absolute and m.last and m.last < horizon)


def names_its_period(m: TimeMention, as_of: date) -> bool:
    """Whether a question's cue names one period counted from its day, as of ``as_of``:
    "yesterday", "today", "last night", "last week", "this month", "last year" — but not this
    week ("this week", "the past week", "earlier this week"), which is a "this week"-type cue."""
    if m.kind == "day_word":
        return True
    return m.kind == "rel_unit" and not (m.granularity == "week" and m.last is not None and m.last >= week_range(as_of)[0])


def _window_label(m: TimeMention, as_of: date) -> str:
    """"yesterday (Wednesday 12 November 2025)", "last month (October 2025)"; "on Monday 3 March
    2025", "in October 2025"."""
    if names_its_period(m, as_of):
        return f"{m.text.lower()} ({m.label()})"
    return ("on " if m.granularity == "day" or m.first == m.last else "in ") + m.label()


def evidence_window(question: str, mentions: list[TimeMention], as_of: date) -> Window | None:
    """The window a question's explicit cue restricts its evidence to, as of ``as_of``:
    - a recent day or week ("this week", "on Tuesday", "3 March" asked on 10 March) or
      "recently": the RECENT_DAYS up to ``as_of``;
    - a period the cue names from ``as_of`` ("yesterday", "today", "last week", "last month",
      ``names_its_period``), a month or year ("in October", "this year", "in 2024"), or an older
      day or week ("on 3 March 2025"): that period, and reports published up to REPORT_LAG_DAYS
      (by its longest granularity) after it, never after ``as_of``.
    None without a cue; bounds ("before May") are not windows, and nor is a period that ended
    over BACKGROUND_DAYS before ``as_of`` ("introduced in 2000", "in 2018 … this week")."""
    recent_from = _plus(as_of, -(RECENT_DAYS - 1))
    recent = f"in the two weeks to {format_day(as_of)}"
    horizon = _plus(as_of, -BACKGROUND_DAYS)
    dated = [m for m in mentions if m.first and m.last and m.first <= as_of and not _background(m, horizon)]
    if not dated:
        cue = _RECENT_CUE.search(question)
        return Window(recent_from, as_of, recent_from, as_of, recent) if cue else None
    first = min(m.first for m in dated if m.first)
    last = min(max(m.last for m in dated if m.last), as_of)
    vague = all(m.granularity in ("day", "week") and not names_its_period(m, as_of) for m in dated)
    if vague and last >= recent_from:
        return Window(min(first, recent_from), as_of, min(first, recent_from), as_of, recent)
    label = " and ".join(_window_label(m, as_of) for m in dated)
    lag = max(REPORT_LAG_DAYS[m.granularity] for m in dated)
    return Window(first, last, first, min(as_of, _plus(last, lag)), label)


def event_days(text: str, published: date | None) -> tuple[int, int, str]:
    """(first day, last day, "start..end;…") of the resolved dates a chunk mentions, as ordinals
    (UNDATED when none), for storing with the chunk. Dates after publication are kept:
    announced events are events too."""
    spans = [(m.first, m.last) for m in find_time_mentions(text, published) if m.first and m.last and not m.is_bound]
    if not spans:
        return UNDATED, UNDATED, ""
    first = min(a for a, _ in spans)
    last = max(b for _, b in spans)
    text_spans = ";".join(a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}" for a, b in spans)
    return first.toordinal(), last.toordinal(), text_spans[:500]


# ---------------------------------------------------------------- answers

_CITATION_MARKER = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class AnswerEvent:
    """The event an answer is about, for follow-ups ("and before that?")."""

    first: date
    last: date
    label: str

    def to_dict(self) -> dict[str, str]:
        return {"first": self.first.isoformat(), "last": self.last.isoformat(), "label": self.label}


def answer_event(answer: Answer, qtime: QuestionTime | None = None) -> AnswerEvent | None:
    """The one rule for the date an answer is about: the event its lead sentence reports.

    The lead sentence is the answer's first citation's quote, its relative dates resolved against
    that article's publication date. An answer without citations — an earlier turn of an API
    conversation whose text carries no sources list — leads with its own text up to its first
    ``[n]`` marker, with no publication date, so only the absolute dates it states count (the
    extractive answerer writes one after every relative date). Of the lead's event dates (not
    bounds such as "since May"; the most precise of each period, ``most_precise``): only those
    before the question's "before" bound; the latest if the question asks for the latest, else
    the first; with none, the article's publication date.
    ``qtime`` is the question's time intent (by default ``answer.question`` as of
    ``answer.extra["as_of"]``, else today)."""
    if qtime is None:
        as_of = answer.extra.get("as_of")
        qtime = question_time(answer.question, date.fromisoformat(as_of) if as_of else date.today())
    if answer.citations:
        lead, published = answer.citations[0].quote, answer.citations[0].published_at
    else:
        marker = _CITATION_MARKER.search(answer.answer)
        lead, published = answer.answer[: marker.start() if marker else None], None
    mentions = most_precise([m for m in find_time_mentions(lead, published) if m.resolved and not m.is_bound])
    if qtime.before:
        mentions = [m for m in mentions if m.last and m.last < qtime.before]
    if not mentions:
        return AnswerEvent(published, published, format_day(published)) if published else None
    m = max(mentions, key=lambda m: m.last) if qtime.recency else mentions[0]  # type: ignore[arg-type, return-value]
    return AnswerEvent(m.first, m.last, m.label())  # type: ignore[arg-type]
