"""Property tests for the loaders (issue 11, Proof): whatever the files hold — random bytes, JSON,
JSONL records, YAML front matter, HTML, hostile file names — `read_articles` never raises, a
known-good article next to them is always read, every report line stays one line, metadata stays
bounded, and bomb-like input stays within a memory bound.

By default a fixed seed and a bounded number of examples (~20 s); ``QA_LOADER_EXAMPLES=1000``
runs more, with a random seed.
"""

from __future__ import annotations

import json
import os
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from qa.ingest.loaders import AUTHOR_CHARS, MAX_AUTHORS, SOURCE_CHARS, TITLE_CHARS
from qa.ingest import IngestReport, read_articles
from qa.settings import Settings

EXAMPLES = int(os.environ.get("QA_LOADER_EXAMPLES", "0"))
PROPS = settings(
    max_examples=EXAMPLES or 60,
    derandomize=not EXAMPLES,  # a fixed seed unless more examples were asked for
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
GOOD_TEXT = "The ferry to the islands resumed service on Monday after the storm passed."
GOOD_LINE = json.dumps({"id": "known-good", "text": GOOD_TEXT, "date": "2025-03-08"})
SETTINGS = Settings(index=Path(tempfile.gettempdir()) / "qa-loader-props-unused")

# ---------------------------------------------------------------- strategies

FIELDS = ["id", "url", "title", "text", "body", "content", "published_at", "date", "publish_date",
          "source", "authors", "author"]
DATEISH = st.sampled_from(["2025-03-08", "yesterday", "now", "12", "1e400", "March", "2025-13-45",
                           "Mar. 8, 2025 10:30 AM ET", "Sat, 08 Mar 2025 10:30:00 +0000", "1741392000",
                           "0", "-1", "9" * 400, "2025-03-08T25:99:00Z", "\x00", "03/04/2025"])
scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40) | DATEISH)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), inner, max_size=4),
                           max_leaves=12)
records = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8)
urls = st.sampled_from(["https://a.example/x", "javascript:alert(1)", "ftp://f.example/", "x" * 3000,
                        "http://[::1", "/etc/passwd", ""])
texts = st.text(min_size=1, max_size=200)
# records that look like articles more often than pure noise does
articleish = st.fixed_dictionaries(
    {"text": texts},
    optional={"id": json_values, "url": urls, "title": st.text(max_size=2000), "date": DATEISH | json_values,
              "authors": json_values, "source": st.text(max_size=300)},
)
file_names = st.text(
    alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1, max_size=30
).filter(lambda n: n not in (".", "..") and not n.startswith("."))
extensions = st.sampled_from([".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".ndjson", ".bin", ""])
YAML_TOKENS = ["title: ", "date: ", "url: ", "id: ", "authors: ", "&a ", "*a ", "<<: ", "!!python/object:os.system ",
               "[", "]", "{", "}", "- ", ": ", "\n", "  ", "'", '"', "2025-03-08", "2025-13-45", "yesterday",
               "9" * 5000, "~", "!!binary ", "? ", "|\n  ", "#", "---", "...", "%YAML 1.1\n"]
yaml_text = st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=10), max_size=40).map("".join)
HTML_TOKENS = ["<html>", "<head>", "<title>", "</title>", "<meta name=\"date\" content=\"", "\">",
               "<meta property=\"article:published_time\" content=\"", "<body>", "<article>", "<p>", "</p>",
               "<script>", "</script>", "<div>" * 50, "</div>", "<!DOCTYPE x [<!ENTITY a \"aaaa\">]>", "&a;",
               "<a href=\"javascript:x\">", "</a>", "<link rel=\"canonical\" href=\"", GOOD_TEXT, "yesterday"]
html_text = st.lists(st.sampled_from(HTML_TOKENS) | st.text(max_size=30), max_size=60).map("".join)


def _jsonl(lines: list[object]) -> str:
    out = []
    for item in lines:
        try:
            out.append(item if isinstance(item, str) else json.dumps(item))
        except (ValueError, TypeError):
            out.append(str(item))
    return "\n".join(out).replace("\r", " ") + "\n"


# ---------------------------------------------------------------- the run


def _run(files: dict[str, bytes], jsonl_tail: str | None = None) -> tuple[list, IngestReport, Path]:
    """Write ``files`` (plus a known-good article) to a fresh folder and read it like `qa ingest`."""
    tmp = Path(tempfile.mkdtemp(prefix="qa-props-"))
    for name, data in files.items():
        try:
            (tmp / name).write_bytes(data)
        except OSError:  # a name the file system refuses (too long in bytes)
            pass
    (tmp / "zz-known-good.txt").write_text(GOOD_TEXT + "\n")
    report = IngestReport()
    articles = list(read_articles([str(tmp)], SETTINGS, report))
    return articles, report, tmp


