"""The sources a user follows, kept in ``INDEX/sources.json``: changed only by ``qa sources
add/rm`` (never by a poll), under a lock, by an atomic replace — so no kill and no concurrent
command can leave it half written or lose an addition."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from qa.errors import QAError, UsageError
from qa.feeds.urls import looks_like_url, web_url_problem
from qa.index.generations import atomic_write_text, exclusive
from qa.settings import parse_duration

FILE = "sources.json"
LOCK = ".sources.lock"
NAME_CHARS = 100


@dataclass(frozen=True)
class Source:
    url: str
    name: str = ""
    every: str = "30m"

    @property
    def seconds(self) -> float:
        return parse_duration(self.every)

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "every_seconds": self.seconds}


class SourceList:
    def __init__(self, index_root: Path):
        self.root = index_root
        self.path = index_root / FILE

    def load(self) -> list[Source]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        try:
            data = json.loads(text)
            sources = [Source(str(s["url"]), str(s.get("name") or ""), str(s.get("every") or "30m"))
                       for s in data["sources"]]
            for source in sources:
                parse_duration(source.every)
            return sources
        except (ValueError, KeyError, TypeError) as e:
            raise QAError(f"{self.path}: not a source list qa wrote ({type(e).__name__}: {e}); fix or remove it") from None

    def add(self, url: str, *, every: str | None, name: str | None, default_every: str) -> tuple[Source, bool]:
        """Follow ``url`` (or change how an already followed one is polled); returns the source and
        whether it is new."""
        url = url.strip()
        problem = web_url_problem(url)
        if problem:
            raise UsageError(f"{url}: {problem}")
        if every is not None:
            try:
                parse_duration(every)
            except ValueError as e:
                raise UsageError(f"--every: {e}") from None
        if name is not None:
            name = " ".join(name.split())
            if not name or len(name) > NAME_CHARS or looks_like_url(name):
                raise UsageError(f"--name: {name!r} is not a usable name (1–{NAME_CHARS} characters, not a URL)")
        with self._locked():
            sources = self.load()
            old = next((s for s in sources if s.url == url), None)
            if name and any(s.name == name and s.url != url for s in sources):
                raise UsageError(f"--name: {name!r} already names another source")
            new = Source(url, name if name is not None else (old.name if old else ""),
                         every or (old.every if old else default_every))
            self._write([new if s.url == url else s for s in sources] if old else [*sources, new])
        return new, old is None

    def remove(self, url_or_name: str) -> Source:
        missing = QAError(f"no source with URL or name {url_or_name!r} (see qa sources ls)")
        if not self.path.exists():  # nothing to remove: create no folder, no lock file
            raise missing
        with self._locked():
            sources = self.load()
            gone = next((s for s in sources if url_or_name in (s.url, s.name)), None)
            if gone is None:
                raise missing
            self._write([s for s in sources if s is not gone])
        return gone

    def _locked(self):  # type: ignore[no-untyped-def]
        self.root.mkdir(parents=True, exist_ok=True)
        return exclusive(self.root / LOCK)

    def _write(self, sources: list[Source]) -> None:
        body = {"sources": [asdict(s) for s in sources]}
        atomic_write_text(self.path, json.dumps(body, ensure_ascii=False, indent=2) + "\n")
