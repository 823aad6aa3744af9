"""One small function per input format, each yielding ``RawArticle`` records.

Inputs that are not usable raise ``InputError`` naming the file (and line for JSONL), so one
broken input never stops the others.
"""

from __future__ import annotations

import fnmatch
import functools
import glob
import json
import os
import re
import stat
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from qa.dates import parse_date
from qa.errors import InputError, encodable
from qa.links import safe_url
from qa.types import short_hash

if TYPE_CHECKING:
    from lxml.html import HtmlElement

TEXT_FIELDS = ("text", "body", "content")
DATE_FIELDS = ("published_at", "date", "publish_date")
SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".ndjson"}
STDIN = "-"

# Metadata is bounded whatever the format: descriptive fields are truncated with a warning,
# identities (id, url) are never truncated: an over-long one refuses the record.
TITLE_CHARS = 1_000
SOURCE_CHARS = 200
AUTHOR_CHARS = 200
MAX_AUTHORS = 50
IDENTITY_CHARS = 2_048
FRONT_MATTER_CHARS = 64 * 1024


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
    warnings: list[str] = field(default_factory=list)  # what was dropped or changed on the way


# ---------------------------------------------------------------- finding inputs


NOT_READ_INDEX = "the index folder (--index): not read as input"


def expand_inputs(specs: Iterable[str], *, index: Path | None = None) -> Iterator[str | Path | InputError]:
    """Files, folders (recursively, sorted, following symlinked folders), globs and ``-``
    (stdin) → paths in a stable order.

    A spec that matches nothing, or that cannot be looked at (a folder on its way cannot be
    entered), is yielded as-is so the loader reports it by name; a folder met that cannot be
    listed is yielded as its ``InputError``. The folder ``index`` (qa's own files: ``qa ingest .``
    where the default ``./index`` lives) is never walked: it is one skipped input.
    """
    inside = _folder_key(index)
    for spec in specs:
        if spec == STDIN:
            yield STDIN
            continue
        p = Path(spec).expanduser()
        try:
            is_dir, exists = p.is_dir(), p.exists() or p.is_symlink()
        except OSError:
            yield p
            continue
        if is_dir:
            yield from _walk(p, {}, inside)
        elif exists:
            yield p
        elif "**" in Path(spec).parts:
            yield from _recursive_glob(p, inside)
        elif any(ch in spec for ch in "*?["):
            matches = sorted(glob.glob(os.path.expanduser(spec)))
            if not matches:
                yield p
            for m in matches:
                mp = Path(m)
                if mp.is_dir():
                    yield from expand_inputs([m], index=index)
                else:
                    yield mp
        else:
            yield p


def _folder_key(folder: Path | None) -> tuple[int, int] | None:
    """A folder's (device, inode), None when there is none to compare folders with."""
    try:
        st = folder.stat() if folder is not None else None
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if st is not None else None


def _walk(folder: Path, read: dict[tuple[int, int], Path], index: tuple[int, int] | None = None) -> Iterator[Path | InputError]:
    """The files below ``folder``, each folder's own first, by name; names starting with a dot
    are left out. Symlinked folders are followed, each real folder read once (``read``: those
    read so far, by device and inode, with their real paths): a second link to one, or a link
    back up (a loop), is a skipped input. A folder that cannot be listed is its error: what it
    holds is not known, never taken for nothing."""
    try:
        st = folder.stat()
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        yield _unreadable(str(folder), e)
        return
    key = (st.st_dev, st.st_ino)
    if key == index:
        yield InputError(str(folder), NOT_READ_INDEX, failed=False)
        return
    if key in read:
        yield InputError(str(folder), f"a folder already read ({read[key]}); not read again", failed=False)
        return
    read[key] = folder.resolve()
    folders = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            is_folder = entry.is_dir()
        except OSError:
            is_folder = False  # the loader says what is wrong with it
        if is_folder:
            folders.append(entry)
        else:
            yield Path(entry.path)
    for entry in folders:
        yield from _walk(Path(entry.path), read, index)


