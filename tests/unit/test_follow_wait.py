"""A replica's catch-up schedule: failures in a row space the attempts out, up to a cap."""

from __future__ import annotations

from qa.server.app import follow_wait
from qa.settings import REPLICA_WAIT_MAX_SECONDS


def test_a_replica_that_keeps_failing_waits_longer_up_to_the_cap_and_a_success_resets() -> None:
    poll = 2.0
    waits = [follow_wait(poll, n) for n in range(12)]
    assert waits[:2] == [poll, poll]  # working, or one failure: the poll interval
    assert waits[2:6] == [4.0, 8.0, 16.0, 32.0]  # then doubled for each failure in a row
    assert max(waits) == REPLICA_WAIT_MAX_SECONDS == waits[-1]
    assert follow_wait(poll, 10_000) == REPLICA_WAIT_MAX_SECONDS  # no overflow after a long outage
    assert follow_wait(120.0, 5) == 120.0  # an interval longer than the cap is kept
