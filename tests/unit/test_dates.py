from datetime import date, datetime

import pytest

from qa.dates import parse_date


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2023/01/05", date(2023, 1, 5)),
        ("2025-11-15T10:00:00Z", date(2025, 11, 15)),
        ("Nov 15, 2025", date(2025, 11, 15)),
        ("15 November 2025", date(2025, 11, 15)),
        (datetime(2024, 2, 29, 12), date(2024, 2, 29)),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize("bad", ["someday", "2023-02-30", "not a date at all"])
def test_parse_date_rejects(bad):
    with pytest.raises(ValueError):
        parse_date(bad)


# ---------------------------------------------------------------- issue 11, finding 8: strict metadata dates

@pytest.mark.parametrize(
    "value, expected",
    [
        ("2025-03-08", date(2025, 3, 8)),
        ("2025-03-08T23:30:00-05:00", date(2025, 3, 8)),  # the publisher's own calendar day
        ("2025-03-08T10:30:00.123+01:00", date(2025, 3, 8)),
        ("20250308", date(2025, 3, 8)),
        ("Sat, 08 Mar 2025 10:30:00 +0000", date(2025, 3, 8)),  # RFC 2822
        ("March 8, 2025", date(2025, 3, 8)),
        ("8 March 2025", date(2025, 3, 8)),
        ("Mar. 8, 2025 10:30 AM ET", date(2025, 3, 8)),
        ("Saturday, March 8, 2025 - 10:30", date(2025, 3, 8)),
        ("2025/03/08", date(2025, 3, 8)),
        ("25/03/2025", date(2025, 3, 25)),  # unambiguous day-first
        (1741392000, date(2025, 3, 8)),  # epoch seconds
        (1741392000000, date(2025, 3, 8)),  # epoch milliseconds
        ("1741392000", date(2025, 3, 8)),
        (1741392000.5, date(2025, 3, 8)),
    ],
)
def test_parse_date_real_formats(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    "bad",
    ["yesterday", "now", "today", "1e400", "12", "March", "2025", "March 2025", "8 8 8", "03/04/2025",
     "2025-13-45", "2025-03-08garbage", "x" * 10_000, 12, 0, -5, 1e400, float("nan"), True,
     10**400, [2025, 3, 8], {"y": 2025}],
)
def test_parse_date_refuses_what_is_not_a_full_date(bad):
    """Never today, never 1900: a value that does not name a calendar day is not a date."""
    with pytest.raises(ValueError):
        parse_date(bad)


# ---------------------------------------------------------------- issue 11, finding 7: ISO flags

@pytest.mark.parametrize(
    "text, first, last",
    [
        ("2025-03-08", date(2025, 3, 8), date(2025, 3, 8)),
        ("2025-03", date(2025, 3, 1), date(2025, 3, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2025", date(2025, 1, 1), date(2025, 12, 31)),
    ],
)
def test_iso_period(text, first, last):
    from qa.dates import parse_iso_period

    assert parse_iso_period(text) == (first, last)


@pytest.mark.parametrize("bad", ["March", "15", "yesterday", "2025-3-8", "2025/03/08", "2025-02-30",
                                 "2025-13", "20250308", " 2025-03-08", "2025-03-08T10:00", ""])
def test_iso_period_refuses_everything_else(bad):
    from qa.dates import parse_iso_period

    with pytest.raises(ValueError):
        parse_iso_period(bad)
