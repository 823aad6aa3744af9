import json
import os
from datetime import date
from pathlib import Path

import pytest

from qa.errors import InputError
from qa.ingest.loaders import expand_inputs, load_path
from conftest import SAMPLES

MAX = 10_000_000


def _one(path):
    items = list(load_path(path, max_bytes=MAX))
    assert len(items) == 1 and not isinstance(items[0], InputError), items
    return items[0]


def test_markdown_front_matter():
    art = _one(SAMPLES / "norland-westmark-call.md")
    assert art.title.startswith("Varga and Hale")
    assert art.published_at == date(2025, 3, 8)
    assert art.source == "Northern Ledger"
    assert art.doc_id == art.url == "https://ledger.example/world/varga-hale-call"
    assert "title:" not in art.text


def test_html_main_text_and_meta_tags():
    art = _one(SAMPLES / "riverside-tram.html")
    assert art.title == "Council approves riverside tram line after marathon session"
    assert art.published_at == date(2025, 3, 6)
    assert art.source == "Harbor Gazette"
    assert "420 million crowns" in art.text
    assert "Accept all cookies" not in art.text and "Ferry fares" not in art.text


def test_html_date_never_comes_from_file_time(tmp_path):
    page = tmp_path / "undated.html"
    page.write_text("<html><head><title>A quiet day</title></head><body><article><p>"
                    + "Nothing much happened in the village, residents said, and the square stayed empty. " * 5
                    + "</p></article></body></html>")
    os.utime(page, (1_600_000_000, 1_600_000_000))
    art = _one(page)
    assert art.published_at is None


_PILOTS = "".join(
    f"<p>The harbour pilots voted on a new winter rota, said member {n}, after a long meeting in the old customs house.</p>"
    for n in range(6)
)


def _page(tmp_path, head: str = "", body: str = "", name: str = "pilots.html") -> Path:
    page = tmp_path / name
    page.write_text(f"<html><head><title>Pilots vote on rota</title>{head}</head>"
                    f"<body><article><h1>Pilots vote on rota</h1>{body}{_PILOTS}</article>"
                    "<footer>Copyright 2019 Harbour Post</footer></body></html>")
    return page


@pytest.mark.parametrize(
    "head, field",
    [
        ('<meta property="article:published_time" content="03/04/2025">', "article:published_time"),  # which is the day?
        ('<meta property="article:published_time" content="2025-02-30">', "article:published_time"),  # no such day
        ('<meta property="article:published_time" content="March 2025">', "article:published_time"),  # no day
        ('<meta name="date" content="2025">', "date"),
        ('<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "March 2025"}</script>',
         "datePublished"),
    ],
)
def test_html_date_that_is_not_a_full_day_leaves_the_page_undated_with_a_warning(tmp_path, head, field):
    """A page's date is the one its metadata states as a day, by the rule JSONL uses (parse_date):
    trafilatura's date search turned these into 3 April, 1 February, 1 January, or 1 January 2019
    from the copyright line — no day is guessed, repaired or filled in."""
    art = _one(_page(tmp_path, head))
    assert art.published_at is None
    assert len(art.warnings) == 1 and repr(field) in art.warnings[0] and "undated" in art.warnings[0], art.warnings


def test_html_date_is_never_guessed_from_the_page_text(tmp_path):
    art = _one(_page(tmp_path, body="<p>Published on 4 March 2025.</p><p>Posted 2025-03-04 by the desk.</p>"))
    assert art.published_at is None and art.warnings == []  # no date stated: undated, nothing to warn about


