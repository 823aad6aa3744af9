"""Killing `qa ingest` or `qa index rebuild` with SIGKILL at any moment leaves the previous index
fully queryable (a real kill -9 of the real command, then real queries)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import qa_executable, run_json, synthetic_feed
from qa.assistant import Assistant
from qa.catalog import Catalog
from qa.generations import Generations
from qa.ingest.pipeline import ingest
from qa.settings import Settings
from qa.store import IndexReader

pytestmark = pytest.mark.slow

KILL_AFTER = [0.3, 2.0, 4.5, 6.5, 8.5, 11.0, 14.0]


def _start(args: list[str], index: Path) -> subprocess.Popen:
    env = {**os.environ, "QA_WRITE_BATCH_CHUNKS": "48"}  # many small writes: more moments to hit
    return subprocess.Popen([qa_executable(), *args, "--index", str(index)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _assert_consistent_and_queryable(index: Path) -> dict:
    """The published generation opens, its catalog matches its vectors, and search works."""
    reader = IndexReader(Settings(index=index))
    try:
        stats = reader.stats()
        assert reader.vectors.count() == stats["chunks"], "catalog and vectors disagree"
    finally:
        reader.close()
    hits = Assistant(Settings(index=index)).search("harbour bridge storm", 5)
    assert len(hits) == 5 and all(h.text for h in hits)
    return stats


def _kill_at(args: list[str], index: Path, delay: float) -> bool:
    """Run the command and SIGKILL it after ``delay`` s; True when it finished first."""
    proc = _start(args, index)
    time.sleep(delay)
    finished = proc.poll() is not None
    if not finished:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return finished


def test_sigkill_during_ingest_and_rebuild_keeps_previous_index(tmp_path):
    index = tmp_path / "index"
    base = synthetic_feed(tmp_path / "base.jsonl", 60, seed=1)
    extra = synthetic_feed(tmp_path / "extra.jsonl", 160, seed=2, prefix="extra")
    ingest([str(base)], Settings(index=index))
    before = _assert_consistent_and_queryable(index)
    assert before["documents"] == 60

    killed = 0
    for delay in KILL_AFTER:
        finished = _kill_at(["ingest", str(extra)], index, delay)
        stats = _assert_consistent_and_queryable(index)
        if finished:
            break
        killed += 1
        assert stats["documents"] == 60, f"killed after {delay}s but the index changed"
    assert killed >= 4, "the ingest finished too fast to be killed mid-way"

    # a later ingest cleans up what the killed ones left and completes
    done = run_json("ingest", str(extra), index=index)
    assert done["documents"] == 220 and done["added"] == 160
    assert len(Generations(index).all()) <= Settings().keep_generations
    after = _assert_consistent_and_queryable(index)

    for delay in [0.5, 4.0, 7.0, 10.0]:
        finished = _kill_at(["index", "rebuild"], index, delay)
        stats = _assert_consistent_and_queryable(index)
        assert stats["documents"] == 220 and stats["chunks"] == after["chunks"]
        if finished:
            break
    cat = Catalog(Generations(index).current())
    assert cat.stats()["documents"] == 220
