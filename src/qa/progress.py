"""Progress display for long ingests (rich, on stderr, only on a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RichIngestProgress:
    def __init__(self, progress: object, task: object):
        self._p = progress
        self._task = task
        self.inputs = 0
        self.chunks = 0

    def input_started(self, name: str) -> None:
        self.inputs += 1
        self._update(name)

    def chunks_written(self, n: int) -> None:
        self.chunks += n
        self._update(None)

    def _update(self, name: str | None) -> None:
        fields = {"chunks": self.chunks, "inputs": self.inputs}
        if name is not None:
            from rich.markup import escape

            from qa.errors import printable

            fields["current"] = escape(printable(Path(name).name[-50:]))  # shown as rich markup
        self._p.update(self._task, **fields)  # type: ignore[attr-defined]


class RichFetchProgress(RichIngestProgress):
    """Fetching, then ingesting: feeds done/total, entries new/unchanged/failed, chunks embedded."""

    def __init__(self, progress: object, task: object):
        super().__init__(progress, task)
        self.feeds_total = self.feeds = 0
        self.outcomes = {"new": 0, "unchanged": 0, "failed": 0}

    def feeds_planned(self, n: int) -> None:
        self.feeds_total += n
        self._update(None)

    def feed_done(self, url: str) -> None:
        self.feeds += 1
        self._update(url)

    def entry_done(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self._update(None)

    def _update(self, name: str | None) -> None:
        self._p.update(self._task, feeds=f"{self.feeds}/{self.feeds_total}", **self.outcomes)  # type: ignore[attr-defined]
        super()._update(name)


class NoProgress:
    """Progress that shows nothing (not a terminal, or a library caller)."""

    def input_started(self, name: str) -> None:
        pass

    def chunks_written(self, n: int) -> None:
        pass

    def feeds_planned(self, n: int) -> None:
        pass

    def feed_done(self, url: str) -> None:
        pass

    def entry_done(self, outcome: str) -> None:
        pass


@contextmanager
def ingest_progress(enabled: bool = True) -> Iterator[RichIngestProgress | NoProgress]:
    with _shown(enabled, "[bold]ingesting[/] {task.fields[inputs]} inputs · {task.fields[chunks]} chunks embedded",
                RichIngestProgress) as shown:
        yield shown


@contextmanager
def fetch_progress(enabled: bool = True) -> Iterator[RichFetchProgress | NoProgress]:
    """`qa ingest URL…` and `qa watch`: feeds done/total, entries new/unchanged/failed, then chunks."""
    line = ("[bold]fetching[/] feeds {task.fields[feeds]} · entries {task.fields[new]} new, "
            "{task.fields[unchanged]} unchanged, {task.fields[failed]} failed · {task.fields[chunks]} chunks embedded")
    with _shown(enabled, line, RichFetchProgress, feeds="0/0", new=0, unchanged=0, failed=0) as shown:
        yield shown


@contextmanager
def _shown(enabled: bool, line: str, kind: type, **fields: object) -> Iterator[object]:
    """A transient rich progress line on stderr (only on a terminal), shown through ``kind``."""
    if not enabled or not sys.stderr.isatty():
        yield NoProgress()
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(), TextColumn(line), TextColumn("[dim]{task.fields[current]}"), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    )
    with progress:
        task = progress.add_task("work", total=None, chunks=0, inputs=0, current="", **fields)
        yield kind(progress, task)
