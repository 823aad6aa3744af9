"""What one ingest run did (``IngestReport``) and how it shows progress (``Progress``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from qa.errors import InputError, InputWarning, encodable


class Progress(Protocol):
    """What an ingest tells its display as it goes; every count is an increment. Chunks are
    planned (queued to be embedded) before they are embedded, so embedded never passes planned."""

    def input_started(self, name: str) -> None: ...
    def records_planned(self, n: int) -> None: ...  # records the run will read, when known beforehand (a rebuild)
    def records_read(self, n: int) -> None: ...  # records read, used or not
    def chunks_planned(self, n: int) -> None: ...
    def chunks_embedded(self, n: int) -> None: ...  # after each of the encoder's batches


@dataclass
class IngestReport:
    """What one run did. Each record read in the run counts exactly once (added, updated,
    unchanged, duplicates, skipped or failed), even when two files carry the same id: the last
    record of an id read in a run is the one used, and one it replaces counts as skipped (with a
    warning naming it), or as unchanged when it is the same. An alias
    planned again because the document it duplicated was forgotten (its file pruned, its text
    changed) counts as added or a duplicate only when no read of this run counted it; ``removed``
    counts the documents and aliases forgotten by ``--prune``."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    duplicates: int = 0
    removed: int = 0
    documents: int = 0
    chunks: int = 0
    dates_filled: int = 0  # articles without a date given --published-at's
    dates_overridden: int = 0  # articles whose own date --override-published-at replaced
    encoder: str = ""  # what embedded this run's chunks: "onnx" (the index's export), "sentence-transformers", "" (none)
    errors: list[InputError] = field(default_factory=list)
    warnings: list[InputWarning] = field(default_factory=list)

    def error(self, err: InputError) -> None:
        self.errors.append(err)
        if err.failed:
            self.failed += 1
        else:
            self.skipped += 1

    def warn(self, path: str, warning: str, line: int | None = None) -> None:
        """Something the user should know that lost nothing and failed nothing."""
        self.warnings.append(InputWarning(encodable(path), line, encodable(warning)))  # a date field's "\ud800" too

    def to_dict(self) -> dict[str, Any]:
        """The `--json` contract: every count in field order, then errors and warnings."""
        counts = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("errors", "warnings")}
        return {**counts, "errors": [e.to_dict() for e in self.errors], "warnings": [w.to_dict() for w in self.warnings]}
