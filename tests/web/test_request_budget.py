"""The live view's request budget (issue 15, finding 7): polling cannot starve the loop.

``GET /api/zones`` at 81/s or ``POST /api/zones/preview`` at 9/s (no token needed) took the
100 Hz decision loop to 61 Hz. Each client address now spends from token buckets, heavy
routes from a small one. The loop's rate under load is measured by
``benchmarks/bench_live_view.py``; here: the bookkeeping with a hand clock, and the real
server answering 429 to one address while another is served.
"""

from __future__ import annotations

import http.client
import logging
import time
import urllib.request
from collections.abc import Iterator

import pytest

from safetymon.web import LiveServer, attach
from safetymon.web.app import MAX_STREAMS_PER_CLIENT
from safetymon.web.security import OVER_BUDGET_DELAY_S, RequestBudget, is_heavy
from tests.web.helpers import Clock, DemoCell, running_demo


@pytest.mark.parametrize(
    ("method", "path", "heavy"),
    [
        ("GET", "/api/zones", True),
        ("POST", "/api/zones/preview", True),
        ("GET", "/api/episodes", True),
        ("GET", "/snapshots/7/cam1.jpg", True),
        ("GET", "/camera/cam1.jpg", True),
        ("GET", "/camera/cam1.mjpg", False),  # a stream: one request, slots limit it
        ("GET", "/api/state", False),
        ("GET", "/plan.png", False),
        ("POST", "/api/zones/save", False),  # needs the token (and its own throttle)
        ("GET", "/", False),
    ],
)
def test_heavy_routes(method: str, path: str, heavy: bool) -> None:
    assert is_heavy(method, path) is heavy


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    clock = Clock()
    budget = RequestBudget(heavy_rate_hz=4.0, heavy_burst=8.0, clock=clock)
    assert [budget.spend("a", True) for _ in range(9)] == [True] * 8 + [False]
    clock.now += 0.25  # one request refilled
    assert budget.spend("a", True) and not budget.spend("a", True)
    clock.now += 10.0  # refills to the burst, never beyond
    assert sum(budget.spend("a", True) for _ in range(20)) == 8


def test_clients_and_kinds_have_their_own_buckets() -> None:
    clock = Clock()
    budget = RequestBudget(light_rate_hz=20, light_burst=2, heavy_rate_hz=1, heavy_burst=1,
                           clock=clock)  # fmt: skip
    assert budget.spend("a", True) and not budget.spend("a", True)
    assert budget.spend("a", False) and budget.spend("a", False)  # light budget untouched
    assert budget.spend("b", True)  # another address is not affected


def test_only_the_newest_clients_are_remembered() -> None:
    """Memory stays bounded: a bucket untouched while ``2 * max_clients`` newer ones came is
    forgotten (that client starts with a full bucket again, as a new one would)."""
    clock = Clock()
    budget = RequestBudget(heavy_rate_hz=0.001, heavy_burst=1, max_clients=1, clock=clock)
    assert budget.spend("a", True) and not budget.spend("a", True)
    assert budget.spend("b", True) and not budget.spend("b", True)
    assert not budget.spend("a", True)  # two buckets: a still remembered (now the newest)
    assert budget.spend("c", True)  # three buckets for a limit of two: b's (oldest) goes
    assert budget.spend("b", True)  # b was forgotten: a full bucket again


def test_refusals_are_logged_at_most_every_ten_seconds(caplog) -> None:
    clock = Clock()
    budget = RequestBudget(heavy_rate_hz=1, heavy_burst=1, log_every_s=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="safetymon.web.security"):
        budget.spend("10.0.0.9", True)
        for _ in range(5):
            budget.spend("10.0.0.9", True)
        clock.now += 10.0
        for _ in range(12):
            budget.spend("10.0.0.9", True)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all("10.0.0.9 is over its request budget" in m for m in lines)
    # the first refusal is logged at once; the next warning counts the 4 between and itself
    assert "1 refused" in lines[0] and "5 refused" in lines[1]


# -- the real server ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoCell, LiveServer]]:
    with running_demo(tmp_path_factory.mktemp("budget")) as cell:
        server = attach(cell.monitor, cell.config, cell.base_dir, host="127.0.0.1", port=0,
                        token=None)  # fmt: skip
        try:
            yield cell, server
        finally:
            server.stop()


def _get(server: LiveServer, path: str, source: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=10, source_address=(source, 0)
    )
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_a_client_in_a_loop_gets_429_and_another_address_is_still_served(served) -> None:
    _, server = served
    responses = []
    started = time.monotonic()
    for _ in range(40):
        responses.append(_get(server, "/api/zones", "127.0.0.1"))
    statuses = [response.status for response in responses]
    answers = statuses.count(200), statuses.count(429)
    assert answers[0] >= 20 and answers[1] > 0 and sum(answers) == 40, statuses
    # a refusal of the loop itself (a request after one that waited 0.25 s may find the
    # bucket refilled by then, so a 41st request is not certain to be refused)
    refused = [response for response in responses if response.status == 429]
    assert all(response.getheader("retry-after") == "1" for response in refused)
    # each refusal waited: a loop gets a few answers per second, not hundreds
    assert time.monotonic() - started >= answers[1] * OVER_BUDGET_DELAY_S
    assert _get(server, "/api/zones", "127.0.0.2").status == 200  # another address
    time.sleep(1.0)  # 4 heavy requests per second refill
    assert _get(server, "/api/zones", "127.0.0.1").status == 200


def test_stream_slots_per_client(served) -> None:
    _, server = served
    time.sleep(2.0)  # the light budget of 127.0.0.3 is fresh anyway; let frames flow
    streams = []
    try:
        for _ in range(MAX_STREAMS_PER_CLIENT):
            connection = http.client.HTTPConnection(
                "127.0.0.1", server.port, timeout=10, source_address=("127.0.0.3", 0)
            )
            connection.request("GET", "/camera/cam1.mjpg")
            response = connection.getresponse()
            assert response.status == 200
            assert response.readline() == b"--frame\r\n"
            streams.append(connection)
        assert _get(server, "/camera/cam1.mjpg", "127.0.0.3").status == 429
        other = urllib.request.urlopen(
            f"http://127.0.0.1:{server.port}/camera/cam1.mjpg", timeout=10
        )  # another address still gets a stream
        assert other.status == 200
        other.close()
    finally:
        for connection in streams:
            connection.close()
    deadline = time.monotonic() + 10
    while _get(server, "/camera/cam1.jpg", "127.0.0.4").status != 200:  # slots freed
        assert time.monotonic() < deadline
        time.sleep(0.2)