def split_glob(spec: Path) -> tuple[Path, tuple[str, ...]]:
    """A glob as (its fixed folder, the pattern's parts below it)."""
    parts = spec.parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    return (Path(*parts[:fixed]) if fixed else Path(".")), parts[fixed:]


def glob_covers(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Whether the glob ``pattern`` (``**`` = any number of folders) matches ``parts`` or a folder
    holding them; like ``glob``, wildcards do not match names starting with a dot."""
    if not pattern:
        return True  # matched a folder: everything below it was an input
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(glob_covers(rest, parts[i:]) for i in range(len(parts) + 1))
    if not parts:
        return False
    name = parts[0]
    if name.startswith(".") and not head.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, head) and glob_covers(rest, parts[1:])


def _recursive_glob(spec: Path, index: tuple[int, int] | None = None) -> Iterator[Path | InputError]:
    """The files a ``**`` pattern matches (or that lie below a folder it matches), found by the
    folder walk of its fixed part: Python's glob follows every link under ``**``, so a link back
    up makes it walk without end; ``_walk`` reads each real folder once."""
    root, pattern = split_glob(spec)
    if not root.is_dir():
        yield spec
        return
    matched = False
    for item in _walk(root, {}, index):
        if isinstance(item, InputError):
            yield item
        elif glob_covers(pattern, item.relative_to(root).parts):
            matched = True
            yield item
    if not matched:
        yield spec


def folders_read(folder: Path) -> list[Path]:
    """The real folders that reading ``folder`` reads: itself and the symlinked folders it
    follows (what ``--prune`` of it covers)."""
    read: dict[tuple[int, int], Path] = {}
    for _ in _walk(folder, read):
        pass
    return list(read.values())


def _unreadable(name: str, e: OSError) -> InputError:
    """The error of an input the system refuses to open or list."""
    if isinstance(e, PermissionError):
        return InputError(name, "permission denied")
    return InputError(name, f"cannot read: {e.strerror or e}")


# ---------------------------------------------------------------- reading files


def load_path(path: str | Path, *, max_bytes: int) -> Iterator[RawArticle | InputError]:
    """Yield the articles of one input; errors are yielded (not raised) for per-record problems
    and raised for whole-file problems."""
    if path == STDIN:
        yield from load_jsonl_stream(sys.stdin.buffer, STDIN)  # bytes, decoded line by line as a file's
        return
    path = Path(path)
    name = str(path)
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(name, "dead symlink" if os.path.islink(path) else "no such file or directory") from None
    except OSError as e:
        if not isinstance(e, PermissionError) and os.path.islink(path):  # a link loop
            raise InputError(name, "dead symlink") from None
        raise _unreadable(name, e) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(name, "not a regular file", failed=False)
    ext = path.suffix.lower()
    if ext not in SUPPORTED:
        raise InputError(name, f"unsupported file type {ext or '(none)'!r}", failed=False)
    if encodable(name) != name:  # it could not be recorded in the index, nor shown as it is
        raise InputError(name, "file name is not valid UTF-8; rename the file to ingest it")
    size = st.st_size
    if size == 0:
        raise InputError(name, "empty file", failed=False)
    if ext in (".jsonl", ".ndjson"):  # a feed is streamed: its records are limited, not its size
        yield from _stream_jsonl_file(path, name)
        return
    if size > max_bytes:
        raise InputError(name, f"file too large ({size:,} bytes > limit {max_bytes:,})")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _unreadable(name, e) from None
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
        raise _not_utf8(name, e) from None


def _not_utf8(name: str, e: UnicodeDecodeError, line: int | None = None) -> InputError:
    return InputError(name, f"not valid UTF-8 text (byte {e.start})", line=line)


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
    meta: dict[str, Any] = {}
    m = _FRONT_MATTER.match(text)
    if m:
        meta = _front_matter(m.group(1), name)
        text = text[m.end() :]
    body = _MD_LINK.sub(r"\1", text)
    body = _MD_EMPHASIS.sub(r"\2", body)
    title = meta.get("title") or ""  # one that is not text is a warning, in _from_record
    if not title:
        h = re.search(r"^#\s+(.+)$", body, re.M)
        title = h.group(1).strip() if h else _title_from_stem(name)
        if h:  # the title heading is metadata, not body text
            body = body[: h.start()] + body[h.end() :]
    body = _MD_HEADING.sub("", body)
    record = {**meta, "text": body, "title": title}
    return _from_record(record, name, line=None, fallback_id=_file_doc_id(name))


def _front_matter(yaml_text: str, name: str) -> dict[str, Any]:
    """YAML front matter as a mapping: bounded in size, no anchors or aliases (an alias bomb of a
    few hundred bytes expands to gigabytes), dates kept as text for ``parse_date``."""
    import yaml

    if len(yaml_text) > FRONT_MATTER_CHARS:
        raise InputError(name, f"front matter too large ({len(yaml_text):,} characters > {FRONT_MATTER_CHARS:,})")
    try:
        loaded = yaml.load(yaml_text, Loader=_front_matter_loader())  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(e, "problem", None)
        raise InputError(name, f"invalid YAML front matter{where}" + (f": {problem}" if problem else "")) from None
    except (ValueError, RecursionError) as e:  # e.g. an integer of 5,000 digits, deep nesting
        raise InputError(name, f"invalid YAML front matter: {type(e).__name__}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise InputError(name, "front matter is not a mapping of fields")
    return loaded or {}


@functools.cache
def _front_matter_loader() -> type:
    import yaml

    class FrontMatterLoader(yaml.SafeLoader):
        """SafeLoader that refuses anchors and aliases, and leaves timestamps as strings."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise yaml.composer.ComposerError(
                    None, None, "YAML anchors and aliases are not allowed", event.start_mark
                )
            return super().compose_node(parent, index)

    FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)
    return FrontMatterLoader


