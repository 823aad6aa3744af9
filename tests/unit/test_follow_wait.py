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


def test_serve_follows_that_schedule_and_says_a_repeated_failure_once(tmp_path, capsys) -> None:
    """`qa serve`'s follower thread (server.app._follow) on a folder whose catch-up really fails
    (it is no replica): attempts space out as follow_wait says — a poll every 0.02 s without it
    would make ~50 attempts in a second — and the same failure is printed once; stopping ends it."""
    import threading
    import time

    from qa.assistant import Assistant
    from qa.server.app import _follow
    from qa.settings import Settings

    bot = Assistant(Settings(index=tmp_path / "index", replica_poll_seconds=0.02))
    attempts: list[float] = []
    catch_up = bot.catch_up

    def counted():  # a spy: the real catch-up runs and fails
        attempts.append(time.monotonic())
        return catch_up()

    bot.catch_up = counted  # type: ignore[method-assign]
    stop = threading.Event()
    follower = threading.Thread(target=_follow, args=(bot, stop), daemon=True)
    follower.start()
    time.sleep(1.0)  # waits 0.02, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64: at most 7 attempts in a second
    stop.set()
    follower.join(timeout=5)
    assert not follower.is_alive()
    assert 2 <= len(attempts) <= 8, attempts
    assert capsys.readouterr().err.count("qa: replica: index") == 1  # "... is not a replica", once
