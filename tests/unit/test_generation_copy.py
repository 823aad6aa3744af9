"""A generation copy of a SQLite database is a consistent snapshot even while another process
writes to it (a reader's Chroma may): every copy opens, passes SQLite's integrity check, and
holds a state some transaction committed, never parts of two."""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import time
from pathlib import Path

import pytest

from qa.index.generations import _sqlite_backup

ROWS = 12_000  # ~25 MB: a copy takes long enough for commits to land during it
TOUCH = 300  # rows one transaction changes, spread over the whole file


def _writer(path: str, stop_at: float) -> None:
    db = sqlite3.connect(path, timeout=30)
    rng = random.Random(1)
    while time.time() < stop_at:
        with db:  # one transaction: +1 on TOUCH random rows, and the total they must sum to
            rows = rng.sample(range(1, ROWS + 1), TOUCH)
            db.executemany("UPDATE t SET val = val + 1 WHERE id = ?", [(r,) for r in rows])
            db.execute("UPDATE meta SET total = total + ?", (TOUCH,))
    db.close()


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_copy_under_a_concurrent_writer_is_a_committed_state(tmp_path: Path, journal: str):
    src = tmp_path / "live.sqlite3"
    db = sqlite3.connect(src)
    db.execute(f"PRAGMA journal_mode={journal}")
    db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, val INTEGER, body TEXT)")
    db.execute("CREATE TABLE meta(total INTEGER)")
    db.executemany("INSERT INTO t(id, val, body) VALUES (?, 0, ?)", [(i, "x" * 2000) for i in range(1, ROWS + 1)])
    db.execute("INSERT INTO meta VALUES (0)")
    db.commit()
    db.close()
    proc = multiprocessing.get_context("spawn").Process(target=_writer, args=(str(src), time.time() + 5))
    proc.start()
    try:
        time.sleep(0.5)  # the writer is under way
        copies = 0
        while proc.is_alive() and copies < 25:
            dst = tmp_path / f"copy-{copies}.sqlite3"
            _sqlite_backup(src, dst)
            got = sqlite3.connect(dst)
            assert got.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"copy {copies} is corrupt"
            total = got.execute("SELECT sum(val) FROM t").fetchone()[0]
            recorded = got.execute("SELECT total FROM meta").fetchone()[0]
            assert total == recorded, f"copy {copies}: rows sum to {total}, the committed total is {recorded}"
            got.close()
            dst.unlink()
            copies += 1
        assert copies >= 3
    finally:
        proc.join(timeout=30)