def load_html(data: bytes, name: str, *, url: str | None = None) -> RawArticle:
    """HTML page → main text and metadata (title, site, canonical URL) via trafilatura; its date
    only as its metadata states it (``qa.ingest.html_date``), never guessed from its text.
    ``url``: where the page was fetched (resolves relative links, names it when it has no
    canonical link)."""
    import trafilatura
    from trafilatura.settings import set_date_params
    from trafilatura.utils import load_html as parse_html

    tree = parse_html(data)
    if tree is None:
        raise InputError(name, "no article text found in HTML page")
    warnings: list[str] = []
    published = _stated_html_date(tree, warnings)
    doc = trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
        date_extraction_params=set_date_params(extensive=False),  # its date is not used (above)
    )
    if doc is None or not (getattr(doc, "text", None) or "").strip():
        raise InputError(name, "no article text found in HTML page")
    author = getattr(doc, "author", None) or ""
    record = {
        "text": doc.text,
        "title": getattr(doc, "title", None) or _title_from_stem(name),
        "url": getattr(doc, "url", None) or "",
        "source": getattr(doc, "sitename", None) or getattr(doc, "hostname", None) or "",
        "published_at": published,
        "authors": [a for a in author.split(";") if a.strip()],
    }
    article = _from_record(record, name, line=None, fallback_id=url or _file_doc_id(name))
    article.warnings[:0] = warnings
    return article


def _stated_html_date(tree: HtmlElement, warnings: list[str]) -> date | None:
    """The first day the page's metadata states. A page states its date in many places for many
    readers, so a value that is no day ("March 2025", "03/04/2025") is passed over; with no
    day stated anywhere it leaves the page undated with a warning naming the field."""
    from qa.ingest.html_date import stated_dates

    problem = ""
    for key, value in stated_dates(tree):
        try:
            day = parse_date(value)
        except ValueError as e:
            problem = problem or _undated(key, e)
            continue
        if day is not None:
            return day
    if problem:
        warnings.append(problem)
    return None


