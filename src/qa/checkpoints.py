"""Test seam (not a user feature): pause a writer at a named stage so a test can SIGKILL it there.

The crash-safety tests kill `qa ingest`, `qa watch`, `qa index rebuild` and `qa index rm` at moments they
choose instead of after wall-clock delays, so the same moments are hit on a fast machine and a
slow one. The writer calls ``checkpoint("stage")`` at each such moment; it does nothing unless the
environment names that stage:

    QA_TEST_PAUSE_AT=stage[:N]     pause the N-th time ``stage`` is reached (default: the first)
    QA_TEST_PAUSE_MARKER=path      file written (atomically: "stage N pid") once paused

Paused, the process sleeps until it is killed; if nobody kills it within
``QA_TEST_PAUSE_SECONDS`` (default 600) it exits at once with status 75, as if it had been
killed, so a failed test leaves no writer holding the index lock forever.

Stages (in the order a write reaches them; ``*`` = reached once per batch or file):

    urls-fetched        `qa ingest URL` / `qa watch`: every URL is fetched and read, nothing written
    batch-embedded*     a batch of chunks is embedded, nothing of it written (ingest, rebuild)
    chroma-written*     the batch is in the new generation's Chroma store only
    catalog-committed*  the batch is in Chroma, the exact-search/BM25 writers and the catalog
    generation-copying* one more file of the live generation was copied into the new one
    before-publish      the new generation is fsynced and CURRENT.tmp written; CURRENT is old
    after-publish       CURRENT names the new generation; older ones are not removed yet
    announced           (Chroma server) replicas are told the new version; deleted rows not collected yet

The environment is read once, at import: unset, ``checkpoint`` is a lookup and a return.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_AT = "QA_TEST_PAUSE_AT"
MARKER = "QA_TEST_PAUSE_MARKER"
PAUSE_SECONDS = "QA_TEST_PAUSE_SECONDS"
EXIT_UNKILLED = 75  # EX_TEMPFAIL: the pause ran out without the expected kill

STAGES = (
    "urls-fetched",
    "batch-embedded",
    "chroma-written",
    "catalog-committed",
    "generation-copying",
    "before-publish",
    "after-publish",
    "announced",
)


def _target(value: str | None) -> tuple[str, int] | None:
    """``"stage:N"`` → (stage, N); None when unset. An unknown stage is an error, not a no-op."""
    if not value:
        return None
    stage, _, nth = value.partition(":")
    if stage not in STAGES:
        raise ValueError(f"{PAUSE_AT}={value!r}: unknown stage (one of: {', '.join(STAGES)})")
    return stage, int(nth) if nth else 1


_TARGET = _target(os.environ.get(PAUSE_AT))
_seen: dict[str, int] = {}


def checkpoint(name: str) -> None:
    """Pause here, until killed, if the test environment names this stage (see module doc)."""
    if _TARGET is None or _TARGET[0] != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == _TARGET[1]:
        _pause(name, _seen[name])


def _pause(name: str, nth: int) -> None:
    marker = os.environ.get(MARKER)
    if marker:
        tmp = Path(f"{marker}.{os.getpid()}.tmp")
        tmp.write_text(f"{name} {nth} {os.getpid()}\n")
        os.replace(tmp, marker)
    deadline = time.monotonic() + float(os.environ.get(PAUSE_SECONDS, "600"))
    while time.monotonic() < deadline:
        time.sleep(0.1)
    os._exit(EXIT_UNKILLED)  # like a kill: no cleanup, no publish
