"""Items kept in order while an ingest reads its inputs (``qa.ingest.plan.Planner.take``), in
bounded memory: up to ``MEMORY_BYTES`` in memory, the rest in an unnamed temporary file."""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

MEMORY_BYTES = 64 * 1024 * 1024


class Spool(Generic[T]):
    def __init__(self, memory_bytes: int = MEMORY_BYTES):
        self._memory_bytes = memory_bytes
        self._file = tempfile.SpooledTemporaryFile(max_size=memory_bytes)
        self._count = 0

    def add(self, item: T) -> None:
        pickle.dump(item, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._count += 1

    def drain(self) -> Iterator[T]:
        """Every item in the order added, once; the spool is empty after (its file gone).
        Only what this process wrote to its own unnamed file is unpickled."""
        file, count = self._file, self._count
        self._file, self._count = tempfile.SpooledTemporaryFile(max_size=self._memory_bytes), 0
        with file:
            file.seek(0)
            for _ in range(count):
                yield pickle.load(file)  # noqa: S301
