"""Killing `qa ingest`, `qa index rebuild` or `qa index rm` with SIGKILL at any moment leaves a
whole, queryable index — the previous one before the publish, the new one after it — and the next
ingest completes and removes what the killed writer left.

The kills land at named stages (``qa.checkpoints``): the real command pauses there and the test
kills it, so the same moments are hit on a fast machine and a slow one. Kills after random delays
are kept as an extra; they accept whatever moment they hit, including "already finished"."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import qa_executable, run_json, synthetic_feed
from qa.assistant import Assistant
from qa.index import chroma_parts
from qa.index.catalog import Catalog
from qa.checkpoints import MARKER, PAUSE_AT, PAUSE_SECONDS, STAGES
from qa.index.generations import Generations
from qa.ingest import ingest
from qa.settings import Settings
from qa.index.reader import IndexReader

pytestmark = pytest.mark.slow

BATCH_CHUNKS = "16"  # several batches per run, so "stage:2" is a moment in the middle of a write
MARKER_TIMEOUT = 300.0  # seconds to reach a stage: generous, CI machines can be very busy
QUERY = "harbour bridge storm"


@dataclass(frozen=True)
class Base:
    """An index of ``ids`` in ``keep_generations`` generations, and a feed of new documents."""

    index: Path
    ids: frozenset[str]
    extra: Path
    extra_ids: frozenset[str]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("sigkill")
    index = root / "index"
    first = synthetic_feed(root / "first.jsonl", 20, seed=1)
    second = synthetic_feed(root / "second.jsonl", 10, seed=3, prefix="second")
    extra = synthetic_feed(root / "extra.jsonl", 16, seed=2, prefix="extra")
    for feed in (first, second):  # two generations: a writer must drop the oldest on publish
        ingest([str(feed)], Settings(index=index))
    assert len(Generations(index).all()) == Settings().keep_generations
    return Base(index, frozenset(_ids(index)), extra, frozenset(f"extra-2-{i}" for i in range(16)))


def _ids(index: Path) -> set[str]:
    cat = Catalog(Generations(index).current())  # type: ignore[arg-type]
    try:
        return set(cat.hashes())
    finally:
        cat.close()


def _copy(base: Base, tmp_path: Path) -> Path:
    index = tmp_path / "index"
    shutil.copytree(base.index, index)
    return index


def _start(args: list[str], index: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    full_env = {**os.environ, "QA_WRITE_BATCH_CHUNKS": BATCH_CHUNKS, **env}
    full_env.pop("QA_INDEX", None)
    with open(log, "wb") as err:
        return subprocess.Popen([qa_executable(), *args, "--index", str(index)], env=full_env,
                                stdout=subprocess.DEVNULL, stderr=err)


def _kill_at_stage(args: list[str], index: Path, stage: str, tmp_path: Path) -> str:
    """Run the command until it pauses at ``stage`` ("name[:N]"), then SIGKILL it. Fails clearly
    if the stage is never reached (a renamed stage must not make the test vacuous)."""
    marker, log = tmp_path / "paused", tmp_path / "stderr.log"
    proc = _start(args, index, {PAUSE_AT: stage, MARKER: str(marker), PAUSE_SECONDS: "900"}, log)
    deadline = time.monotonic() + MARKER_TIMEOUT
    try:
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"`qa {' '.join(args)}` exited {proc.returncode} without reaching "
                            f"stage {stage!r}:\n{log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"`qa {' '.join(args)}` did not reach stage {stage!r} within "
                            f"{MARKER_TIMEOUT:.0f}s:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"not killed at {stage!r}: exit {proc.returncode}"
    return marker.read_text()


def _assert_whole(index: Path, ids: set[str] | frozenset[str]) -> None:
    """The published generation holds exactly ``ids``; catalog, Chroma, the exact-search matrix
    and BM25 agree on its chunks; search answers from those documents only."""
    assert _ids(index) == set(ids)
    reader = IndexReader(Settings(index=index))
    try:
        chunks = reader.stats()["chunks"]
        counts = {
            "chroma": len(reader.vectors.live()), "dense": len(reader.dense), "bm25": len(reader.lexical)
        }
    finally:
        reader.close()
    assert counts == dict.fromkeys(counts, chunks), f"catalog has {chunks} chunks, stores: {counts}"
    bot = Assistant(Settings(index=index))
    try:
        hits = bot.search(QUERY, 5)
    finally:
        bot.close()
    assert len(hits) == 5 and all(h.text for h in hits)
    assert {h.doc_id for h in hits} <= set(ids)


def _assert_next_ingest_recovers(index: Path, base: Base, before: frozenset[str]) -> None:
    """A plain ingest after the kill completes, and removes the killed writer's leftovers."""
    done = run_json("ingest", str(base.extra), index=index)
    new = base.extra_ids - before
    assert (done["added"], done["unchanged"]) == (len(new), len(base.extra_ids) - len(new)), done
    assert done["documents"] == len(before | base.extra_ids)
    _assert_whole(index, before | base.extra_ids)
    gens = Generations(index)
    assert len(gens.all()) <= Settings().keep_generations, [g.name for g in gens.all()]
    assert gens.all()[-1] == gens.current(), "an unpublished generation was left behind"
    assert not list(index.glob(".CURRENT.*"))
    listed = {p for g in gens.all() for p in chroma_parts.parts_of(g)}
    stored = {p.name.removesuffix(".ids.json") for p in (index / chroma_parts.PARTS_DIR).iterdir()}
    assert stored == listed, "a killed writer's Chroma part was left behind"