def load_json(text: str, name: str) -> Iterator[RawArticle | InputError]:
    """A JSON file holding one article object or a list of them."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(name, f"malformed JSON: {e.msg}", line=e.lineno) from None
    except (ValueError, RecursionError) as e:  # an integer of 5,000 digits, nesting too deep
        raise InputError(name, f"malformed JSON: {type(e).__name__}") from None
    if data == []:  # as an emptied .jsonl: refused, so --prune never takes it for "nothing left"
        raise InputError(name, "empty file (an empty JSON list)", failed=False)
    if not isinstance(data, list):
        yield record_or_error(data, name, None)
        return
    lines = list(_array_lines(text))
    shared = {line for line, n in Counter(lines).items() if n > 1}  # a minified array: all on line 1
    for place, (rec, line) in enumerate(zip(data, lines), 1):
        item = record_or_error(rec, name, line)
        if line in shared:  # its line does not say which record it is: its place does
            where = f"record {place} of the array: "
            if isinstance(item, InputError):
                item = InputError(item.path, where + str(item), line=item.line, failed=item.failed)
            else:
                item.warnings[:] = [where + w for w in item.warnings]
        yield item


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _array_lines(text: str) -> Iterator[int]:
    """The line where each element of the JSON array ``text`` (already parsed) starts."""
    decoder = json.JSONDecoder()
    i = _after_space(text, 0) + 1  # past "["
    line, counted = 1, 0
    while text[(i := _after_space(text, i))] != "]":
        line += text.count("\n", counted, i)
        counted = i
        yield line
        _, i = decoder.raw_decode(text, i)
        i = _after_space(text, i)
        if text[i] == ",":
            i += 1


def _after_space(text: str, i: int) -> int:
    return _JSON_SPACE.match(text, i).end()  # type: ignore[union-attr]  # it matches "" at least


def load_jsonl_stream(stream: Iterable[bytes], name: str) -> Iterator[RawArticle | InputError]:
    """JSON Lines read as bytes (a file, stdin): each line decoded on its own (a BOM allowed on
    the first) and numbered, so a line that is not UTF-8 costs only itself."""
    for lineno, raw in enumerate(stream, 1):
        try:
            line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as e:
            yield _not_utf8(name, e, line=lineno)
            continue
        for item in load_jsonl_lines([line], name):
            item.line = lineno  # numbered here, not by the one-line reader
            yield item


def _stream_jsonl_file(path: Path, name: str) -> Iterator[RawArticle | InputError]:
    """Read a JSONL file line by line (constant memory); a bad line never stops the rest."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise _unreadable(name, e) from None
    with f:
        if b"\x00" in f.read(8192):
            raise InputError(name, "binary file (contains NUL bytes)")
        f.seek(0)
        records = 0
        for item in load_jsonl_stream(f, name):
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
        except (ValueError, RecursionError) as e:
            yield InputError(name, f"malformed JSON: {type(e).__name__}", line=lineno)
            continue
        yield record_or_error(rec, name, lineno)


def record_or_error(rec: Any, name: str, line: int | None) -> RawArticle | InputError:
    """One record → its article or its error: whatever it raises costs that record only."""
    try:
        return _from_record(rec, name, line=line)
    except InputError as e:
        return e
    except Exception as e:  # noqa: BLE001 — a bug on one record must not lose the others
        return InputError(name, f"{type(e).__name__}: {e}", line=line)


def _host(url: str) -> str:
    try:
        return urlparse(url).hostname or ""
    except ValueError:
        return ""


