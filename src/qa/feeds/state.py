"""What qa remembers between fetches, in ``INDEX/fetch.sqlite3``: each URL's validators (ETag,
Last-Modified) for conditional GET, each feed entry's version and document, each source's last
poll.

Crash safety: a run saves its changes in one SQLite transaction, and only after the index it
ingested into is published — so the state never claims what the published index lacks. Killed
before the save, the next run fetches again (a 200 instead of a 304) and finds the documents
unchanged: it costs a request, never a document."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from qa.feeds.fetch import Validators

FILE = "fetch.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS validators (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, doc_id TEXT);
CREATE TABLE IF NOT EXISTS entries (feed TEXT, key TEXT, version TEXT, doc_id TEXT, failures INTEGER,
                                    PRIMARY KEY (feed, key));
CREATE TABLE IF NOT EXISTS polls (url TEXT PRIMARY KEY, polled_at REAL, ok INTEGER, message TEXT);
"""


@dataclass(frozen=True)
class EntryState:
    version: str
    doc_id: str | None  # the document it became (None: not yet)
    failures: int  # runs in a row in which it failed


@dataclass(frozen=True)
class Poll:
    polled_at: float  # time.time() of the last poll
    ok: bool
    message: str


@dataclass
class Changes:
    """What one run learned, saved together after its publish."""

    validators: dict[str, tuple[Validators, str | None]] = field(default_factory=dict)  # url → (validators, doc_id)
    entries: dict[tuple[str, str], EntryState] = field(default_factory=dict)  # (feed, key) → state
    polls: dict[str, Poll] = field(default_factory=dict)


class FetchState:
    def __init__(self, index_root: Path):
        self.path = index_root / FILE
        self._db: sqlite3.Connection | None = None

    def _conn(self, *, create: bool = False) -> sqlite3.Connection | None:
        if self._db is None and (create or self.path.exists()):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            self._db.executescript(_SCHEMA)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def validators(self, url: str) -> tuple[Validators, str | None]:
        db = self._conn()
        row = db.execute("SELECT etag, last_modified, doc_id FROM validators WHERE url=?", (url,)).fetchone() if db else None
        return (Validators(row[0], row[1]), row[2]) if row else (Validators(), None)

    def entries_of(self, feed: str) -> dict[str, EntryState]:
        db = self._conn()
        rows = db.execute("SELECT key, version, doc_id, failures FROM entries WHERE feed=?", (feed,)) if db else ()
        return {r[0]: EntryState(r[1], r[2], r[3]) for r in rows}

    def polls(self) -> dict[str, Poll]:
        db = self._conn()
        rows = db.execute("SELECT url, polled_at, ok, message FROM polls") if db else ()
        return {r[0]: Poll(r[1], bool(r[2]), r[3] or "") for r in rows}

    def save(self, changes: Changes) -> None:
        """Everything in one transaction: all of it is saved, or (killed) none of it."""
        db = self._conn(create=True)
        assert db is not None
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO validators VALUES (?, ?, ?, ?)",
                [(url, v.etag, v.last_modified, doc) for url, (v, doc) in changes.validators.items()],
            )
            db.executemany(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)",
                [(feed, key, e.version, e.doc_id, e.failures) for (feed, key), e in changes.entries.items()],
            )
            db.executemany(
                "INSERT OR REPLACE INTO polls VALUES (?, ?, ?, ?)",
                [(url, p.polled_at, int(p.ok), p.message) for url, p in changes.polls.items()],
            )

    def forget(self, url: str) -> None:
        """A source no longer followed: its poll record and entries go (its documents stay)."""
        db = self._conn()
        if db is None:
            return
        with db:
            db.execute("DELETE FROM polls WHERE url=?", (url,))
            db.execute("DELETE FROM entries WHERE feed=?", (url,))
            db.execute("DELETE FROM validators WHERE url=?", (url,))
