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
    assert [e.line for e in errors] == [2, 3, 5]
    assert "malformed JSON" in str(errors[0])
    assert "missing text field" in str(errors[1])
    assert "'date'" in str(errors[2])
    assert all(e.failed for e in errors)


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