def _check(articles: list, report: IngestReport, tmp: Path) -> None:
    assert any(a.path.endswith("zz-known-good.txt") and GOOD_TEXT in a.text for a in articles), report.errors
    for a in articles:
        assert len(a.title) <= TITLE_CHARS and len(a.source) <= SOURCE_CHARS
        assert len(a.authors) <= MAX_AUTHORS and all(len(x) <= AUTHOR_CHARS for x in a.authors)
        assert a.published_at is None or 1980 <= a.published_at.year <= 9999
        assert not a.url or a.url.startswith(("http://", "https://"))
    for problem in [*report.errors, *report.warnings]:
        line = problem.one_line()
        assert "\n" not in line and "\r" not in line, line
    json.dumps(report.to_dict())  # the --json report is always serializable
    _remove(tmp)


def _remove(tmp: Path) -> None:
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


@PROPS
@given(st.dictionaries(st.tuples(file_names, extensions).map("".join), st.binary(max_size=3000), max_size=4))
def test_random_bytes_never_stop_the_run(files):
    _check(*_run(files))


@PROPS
@given(st.lists(json_values | records | articleish, max_size=4), st.booleans())
def test_random_json_files(values, as_list):
    files = {f"r{i}.json": json.dumps(v, allow_nan=True).encode() for i, v in enumerate(values)}
    if as_list:
        files["all.json"] = json.dumps(values).encode()
    _check(*_run(files))


@PROPS
@given(st.lists(records | articleish | json_values | st.text(max_size=80), max_size=12))
def test_jsonl_records_never_cost_the_rest_of_the_file(lines):
    """Finding 4 as a property: a good record after any random records is always read. (A raw NUL
    byte makes the whole file binary, a rule of its own, so raw lines here carry none.)"""
    feed = _jsonl([*lines, GOOD_LINE]).replace("\x00", " ")
    articles, report, tmp = _run({"feed.jsonl": feed.encode("utf-8", "surrogatepass")})
    good = [a for a in articles if a.doc_id == "known-good"]
    assert good and good[-1].published_at is not None, report.errors
    _check(articles, report, tmp)


@PROPS
@given(yaml_text | st.builds(lambda d: json.dumps(d), records), st.text(max_size=200))
def test_yaml_front_matter(front, body):
    page = f"---\n{front}\n---\n{body or 'Body.'}\n"
    _check(*_run({"page.md": page.encode("utf-8", "surrogatepass")}))


@PROPS
@given(html_text)
def test_html_pages(html):
    _check(*_run({"page.html": html.encode("utf-8", "surrogatepass")}))


@settings(max_examples=max(EXAMPLES // 10, 8), derandomize=not EXAMPLES, deadline=None)
@given(st.integers(2, 12), st.integers(2, 12), st.sampled_from(["title", "authors", "source", "date", "id"]))
def test_bomb_like_front_matter_stays_small(depth, width, field):
    """A YAML alias bomb of any shape is refused before it expands: bounded memory and time."""
    lines = ['a0: &a0 ["lol lol lol lol lol lol lol lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join(f"*a{i - 1}" for _ in range(width)) + "]" for i in range(1, depth + 1)]
    page = "---\n" + "\n".join(lines) + f"\n{field}: *a{depth}\n---\nThe council met on Monday.\n"
    tracemalloc.start()
    try:
        articles, report, tmp = _run({"bomb.md": page.encode()})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000, f"{peak:,} bytes traced"
    assert any("aliases" in str(e) for e in report.errors)
    _check(articles, report, tmp)


@pytest.mark.parametrize("size", [10_000, 200_000])
def test_huge_fields_stay_bounded(size):
    """Long values cost a bounded amount: titles and authors capped, identities refused."""
    rec = {"id": "k", "text": GOOD_TEXT, "title": "t" * size, "authors": ["a" * size] * 100, "source": "s" * size}
    big_id = {"id": "i" * size, "text": GOOD_TEXT}
    articles, report, tmp = _run({"feed.jsonl": _jsonl([rec, big_id]).encode()})
    assert [a.doc_id for a in articles if a.doc_id == "k"] and any("'id' too long" in str(e) for e in report.errors)
    _check(articles, report, tmp)


@PROPS
@given(json_values | st.text(alphabet="0123456789-/.:, TZ+amrchMARCHJanuryesterdaynow", max_size=30))
def test_parse_date_is_a_date_or_a_value_error(value):
    """Any metadata value: a date, None, or ValueError — never another exception, never a year
    that the value does not contain (the 1900 and "today" defaults of lenient parsers)."""
    from datetime import date

    from qa.dates import parse_date

    try:
        day = parse_date(value)
    except ValueError:
        return
    assert day is None or isinstance(day, date)
    if day is not None and isinstance(value, str) and not value.strip().isdigit():
        assert str(day.year) in value or f"{day.year % 100:02d}" in value, (value, day)
