"""The test-only pause hook (qa.checkpoints): inert unless asked, pauses at the N-th time a stage
is reached, fails loudly on an unknown stage, never outlives its pause."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from qa.checkpoints import EXIT_UNKILLED, MARKER, PAUSE_AT, PAUSE_SECONDS, checkpoint

SCRIPT = (
    "from qa.checkpoints import checkpoint\n"
    "checkpoint('after-publish'); print('a', flush=True)\n"
    "checkpoint('before-publish'); print('b', flush=True)\n"
    "checkpoint('before-publish'); print('c', flush=True)\n"
)


def _run(pause_at: str, marker: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, PAUSE_AT: pause_at, MARKER: str(marker), PAUSE_SECONDS: "0.2"}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )


def test_inert_without_the_environment_variable():
    assert PAUSE_AT not in os.environ
    checkpoint("before-publish")  # returns at once


def test_pauses_at_the_nth_time_the_stage_is_reached(tmp_path):
    res = _run("before-publish:2", tmp_path / "m")
    assert res.returncode == EXIT_UNKILLED  # nobody killed it: it exits, without going on
    assert res.stdout.split() == ["a", "b"]
    stage, nth, pid = (tmp_path / "m").read_text().split()
    assert (stage, nth) == ("before-publish", "2") and int(pid) > 0


def test_unknown_stage_fails_loudly(tmp_path):
    res = _run("before-pubish", tmp_path / "m")
    assert res.returncode != 0 and "unknown stage" in res.stderr and "before-pubish" in res.stderr
    assert res.stdout == "" and not (tmp_path / "m").exists()
