"""Reading, cleaning, chunking and indexing articles.

The package's interface (what ``qa.Assistant`` and tools use); the modules behind it may change:
read (records → accepted articles), plan (the decisions), execute (embed and write), pipeline
(``ingest`` and ``rebuild`` wiring them), report. Lazy, so that importing one loader does not
import the whole pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.ingest.pipeline import ingest, rebuild
    from qa.ingest.read import accept, read_articles
    from qa.ingest.report import IngestReport, Progress

__all__ = ["IngestReport", "Progress", "accept", "ingest", "read_articles", "rebuild"]

_HOME = {  # name → the module that defines it
    "IngestReport": "report",
    "Progress": "report",
    "accept": "read",
    "read_articles": "read",
    "ingest": "pipeline",
    "rebuild": "pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        from importlib import import_module

        return getattr(import_module(f"qa.ingest.{_HOME[name]}"), name)
    raise AttributeError(name)
