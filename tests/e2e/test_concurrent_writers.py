"""Two writers at once lose nothing: concurrent `qa ingest` runs take turns on the writer lock,
and a reader querying meanwhile always sees one whole published generation."""

from __future__ import annotations

import subprocess
import threading

import pytest

from conftest import qa_executable, synthetic_feed
from qa.assistant import Assistant
from qa.index.catalog import Catalog
from qa.index.generations import Generations
from qa.ingest import ingest
from qa.settings import Settings
from qa.index.reader import IndexReader

pytestmark = pytest.mark.slow


def _whole(index) -> int:
    """The published generation's catalog agrees with its vectors; returns its document count."""
    reader = IndexReader(Settings(index=index))
    try:
        stats = reader.stats()
        assert reader.vectors.count() == stats["chunks"], "catalog and vectors disagree"
        return int(stats["documents"])
    finally:
        reader.close()


def test_concurrent_ingests_both_land_and_readers_see_whole_generations(tmp_path):
    index = tmp_path / "index"
    ingest([str(synthetic_feed(tmp_path / "base.jsonl", 10, seed=7, prefix="base"))], Settings(index=index))
    feeds = [synthetic_feed(tmp_path / f"w{i}.jsonl", 40, seed=20 + i, prefix=f"w{i}") for i in range(2)]
    env = {"QA_WRITE_BATCH_CHUNKS": "64"}
    import os

    procs = [
        subprocess.Popen([qa_executable(), "ingest", str(f), "--index", str(index), "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
        for f in feeds
    ]
    seen: list[int] = []
    problems: list[BaseException] = []
    done = threading.Event()
    bot = Assistant(Settings(index=index))  # one assistant, as in `qa serve`, shared by readers

    def read_meanwhile() -> None:
        try:
            while not done.is_set():
                with bot.reading() as reader:
                    stats = reader.stats()
                    assert reader.vectors.count() == stats["chunks"], "catalog and vectors disagree"
                seen.append(int(stats["documents"]))
                assert len(bot.search("harbour bridge storm", 3)) == 3
        except BaseException as e:  # noqa: BLE001 — reported by the test thread
            problems.append(e)

    readers = [threading.Thread(target=read_meanwhile) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        outs = [p.communicate(timeout=900) for p in procs]
    finally:
        done.set()
        for t in readers:
            t.join(timeout=120)
        bot.close()
    assert not problems, problems
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert set(seen) <= {10, 50, 90}, f"a reader saw a half-written index: {sorted(set(seen))}"
    assert _whole(index) == 90
    ids = {a.doc_id for a in Catalog(Generations(index).current()).articles()}
    assert {f"w{i}-{20 + i}-{n}" for i in range(2) for n in range(40)} <= ids