def _from_record(rec: Any, name: str, *, line: int | None, fallback_id: str | None = None) -> RawArticle:
    """A JSON-like mapping with id, url, title, text|body|content, published_at|date|publish_date,
    source, authors → ``RawArticle``. Without an id or url the identity is ``fallback_id`` (a
    file's path), else the content's hash. Problems that cost only a field become warnings."""
    if not isinstance(rec, dict):
        raise InputError(name, "record is not a JSON object", line=line)
    text_field = next((f for f in TEXT_FIELDS if f in rec), None)
    if text_field is None:
        raise InputError(name, "missing text field (one of: text, body, content)", line=line)
    text = rec[text_field]
    if not isinstance(text, str):
        raise InputError(name, f"field {text_field!r} is not a string", line=line)
    if not text.strip():
        raise InputError(name, f"field {text_field!r} is empty", line=line, failed=False)
    warnings: list[str] = []
    rid = _identity(rec, "id", name, line)
    given_url = _identity(rec, "url", name, line)
    url = safe_url(given_url.strip())
    if given_url and not url:
        warnings.append(f"field 'url': {given_url[:80]!r} is not an http(s) URL; not kept as a link")
    doc_id = rid or given_url or fallback_id or ""
    title = _capped(rec, "title", TITLE_CHARS, warnings)
    source = _capped(rec, "source", SOURCE_CHARS, warnings) or _host(url)
    published_at = _published(rec, warnings)
    authors = _authors(rec, warnings)
    _refuse_lone_surrogates(
        {"id": rid, "url": given_url, text_field: text, "title": title, "source": source, "authors": "".join(authors)},
        name, line,
    )
    if not doc_id:  # no identity given: the content is the identity
        doc_id = "sha1:" + short_hash(f"{title}\n{text}")
    return RawArticle(
        doc_id=doc_id,
        text=text,
        title=title,
        url=url,
        source=source,
        published_at=published_at,
        authors=authors,
        path=name,
        line=line,
        warnings=warnings,
    )


def _refuse_lone_surrogates(fields: dict[str, str], name: str, line: int | None) -> None:
    """JSON and YAML can escape half a character (``"\\ud800"``): text that cannot be written
    as UTF-8, so not hashed, indexed or shown; the record is refused naming the field."""
    for key, value in fields.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InputError(name, f"field {key!r} is not valid Unicode (a lone surrogate at character {e.start})",
                             line=line) from None


def _identity(rec: dict[str, Any], key: str, name: str, line: int | None) -> str:
    """``rec[key]`` as text; too long refuses the record (an identity is never truncated)."""
    value = rec.get(key)
    text = "" if value is None else str(value)  # as given: it names the document in the index
    if len(text) > IDENTITY_CHARS:
        raise InputError(name, f"field {key!r} too long ({len(text):,} characters > {IDENTITY_CHARS:,})", line=line)
    return text


def _as_text(value: Any) -> str | None:
    """A metadata value as text: a string as given, a number (or a YAML date) as written; None
    for what is not text (an object, a list, true or false), which a caller warns about and
    does not use - never Python's own spelling of it ("{'name': 'Harbour Times'}")."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, date)) and not isinstance(value, bool):
        return str(value)
    return None


def _capped(rec: dict[str, Any], key: str, limit: int, warnings: list[str]) -> str:
    value = rec.get(key)
    if value is None or value == "":
        return ""
    text = _as_text(value)
    if text is None:
        warnings.append(f"field {key!r} is not text; ignored")
        return ""
    if len(text) > limit:
        warnings.append(f"field {key!r} truncated to {limit:,} characters (was {len(text):,})")
        text = text[:limit]
    return text


def _published(rec: dict[str, Any], warnings: list[str]) -> date | None:
    """The first date field given; one that is not a date leaves the article undated."""
    for key in DATE_FIELDS:
        value = rec.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            return parse_date(value)
        except ValueError as e:
            warnings.append(_undated(key, e))
            return None
    return None


def _undated(key: str, error: ValueError) -> str:
    return f"field {key!r}: {error}; the article is undated"


def _authors(rec: dict[str, Any], warnings: list[str]) -> tuple[str, ...]:
    key = "authors" if rec.get("authors") else "author"
    value = rec.get(key) or ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        warnings.append(f"field {key!r} is not a string or a list; ignored")
        return ()
    texts = [_as_text(a) for a in value]
    if None in texts:
        warnings.append(f"field {key!r}: {texts.count(None)} of its entries not text; ignored")
    names = [a.strip() for a in texts if a is not None and a.strip()]
    if len(names) > MAX_AUTHORS or any(len(a) > AUTHOR_CHARS for a in names):
        warnings.append(f"field {key!r} capped to {MAX_AUTHORS} names of {AUTHOR_CHARS} characters")
    return tuple(a[:AUTHOR_CHARS] for a in names[:MAX_AUTHORS])
