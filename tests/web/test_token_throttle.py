"""Wrong live-view tokens are slowed and logged (issue 15, finding 12): ~880 guesses per
second went through with no back-off and no log."""

from __future__ import annotations

import logging

import pytest

from safetymon.web.security import TokenThrottle
from tests.web.helpers import Clock


def test_each_failure_doubles_the_wait_up_to_the_cap() -> None:
    clock = Clock()
    throttle = TokenThrottle(first_delay_s=0.25, max_delay_s=2.0, clock=clock)
    assert throttle.wait_s("10.0.0.1") == 0.0
    waits = []
    for _ in range(6):
        clock.now += throttle.wait_s("10.0.0.1")  # the client waits its turn, then fails
        throttle.failed("10.0.0.1")
        waits.append(throttle.wait_s("10.0.0.1"))
    assert waits == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert throttle.wait_s("10.0.0.2") == 0.0  # another client is not slowed


def test_parallel_failures_queue_instead_of_multiplying() -> None:
    clock = Clock()
    throttle = TokenThrottle(first_delay_s=0.25, max_delay_s=8.0, clock=clock)
    for _ in range(3):  # three guesses sent at the same instant
        throttle.failed("c")
    assert throttle.wait_s("c") == pytest.approx(0.25 + 0.5 + 1.0)


def test_success_and_silence_reset_the_client() -> None:
    clock = Clock()
    throttle = TokenThrottle(first_delay_s=0.25, forget_s=60.0, clock=clock)
    throttle.failed("c")
    throttle.succeeded("c")
    assert throttle.wait_s("c") == 0.0
    for _ in range(4):
        throttle.failed("c")
    clock.now += 61.0
    assert throttle.wait_s("c") == 0.0
    throttle.failed("c")
    clock.now += throttle.wait_s("c")
    assert throttle.wait_s("c") == 0.0  # counted from one again: 0.25 s, now passed


def test_failures_are_logged_at_most_once_per_period(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    throttle = TokenThrottle(log_every_s=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="safetymon.web.security"):
        for _ in range(5):
            throttle.failed("192.0.2.7")
            clock.now += 1.0
        clock.now += 10.0
        throttle.failed("192.0.2.7")
    lines = [r.getMessage() for r in caplog.records if "wrong token" in r.getMessage()]
    assert len(lines) == 2 and all("192.0.2.7" in line for line in lines)
    assert "(5 in the last period" in lines[1]  # the four unlogged ones and this one


def test_the_client_table_is_bounded() -> None:
    throttle = TokenThrottle(max_clients=3, clock=Clock())
    for index in range(10):
        throttle.failed(f"client-{index}")
    assert throttle.wait_s("client-0") == 0.0 and throttle.wait_s("client-9") > 0.0
