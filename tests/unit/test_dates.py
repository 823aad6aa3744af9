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
