"""Reading, cleaning, chunking and indexing articles.

The package's interface (what ``qa.Assistant`` and tools use); the modules behind it may change.
Lazy, so that importing one loader does not import the whole pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.ingest import IngestReport, Progress, accept, ingest, read_articles, rebuild

__all__ = ["IngestReport", "Progress", "accept", "ingest", "read_articles", "rebuild"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from qa.ingest import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
