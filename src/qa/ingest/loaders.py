"""One small function per input format, each yielding ``RawArticle`` records.

Inputs that are not usable raise ``InputError`` naming the file (and line for JSONL), so one
broken input never stops the others.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from qa.dates import parse_date
from qa.errors import InputError
from qa.types import short_hash

TEXT_FIELDS = ("text", "body", "content")
DATE_FIELDS = ("published_at", "date", "publish_date")
SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".ndjson"}
STDIN = "-"


@dataclass
class RawArticle:
    """An article as read, before cleaning. ``doc_id`` is its identity (id, url or path)."""

    doc_id: str
    text: str
    title: str = ""
    url: str = ""
    source: str = ""
    published_at: date | None = None
    authors: tuple[str, ...] = ()
    path: str = ""
    line: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- finding inputs


def expand_inputs(specs: Iterable[str]) -> Iterator[str | Path]:
    """Files, folders (recursively, sorted), globs and ``-`` (stdin) → paths in a stable order.

    A spec that matches nothing is yielded as-is so the loader reports it by name.
    """
    for spec in specs:
        if spec == STDIN:
            yield STDIN
            continue
        p = Path(spec).expanduser()
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(root) / name
        elif p.exists() or p.is_symlink():
            yield p
        elif any(ch in spec for ch in "*?["):
            matches = sorted(glob.glob(os.path.expanduser(spec), recursive=True))
            if not matches:
                yield p
            for m in matches:
                mp = Path(m)
                if mp.is_dir():
                    yield from expand_inputs([m])
                else:
                    yield mp
        else:
            yield p


# ---------------------------------------------------------------- reading files


def load_path(path: str | Path, *, max_bytes: int) -> Iterator[RawArticle | InputError]:
    """Yield the articles of one input; errors are yielded (not raised) for per-record problems
    and raised for whole-file problems."""
    if path == STDIN:
        yield from load_jsonl_stream(sys.stdin, STDIN)
        return
    path = Path(path)
    name = str(path)
    if path.is_symlink() and not path.exists():
        raise InputError(name, "dead symlink")
    if not path.exists():
        raise InputError(name, "no such file or directory")
    if not path.is_file():
        raise InputError(name, "not a regular file", failed=False)
    ext = path.suffix.lower()
    if ext not in SUPPORTED:
        raise InputError(name, f"unsupported file type {ext or '(none)'!r}", failed=False)
    size = path.stat().st_size
    if size == 0:
        raise InputError(name, "empty file", failed=False)
    if ext in (".jsonl", ".ndjson"):  # a feed is streamed: its records are limited, not its size
        yield from _stream_jsonl_file(path, name)
        return
    if size > max_bytes:
        raise InputError(name, f"file too large ({size:,} bytes > limit {max_bytes:,})")
    try:
        data = path.read_bytes()
    except PermissionError:
        raise InputError(name, "permission denied") from None
    except OSError as e:
        raise InputError(name, f"cannot read: {e.strerror or e}") from None
    if b"\x00" in data[:8192]:
        raise InputError(name, "binary file (contains NUL bytes)")
    if ext in (".html", ".htm"):
        yield load_html(data, name)
        return
    text = _decode(data, name)
    if not text.strip():
        raise InputError(name, "empty file (only whitespace)", failed=False)
    if ext == ".json":
        yield from load_json(text, name)
    elif ext in (".md", ".markdown"):
        yield load_markdown(text, name)
    else:
        yield load_text(text, name)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(name, f"not valid UTF-8 text (byte {e.start})") from None


def _file_doc_id(name: str) -> str:
    return str(Path(name).resolve())


def _title_from_stem(name: str) -> str:
    stem = Path(name).stem.replace("_", " ").replace("-", " ").strip()
    return stem[:1].upper() + stem[1:]


def load_text(text: str, name: str) -> RawArticle:
    """Plain text: the first line is the title when it looks like one."""
    lines = [ln.strip() for ln in text.splitlines()]
    first = next((ln for ln in lines if ln), "")
    title = _title_from_stem(name)
    if first and len(first) <= 150 and not re.search(r"[.!?:;,]['\"”’)]?$", first):
        title = first
    return RawArticle(doc_id=_file_doc_id(name), text=text, title=title, path=name)


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_HEADING = re.compile(r"^#{1,6}\s+", re.M)
_MD_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")


def load_markdown(text: str, name: str) -> RawArticle:
    """Markdown with optional YAML front matter (title, published_at/date, source, url, id)."""
    import yaml

    meta: dict[str, Any] = {}
    m = _FRONT_MATTER.match(text)
    if m:
        try:
            loaded = yaml.safe_load(m.group(1))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 2}" if mark is not None else ""
            raise InputError(name, f"invalid YAML front matter{where}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise InputError(name, "front matter is not a mapping of fields")
        meta = loaded or {}
        text = text[m.end() :]
    body = _MD_LINK.sub(r"\1", text)
    body = _MD_EMPHASIS.sub(r"\2", body)
    title = str(meta.get("title") or "")
    if not title:
        h = re.search(r"^#\s+(.+)$", body, re.M)
        title = h.group(1).strip() if h else _title_from_stem(name)
        if h:  # the title heading is metadata, not body text
            body = body[: h.start()] + body[h.end() :]
    body = _MD_HEADING.sub("", body)
    record = {**meta, "text": body, "title": title}
    art = _from_record(record, name, line=None, require_text=True)
    if not meta.get("id") and not meta.get("url"):
        art.doc_id = _file_doc_id(name)
    return art


def load_html(data: bytes, name: str) -> RawArticle:
    """HTML page → main text and metadata (title, date from meta tags, site) via trafilatura."""
    import trafilatura

    doc = trafilatura.bare_extraction(
        data,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    if doc is None or not (getattr(doc, "text", None) or "").strip():
        raise InputError(name, "no article text found in HTML page")
    published = None
    if getattr(doc, "date", None):
        try:
            published = parse_date(doc.date)
        except ValueError:
            published = None
    url = getattr(doc, "url", None) or ""
    source = getattr(doc, "sitename", None) or getattr(doc, "hostname", None) or _host(url)
    author = getattr(doc, "author", None) or ""
    authors = tuple(a.strip() for a in author.split(";") if a.strip())
    return RawArticle(
        doc_id=url or _file_doc_id(name),
        text=doc.text,
        title=getattr(doc, "title", None) or _title_from_stem(name),
        url=url,
        source=source or "",
        published_at=published,
        authors=authors,
        path=name,
    )


def load_json(text: str, name: str) -> Iterator[RawArticle | InputError]:
    """A JSON file holding one article object or a list of them."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(name, f"malformed JSON: {e.msg}", line=e.lineno) from None
    records = data if isinstance(data, list) else [data]
    for i, rec in enumerate(records, 1):
        try:
            yield _from_record(rec, name, line=i if isinstance(data, list) else None)
        except InputError as e:
            yield e