# (command, stage[:N], documents expected right after the kill: "old" or "new")
INGEST = ["ingest"]
REBUILD = ["index", "rebuild"]
RM = ["index", "rm", "syn-1-3", "second-3-7"]
CASES = [
    (INGEST, "batch-embedded:2", "old"),
    (INGEST, "chroma-written:2", "old"),
    (INGEST, "catalog-committed:2", "old"),
    (INGEST, "generation-copying:5", "old"),
    (INGEST, "before-publish", "old"),
    (INGEST, "after-publish", "new"),
    (REBUILD, "batch-embedded:2", "old"),
    (REBUILD, "chroma-written:2", "old"),
    (REBUILD, "catalog-committed:3", "old"),
    (REBUILD, "before-publish", "old"),
    (REBUILD, "after-publish", "new"),
    (RM, "generation-copying:5", "old"),
    (RM, "before-publish", "old"),
    (RM, "after-publish", "new"),
]


def _expected_after(args: list[str], base: Base) -> frozenset[str]:
    if args == INGEST:
        return base.ids | base.extra_ids
    if args == RM:
        return base.ids - set(RM[2:])
    return base.ids


@pytest.mark.parametrize(
    ("args", "stage", "state"), CASES, ids=[f"{' '.join(c[0][:2])}@{c[1]}" for c in CASES]
)
def test_sigkill_at_stage(
    args: list[str], stage: str, state: str, base: Base, tmp_path: Path
) -> None:
    assert stage.partition(":")[0] in STAGES
    assert set(RM[2:]) <= base.ids
    index = _copy(base, tmp_path)
    command = [*args, str(base.extra)] if args == INGEST else args
    current = Generations(index).current()
    paused = _kill_at_stage(command, index, stage, tmp_path)
    assert paused.split()[0] == stage.partition(":")[0]
    expected = base.ids if state == "old" else _expected_after(args, base)
    _assert_whole(index, expected)
    moved = Generations(index).current() != current
    assert moved == (state == "new"), f"CURRENT {'moved' if moved else 'not moved'}: {stage}"
    _assert_next_ingest_recovers(index, base, expected)


def test_sigkill_after_random_delays(base: Base, tmp_path: Path) -> None:
    """Extra: kills at arbitrary moments (logged) — each leaves the old or the new index, whole;
    a run that finishes before its kill is fine."""
    rng = random.Random()
    index = _copy(base, tmp_path)
    for args, outcomes in (
        (REBUILD, [base.ids]),
        (INGEST + [str(base.extra)], [base.ids, base.ids | base.extra_ids]),
    ):
        for delay in sorted(round(rng.uniform(0.2, 10.0), 2) for _ in range(2)):
            finished = _kill_after(args, index, delay, tmp_path / "stderr.log")
            state = frozenset(_ids(index))
            assert state in outcomes, f"`qa {' '.join(args)}` killed after {delay}s"
            _assert_whole(index, state)
            if finished:
                break
    _assert_next_ingest_recovers(index, base, frozenset(_ids(index)))


def _kill_after(args: list[str], index: Path, delay: float, log: Path) -> bool:
    """Run the command and SIGKILL it after ``delay`` s; True when it finished (with 0) first."""
    proc = _start(args, index, {}, log)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)  # it may still exit on its own in between: both count
    proc.wait(timeout=60)
    assert proc.returncode in (0, -signal.SIGKILL), log.read_text()[-2000:]
    return proc.returncode == 0
