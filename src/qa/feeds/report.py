"""What a run over URLs did: the ingest report plus what was fetched (``FeedReport``), and how it
shows progress (``FetchProgress``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from qa.ingest.report import IngestReport, Progress


class FetchProgress(Progress, Protocol):
    def feeds_planned(self, n: int) -> None: ...
    def feed_done(self, url: str) -> None: ...
    def entry_done(self, outcome: str) -> None:
        """``outcome``: "new" (fetched), "unchanged" (not fetched again, or 304) or "failed"."""


@dataclass
class FeedResult:
    """One feed or sitemap read in the run."""

    url: str
    name: str = ""
    kind: str = ""  # "RSS 2.0", "Atom", "RDF", "JSON Feed", "sitemap", "news sitemap", "sitemap index"
    status: str = "fetched"  # fetched | not_modified | failed
    entries: int = 0  # entries it lists
    fetched: int = 0  # of those, pages fetched in this run
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FeedReport(IngestReport):
    """The ingest contract plus ``fetched`` (responses with a body), ``not_modified`` (304s) and
    ``feeds`` (one result per feed or sitemap). Each entry counts once in the ingest counts: an
    entry not fetched again because it is already indexed counts as unchanged."""

    fetched: int = 0
    not_modified: int = 0
    feeds: list[FeedResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["feeds"] = [f.to_dict() for f in self.feeds]
        return out
