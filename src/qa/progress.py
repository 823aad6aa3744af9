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


class NoProgress:
    """Progress that shows nothing (not a terminal, or a library caller)."""

    def input_started(self, name: str) -> None:
        pass

    def chunks_written(self, n: int) -> None:
        pass


@contextmanager
def ingest_progress(enabled: bool = True) -> Iterator[RichIngestProgress | NoProgress]:
    if not enabled or not sys.stderr.isatty():
        yield NoProgress()
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]ingesting[/] {task.fields[inputs]} inputs · {task.fields[chunks]} chunks embedded"),
        TextColumn("[dim]{task.fields[current]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("ingest", total=None, chunks=0, inputs=0, current="")
        yield RichIngestProgress(progress, task)