@pytest.mark.parametrize(
    "head, body, expected",
    [
        ('<meta property="article:published_time" content="2025-03-06T23:30:00-05:00">', "", date(2025, 3, 6)),
        ('<meta property="article:published_time" content="2025-03-06T08:15:00Z">'
         '<meta property="article:modified_time" content="2025-03-09T10:00:00Z">', "", date(2025, 3, 6)),
        ('<meta name="date" content="4 March 2025">', "", date(2025, 3, 4)),
        ('<meta name="DC.date.issued" content="2025-03-04">', "", date(2025, 3, 4)),
        ('<meta itemprop="datePublished" content="2025-03-04T07:00:00+01:00">', "", date(2025, 3, 4)),
        ('<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [{"@type": "WebPage"},'
         ' {"@type": "NewsArticle", "dateModified": "2025-03-08", "datePublished": "2025-03-05T18:00:00+00:00"}]}'
         "</script>", "", date(2025, 3, 5)),
        ('<script type="application/ld+json">[{"@type": "NewsArticle", "datePublished": "2025-03-05"}]</script>',
         "", date(2025, 3, 5)),
        ("", '<p>By the desk, <time datetime="2025-03-06T09:00:00+01:00">6 March 2025</time></p>', date(2025, 3, 6)),
        ("", '<p><time pubdate datetime="2025-03-06">Thursday</time></p>', date(2025, 3, 6)),
        ("", '<p><span itemprop="datePublished" content="2025-03-06">Thursday</span></p>', date(2025, 3, 6)),
        # a bad field does not hide a day the page states elsewhere
        ('<meta name="date" content="March 2025"><meta property="article:published_time" content="2025-03-06">',
         "", date(2025, 3, 6)),
    ],
)
def test_html_dates_stated_in_metadata_are_kept(tmp_path, head, body, expected):
    """ISO 8601 with a time and an offset (the day as written), written-out days, Dublin Core,
    JSON-LD datePublished (never dateModified), schema.org itemprop and <time datetime>."""
    art = _one(_page(tmp_path, head, body))
    assert art.published_at == expected and art.warnings == [], art.warnings


def test_html_time_elements_that_disagree_date_nothing(tmp_path):
    """Several <time> days and none marked as the publication's: which is the article's is a guess."""
    body = '<p><time datetime="2025-03-06">Thursday</time> and <time datetime="2025-02-20">last month</time></p>'
    art = _one(_page(tmp_path, body=body))
    assert art.published_at is None


