"""Reading records and accepting articles: the one acceptance step every input path goes through
(files, stdin, the Python API, ``POST /ingest``) and the one publication-date rule."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import date

from qa.errors import InputError
from qa.ingest.clean import clean_text
from qa.ingest.loaders import RawArticle, expand_inputs, load_path
from qa.ingest.report import IngestReport, Progress
from qa.ingest.scope import is_file_record, is_relative_record, recorded_path
from qa.progress import NoProgress
from qa.settings import Settings
from qa.types import Article


def to_article(
    raw: RawArticle,
    *,
    published_at: date | None,
    source: str | None,
    override_published_at: date | None = None,
    report: IngestReport | None = None,
) -> Article:
    """The cleaned article; ``published_at`` only fills a missing date, ``override_published_at``
    replaces it (counted in ``report``)."""
    published = publication_date(raw.published_at, published_at, override_published_at, report)
    return Article(
        doc_id=raw.doc_id,
        text=clean_text(raw.text),
        title=" ".join(raw.title.split()),
        url=raw.url,
        source=source if source is not None else raw.source,
        published_at=published,
        authors=raw.authors,
        path=raw.path,
        line=raw.line,
    )


def publication_date(
    own: date | None, fill: date | None, override: date | None, report: IngestReport | None = None
) -> date | None:
    """The one rule for the date flags: a fill never replaces a date the article carries."""
    if override is not None and override != own:
        if report is not None:
            if own is None:
                report.dates_filled += 1
            else:
                report.dates_overridden += 1
        return override
    if own is None and fill is not None:
        if report is not None:
            report.dates_filled += 1
        return fill
    return own


def accept(
    raw: RawArticle,
    name: str,
    settings: Settings,
    report: IngestReport,
    *,
    published_at: date | None = None,
    override_published_at: date | None = None,
    source: str | None = None,
) -> Article | None:
    """The cleaned article of one record read from ``name`` (a file, ``-`` or ``<api>``), or None
    when it is unusable (reported); its loader's warnings go to ``report``. Every input path —
    files, stdin, the Python API and ``POST /ingest`` — goes through here."""
    article = to_article(
        raw, published_at=published_at, override_published_at=override_published_at, source=source, report=report
    )
    if not article.text.strip():
        report.error(InputError(name, "no article text left after cleaning", line=raw.line, failed=False))
        return None
    if len(article.text) > settings.max_text_chars:
        report.error(InputError(name, f"article text too long ({len(article.text):,} characters)", line=raw.line))
        return None
    for warning in raw.warnings:
        report.warn(name, warning, raw.line)
    return article


def read_articles(
    inputs: Iterable[str],
    settings: Settings,
    report: IngestReport,
    *,
    published_at: date | None = None,
    override_published_at: date | None = None,
    source: str | None = None,
    progress: Progress | None = None,
    whole: set[str] | None = None,
) -> Iterator[Article]:
    """Every usable article of the inputs, recorded under the file's absolute resolved path;
    problems go to ``report`` and never stop the stream. A file named twice (a folder and a file
    in it) is read once. ``whole`` gets the recorded path of each file read without a problem
    (every record in it used): what it did not yield, it no longer holds (``Planner.prune``)."""
    progress = progress or NoProgress()
    seen: set[str] = set()
    for path in expand_inputs(inputs, index=settings.resolved_index()):
        if isinstance(path, InputError):  # a folder that cannot be listed
            report.error(path)
            continue
        name = str(path)
        try:
            key = recorded_path(name)
        except ValueError:  # a name no file can have (a NUL byte): its loader reports it
            key = name
        if key in seen:
            continue
        seen.add(key)
        progress.input_started(name)
        clean = True
        try:
            for item in load_path(path, max_bytes=settings.max_file_bytes):
                progress.records_read(1)
                if isinstance(item, InputError):
                    report.error(item)
                    clean = False
                    continue
                item.path = recorded_path(item.path)
                article = accept(
                    item, name, settings, report, published_at=published_at,
                    override_published_at=override_published_at, source=source,
                )
                if article is None:
                    clean = False
                else:
                    yield article
        except InputError as e:
            report.error(e)
            clean = False
        except Exception as e:  # a loader bug must not lose the other inputs
            report.error(InputError(name, f"{type(e).__name__}: {e}"))
            clean = False
        if clean and whole is not None:
            whole.add(recorded_path(name))


def reread(doc_id: str, path: str, settings: Settings, cache: dict[str, dict[str, Article]] | None = None) -> Article | None:
    """``doc_id`` read again from the file ``path`` recorded for it (an alias an older index kept
    without its content; a story whose last-read file is gone), when that file is still there
    and still carries it: its last record of that id, as a run reads it. The file is not one of
    the run's inputs: its problems are not reported again. ``cache``: the files read so far in
    this run (a few), so that many stories of one file read it once. Not shown as the run's progress."""
    from qa.ingest.report import IngestReport

    if is_relative_record(path) or not is_file_record(path) or not os.path.isfile(path):
        return None
    cache = {} if cache is None else cache
    if path not in cache:
        while len(cache) >= 4:
            cache.pop(next(iter(cache)))
        cache[path] = {a.doc_id: a for a in read_articles([path], settings, IngestReport())}
    return cache[path].get(doc_id)