def load_jsonl_stream(stream: IO[str], name: str) -> Iterator[RawArticle | InputError]:
    yield from load_jsonl_lines(stream, name)


def _stream_jsonl_file(path: Path, name: str) -> Iterator[RawArticle | InputError]:
    """Read a JSONL file line by line (constant memory); a bad line never stops the rest."""
    try:
        f = open(path, "rb")
    except PermissionError:
        raise InputError(name, "permission denied") from None
    except OSError as e:
        raise InputError(name, f"cannot read: {e.strerror or e}") from None
    with f:
        if b"\x00" in f.read(8192):
            raise InputError(name, "binary file (contains NUL bytes)")
        f.seek(0)
        records = 0
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                yield InputError(name, f"not valid UTF-8 text (byte {e.start})", line=lineno)
                continue
            for item in load_jsonl_lines([line], name):
                item.line = lineno  # numbered here, not by the one-line reader
                records += 1
                yield item
        if records == 0:
            raise InputError(name, "empty file (only whitespace)", failed=False)


def load_jsonl_lines(lines: Iterable[str], name: str) -> Iterator[RawArticle | InputError]:
    """JSON Lines: one article object per line; a bad line is reported and skipped."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            yield InputError(name, f"malformed JSON: {e.msg} (column {e.colno})", line=lineno)
            continue
        try:
            yield _from_record(rec, name, line=lineno)
        except InputError as e:
            yield e


def _host(url: str) -> str:
    try:
        return urlparse(url).hostname or ""
    except ValueError:
        return ""


def _from_record(rec: Any, name: str, *, line: int | None, require_text: bool = True) -> RawArticle:
    """A JSON-like mapping with id, url, title, text|body|content, published_at|date|publish_date,
    source, authors → ``RawArticle``."""
    if not isinstance(rec, dict):
        raise InputError(name, "record is not a JSON object", line=line)
    text_field = next((f for f in TEXT_FIELDS if f in rec), None)
    if text_field is None:
        raise InputError(name, "missing text field (one of: text, body, content)", line=line)
    text = rec[text_field]
    if not isinstance(text, str):
        raise InputError(name, f"field {text_field!r} is not a string", line=line)
    if require_text and not text.strip():
        raise InputError(name, f"field {text_field!r} is empty", line=line, failed=False)
    published = None
    for f in DATE_FIELDS:
        if rec.get(f) not in (None, ""):
            try:
                published = parse_date(rec[f])
            except ValueError as e:
                raise InputError(name, f"field {f!r}: {e}", line=line) from None
            break
    url = str(rec.get("url") or "")
    authors_val = rec.get("authors") or rec.get("author") or ()
    if isinstance(authors_val, str):
        authors_val = [authors_val]
    authors = tuple(str(a) for a in authors_val if str(a).strip())
    rid = rec.get("id")
    doc_id = str(rid) if rid not in (None, "") else url
    if not doc_id:  # no identity given: the content is the identity
        doc_id = "sha1:" + short_hash(f"{rec.get('title') or ''}\n{text}")
    return RawArticle(
        doc_id=doc_id,
        text=text,
        title=str(rec.get("title") or ""),
        url=url,
        source=str(rec.get("source") or "") or _host(url),
        published_at=published,
        authors=authors,
        path=name,
        line=line,
    )