def test_jsonl_field_aliases(tmp_path):
    f = tmp_path / "feed.jsonl"
    rows = [
        {"id": "a", "title": "A", "body": "Body text one.", "date": "2024-05-01", "source": "S"},
        {"url": "https://x.example/b", "content": "Body text two.", "publish_date": "May 2, 2024"},
        {"title": "C", "text": "Body text three.", "authors": "Jo Writer"},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    a, b, c = list(load_path(f, max_bytes=MAX))
    assert (a.doc_id, a.text, a.published_at) == ("a", "Body text one.", date(2024, 5, 1))
    assert (b.doc_id, b.source, b.published_at) == ("https://x.example/b", "x.example", date(2024, 5, 2))
    assert c.doc_id.startswith("sha1:") and c.authors == ("Jo Writer",)


def test_jsonl_bad_lines_are_reported_with_line_numbers(tmp_path):
    f = tmp_path / "feed.jsonl"
    f.write_text('{"id": "ok", "text": "Fine."}\n{not json\n{"id": "nt", "title": "x"}\n\n{"id": "d", "text": "T.", "date": "someday"}\n')
    items = list(load_path(f, max_bytes=MAX))
    errors = [i for i in items if isinstance(i, InputError)]
    assert [e.line for e in errors] == [2, 3]
    assert "malformed JSON" in str(errors[0])
    assert "missing text field" in str(errors[1])
    assert all(e.failed for e in errors)
    # issue 11 (finding 8): a date that is not a date leaves the article undated, with a warning
    undated = next(i for i in items if not isinstance(i, InputError) and i.doc_id == "d")
    assert undated.line == 5 and undated.published_at is None
    assert any("'date'" in w for w in undated.warnings)


def test_json_array_records_are_reported_at_the_line_where_they_start(tmp_path):
    """A record of a `.json` array was reported at "line" 1, 2, 3 — its number in the list, not
    a line of the file. Now it is the line where the record starts, as in JSONL; the records of
    a one-line array all start on line 1."""
    f = tmp_path / "wire.json"
    f.write_text(
        '[\n'
        '  {"id": "a", "text": "One."},\n'
        '\n'
        '  {"id": "b",\n'
        '   "title": "no text"},\n'
        '  {"id": "c", "text": "Three.", "date": "someday"},  \n'
        '  7 ,{"id": "e", "text": "Five."}\n'
        ']\n'
    )
    items = list(load_path(f, max_bytes=MAX))
    assert [(type(i).__name__, i.line) for i in items] == [
        ("RawArticle", 2), ("InputError", 4), ("RawArticle", 6), ("InputError", 7), ("RawArticle", 7)]
    assert "missing text field" in str(items[1]) and items[2].warnings
    flat = tmp_path / "flat.json"
    flat.write_text('[{"id": "x", "text": "X."}, {"id": "y"}]')
    assert [i.line for i in load_path(flat, max_bytes=MAX)] == [1, 1]
    single = tmp_path / "single.json"
    single.write_text('\n\n{"id": "z"}\n')
    [err] = load_path(single, max_bytes=MAX)
    assert isinstance(err, InputError) and err.line is None  # the file is the record


def test_records_sharing_a_line_of_a_json_array_are_named_by_their_place(tmp_path):
    """A minified `.json` array holds all its records on line 1: "flat.json:1: missing text
    field" did not say which of a thousand records it was. A record that shares its line with
    another is named by its place in the array too, in its error and its warnings."""
    flat = tmp_path / "flat.json"
    flat.write_text('[{"id": "x", "text": "X."}, {"id": "y"}, {"id": "z", "text": "Z.", "date": "someday"}]')
    ok, bad, warned = load_path(flat, max_bytes=MAX)
    assert isinstance(bad, InputError) and bad.line == 1
    assert str(bad).startswith("record 2 of the array: missing text field")
    assert warned.warnings and all(w.startswith("record 3 of the array: ") for w in warned.warnings)
    tall = tmp_path / "tall.json"
    tall.write_text('[\n{"id": "x", "text": "X."},\n{"id": "y"}\n]')
    assert not str(list(load_path(tall, max_bytes=MAX))[1]).startswith("record")  # its line says which


@pytest.mark.parametrize(
    "name, content, failed, message",
    [
        ("empty.txt", b"", False, "empty file"),
        ("blank.txt", b"  \n\n ", False, "empty"),
        ("binary.txt", b"abc\x00\x01\x02", True, "binary"),
        ("latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), True, "UTF-8"),
        ("image.png", b"\x89PNG....", False, "unsupported file type"),
        ("broken.json", b"{\"id\": 1,", True, "malformed JSON"),
    ],
)
def test_bad_files_raise_named_errors(tmp_path, name, content, failed, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(InputError) as err:
        list(load_path(p, max_bytes=MAX))
    assert err.value.failed is failed
    assert message in str(err.value)
    assert err.value.path == str(p)


def test_oversized_dead_symlink_and_unreadable(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("x" * 200)
    with pytest.raises(InputError, match="too large"):
        list(load_path(big, max_bytes=100))
    link = tmp_path / "dead.txt"
    link.symlink_to(tmp_path / "nowhere.txt")
    with pytest.raises(InputError, match="dead symlink"):
        list(load_path(link, max_bytes=MAX))



def test_unreadable_file(tmp_path, monkeypatch):
    locked = tmp_path / "locked.txt"
    locked.write_text("secret")
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads every file, so the kernel's refusal is simulated
        real = Path.read_bytes

        def refuse(self):
            if self == locked:
                raise PermissionError(13, "Permission denied")
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(InputError, match="permission denied") as err:
        list(load_path(locked, max_bytes=MAX))
    assert err.value.failed and err.value.path == str(locked)


def test_expand_inputs_folders_globs_and_missing(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("x")
    (tmp_path / "a" / "y.md").write_text("y")
    (tmp_path / "a" / ".hidden.txt").write_text("h")
    found = [Path(p).name for p in expand_inputs([str(tmp_path / "a"), str(tmp_path / "a" / "*.md"), str(tmp_path / "none.txt")])]
    assert found == ["x.txt", "y.md", "y.md", "none.txt"]


# ---------------------------------------------------------------- issue 11: findings 4, 8, 13


def test_any_exception_costs_one_record_with_its_line(tmp_path):
    """Finding 4: whatever a record raises, it is reported by line and the others are read."""
    f = tmp_path / "feed.jsonl"
    f.write_text(
        '{"id": "a", "text": "One.", "published_at": 1e400}\n'
        '{"id": "b", "text": "Two.", "authors": 5}\n'
        '{"id": "c", "text": "Three.", "n": 1' + "0" * 5000 + '}\n'
        + "[" * 100_000 + "\n"
        '{"id": "e", "text": "Five."}\n'
    )
    items = list(load_path(f, max_bytes=MAX))
    ok = {i.doc_id: i for i in items if not isinstance(i, InputError)}
    errors = {i.line: str(i) for i in items if isinstance(i, InputError)}
    assert set(ok) == {"a", "b", "e"} and set(errors) == {3, 4}
    assert ok["a"].published_at is None and ok["a"].warnings
    assert ok["b"].authors == () and any("authors" in w for w in ok["b"].warnings)


@pytest.mark.parametrize(
    "value, expected",
    [("2025-03-08T23:30:00-05:00", date(2025, 3, 8)), ("Mar. 8, 2025 10:30 AM ET", date(2025, 3, 8)),
     ("yesterday", None), ("now", None), ("12", None), (12, None), ("1e400", None)],
)
def test_metadata_dates_are_strict_in_every_format(tmp_path, value, expected):
    """Finding 8: JSON, JSONL and Markdown front matter share one strict rule."""
    (tmp_path / "a.json").write_text(json.dumps({"id": "a", "text": "Body.", "date": value}))
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "b", "text": "Body.", "published_at": value}) + "\n")
    (tmp_path / "c.md").write_text(f"---\ndate: {json.dumps(value)}\n---\nBody text.\n")
    for name in ("a.json", "b.jsonl", "c.md"):
        art = _one(tmp_path / name)
        assert art.published_at == expected, name
        assert bool(art.warnings) is (expected is None), (name, art.warnings)


def test_yaml_timestamps_in_front_matter_are_parsed_strictly(tmp_path):
    (tmp_path / "a.md").write_text("---\ndate: 2025-03-08\n---\nBody.\n")
    (tmp_path / "b.md").write_text("---\ndate: 2025-13-45\n---\nBody.\n")
    assert _one(tmp_path / "a.md").published_at == date(2025, 3, 8)
    bad = _one(tmp_path / "b.md")
    assert bad.published_at is None and bad.warnings


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    """Finding 13: the 435-byte bomb of the report (9 levels of 9 aliases)."""
    import time
    import tracemalloc

    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{cur}: &{cur} [" + ",".join(f"*{prev}" for _ in range(9)) + "]")
    page = tmp_path / "bomb.md"
    page.write_text("---\n" + "\n".join(lines) + "\ntitle: *i\n---\nBody.\n")
    tracemalloc.start()
    t0 = time.monotonic()
    with pytest.raises(InputError, match="aliases are not allowed"):
        list(load_path(page, max_bytes=MAX))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.monotonic() - t0 < 2 and peak < 5_000_000


def test_front_matter_is_capped(tmp_path):
    page = tmp_path / "big.md"
    page.write_text("---\ntitle: x\nnotes: " + "y" * 100_000 + "\n---\nBody.\n")
    with pytest.raises(InputError, match="front matter too large"):
        list(load_path(page, max_bytes=MAX))


def test_fields_are_capped_and_identities_never_truncated(tmp_path):
    f = tmp_path / "feed.jsonl"
    rows = [
        {"id": "t", "text": "Body.", "title": "T" * 5000, "source": "S" * 5000, "authors": ["A" * 500] * 80},
        {"id": "i" * 3000, "text": "Body."},
        {"url": "https://x.example/" + "u" * 3000, "text": "Body."},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    t, id_err, url_err = list(load_path(f, max_bytes=MAX))
    assert len(t.title) == 1000 and len(t.source) == 200
    assert len(t.authors) == 50 and all(len(a) == 200 for a in t.authors)
    assert len(t.warnings) == 3
    assert isinstance(id_err, InputError) and "'id' too long" in str(id_err) and id_err.line == 2
    assert isinstance(url_err, InputError) and "'url' too long" in str(url_err) and url_err.line == 3


def test_a_title_source_or_author_that_is_not_text_is_a_warning_never_its_python_form(tmp_path):
    """A record's source given as an object (a news API's {"id": …, "name": …}), a title as a
    list or true, an author as an object (a JSON Feed's {"name": …}) were kept as Python wrote
    them, with no warning: every citation read "— {'id': 'harbour-times', 'name': 'Harbour
    Times'}". A field qa cannot use is a warning and is not used; a number is its text."""
    from qa.ingest.loaders import record_or_error

    rows = [
        {"id": "a", "text": "Body.", "url": "https://harbour.example/a", "source": {"id": "ht", "name": "Harbour Times"},
         "title": ["Kessel", "ferry"], "authors": [{"name": "Ola Brenn"}, "Jane Quill", ["x"]]},
        {"id": "b", "text": "Body.", "source": ["Wire"], "title": True, "author": {"name": "Ola Brenn"}},
        {"id": "c", "text": "Body.", "source": "Wire", "title": 2025, "authors": ["Jane Quill", 7]},
    ]
    f = tmp_path / "feed.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "d.md").write_text("---\ntitle: [Kessel, ferry]\nsource: {name: Wire}\nauthors: [{name: Ola}]\n---\nBody.\n")
    a, b, c = list(load_path(f, max_bytes=MAX))
    api = record_or_error(rows[0], "<api>", 1)
    d = _one(tmp_path / "d.md")
    for art in (a, api):
        assert (art.title, art.source, art.authors) == ("", "harbour.example", ("Jane Quill",)), art
        assert len(art.warnings) == 3 and all("not text" in w for w in art.warnings), art.warnings
    assert (b.title, b.source, b.authors) == ("", "", ()) and len(b.warnings) == 3, b
    assert (c.title, c.source, c.authors) == ("2025", "Wire", ("Jane Quill", "7")) and c.warnings == [], c
    assert (d.title, d.source, d.authors) == ("", "", ()) and len(d.warnings) == 3, d
    for art in (a, b, c, d):
        assert not any("{" in v or "[" in v or v == "True" for v in (art.title, art.source, *art.authors)), art


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "/local/path"])
def test_non_http_urls_are_not_kept_as_links(tmp_path, url):
    f = tmp_path / "feed.jsonl"
    f.write_text(json.dumps({"text": "Body.", "url": url}) + "\n" + json.dumps({"id": "k", "text": "B2.", "url": url}) + "\n")
    no_id, with_id = list(load_path(f, max_bytes=MAX))
    assert no_id.url == "" and no_id.doc_id == url and no_id.source == ""  # the identity is kept
    assert with_id.url == "" and with_id.doc_id == "k"
    assert any("http(s)" in w for w in no_id.warnings)
    md = tmp_path / "page.md"
    md.write_text(f"---\nurl: {json.dumps(url)}\n---\nBody.\n")
    art = _one(md)
    assert art.url == "" and art.doc_id == url
