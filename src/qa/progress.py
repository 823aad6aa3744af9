"""Progress display for long ingests and `qa eval` (rich, on stderr, only on a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class RichIngestProgress:
    """One line: inputs begun, records read (of a known total), chunks embedded of those planned
    so far (the total grows as records are read: an ingest streams), the input being read."""

    def __init__(self, progress: object, task: object):
        self._p = progress
        self._task = task
        self.inputs = 0
        self.records = self.records_total = 0
        self.embedded = self.planned = 0
        self.current = ""

    def input_started(self, name: str) -> None:
        self.inputs += 1
        self._update(name)

    def records_planned(self, n: int) -> None:
        self.records_total += n
        self._update(None)

    def records_read(self, n: int) -> None:
        self.records += n
        self._update(None)

    def chunks_planned(self, n: int) -> None:
        self.planned += n
        self._update(None)

    def chunks_embedded(self, n: int) -> None:
        self.embedded += n
        self._update(None)

    def counts(self) -> str:
        """'2 inputs · 412 records read · embedding 96/1,024 chunks', each part once it counts."""
        parts = [_counted(self.inputs, "input")] if self.inputs else []
        if self.records or self.records_total:
            total = f"/{self.records_total:,}" if self.records_total else ""
            parts.append(f"{self.records:,}{total} records read")
        if self.planned:
            parts.append(f"embedding {self.embedded:,}/{self.planned:,} chunks")
        return " · ".join(parts)

    def _update(self, name: str | None) -> None:
        if name is not None:
            from rich.markup import escape

            from qa.errors import printable

            self.current = escape(printable(Path(name).name[-50:]))  # shown as rich markup
        self._p.update(self._task, description=f"[bold]ingesting[/] {self.counts()} [dim]{self.current}")  # type: ignore[attr-defined]


def _counted(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


class RichFetchProgress(RichIngestProgress):
    """Fetching, then ingesting: feeds done/total, entries new/unchanged/failed, chunks embedded."""

    def __init__(self, progress: object, task: object):
        self.feeds_total = self.feeds = 0
        self.outcomes = {"new": 0, "unchanged": 0, "failed": 0}
        super().__init__(progress, task)

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
        if name is not None:
            from rich.markup import escape

            from qa.errors import printable

            self.current = escape(printable(name[-60:]))  # shown as rich markup
        o = self.outcomes
        chunks = f" · embedding {self.embedded:,}/{self.planned:,} chunks" if self.planned else ""
        text = (f"[bold]fetching[/] feeds {self.feeds}/{self.feeds_total} · entries {o['new']} new, "
                f"{o['unchanged']} unchanged, {o['failed']} failed{chunks} [dim]{self.current}")
        self._p.update(self._task, description=text)  # type: ignore[attr-defined]


class NoProgress:
    """Progress that shows nothing (not a terminal, or a library caller)."""

    def input_started(self, name: str) -> None:
        pass

    def records_planned(self, n: int) -> None:
        pass

    def records_read(self, n: int) -> None:
        pass

    def chunks_planned(self, n: int) -> None:
        pass

    def chunks_embedded(self, n: int) -> None:
        pass

    def feeds_planned(self, n: int) -> None:
        pass

    def feed_done(self, url: str) -> None:
        pass

    def entry_done(self, outcome: str) -> None:
        pass


def _rich_progress(*columns: Any) -> Any:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), *columns, TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


@contextmanager
def ingest_progress(enabled: bool = True) -> Iterator[RichIngestProgress | NoProgress]:
    with _shown(enabled, RichIngestProgress) as shown:
        yield shown


@contextmanager
def fetch_progress(enabled: bool = True) -> Iterator[RichFetchProgress | NoProgress]:
    """`qa ingest URL…` and `qa watch`: feeds done/total, entries new/unchanged/failed, then chunks."""
    with _shown(enabled, RichFetchProgress) as shown:
        yield shown


@contextmanager
def _shown(enabled: bool, kind: type[RichIngestProgress]) -> Iterator[Any]:
    """A transient rich progress line on stderr (only on a terminal), shown through ``kind``."""
    if not enabled or not sys.stderr.isatty():
        yield NoProgress()
        return
    with _rich_progress() as progress:
        yield kind(progress, progress.add_task("[bold]working[/]", total=None))


@contextmanager
def eval_progress(enabled: bool = True) -> Iterator[tuple[RichIngestProgress | NoProgress, Callable[[int, int], None]]]:
    """`qa eval` on a terminal (stderr): the ingest of the dataset, then a bar over its questions
    (call the second item with (done, total)); one live display for both."""
    if not enabled or not sys.stderr.isatty():
        yield NoProgress(), lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn

    with _rich_progress(BarColumn(), MofNCompleteColumn()) as progress:
        ingest = RichIngestProgress(progress, progress.add_task("[bold]ingesting[/]", total=None))
        questions = progress.add_task("[bold]questions[/]", total=None, visible=False)

        def advance(done: int, total: int) -> None:
            progress.update(ingest._task, visible=False)
            progress.update(questions, completed=done, total=total, visible=True)

        yield ingest, advance
