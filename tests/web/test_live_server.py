"""The live view served for real: a running demo-cell monitor, uvicorn on loopback, urllib.

One demo monitor (its real perception, decision loop, ZeroMQ output and evidence store,
continuing a store seeded with three episodes) is shown by two servers: a read-only one
(no token) and one with a write token.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from safetymon.monitor.decision_loop import CycleRecord
from safetymon.web import LiveServer, MonitorSource, RemoteBindError, attach, create_app
from safetymon.web.messages import EpisodesMessage, HealthMessage, InfoMessage, StateMessage
from tests.web.helpers import DemoCell, SeededEvidence, fetch, running_demo, seed_evidence

TOKEN = "live-view-test-token-0123456789"


class Resets:
    """Decision-loop listener: cycles that carried an operator reset (thread-safe)."""

    def __init__(self) -> None:
        self.seen = threading.Event()

    def __call__(self, record: CycleRecord) -> None:
        if record.cycle.reset_requested:
            self.seen.set()


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DemoCell, SeededEvidence, Resets]]:
    out = tmp_path_factory.mktemp("live-view")
    seeded = seed_evidence(out)
    resets = Resets()
    with running_demo(out, listeners=(resets,)) as cell:
        yield cell, seeded, resets


@pytest.fixture(scope="module")
def viewer(demo) -> Iterator[LiveServer]:
    cell = demo[0]
    server = attach(cell.monitor, cell.config, cell.base_dir, host="127.0.0.1", port=0, token=None)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(demo) -> Iterator[LiveServer]:
    cell = demo[0]
    server = attach(cell.monitor, cell.config, cell.base_dir, host="127.0.0.1", port=0,
                    token=TOKEN)  # fmt: skip
    yield server
    server.stop()


def _wait_for_frames(url: str, frames: int = 3, timeout_s: float = 30.0) -> StateMessage:
    deadline = time.monotonic() + timeout_s
    while True:
        state = StateMessage.model_validate(fetch(url + "/api/state").json())
        if state.state is not None and state.cameras and state.cameras[0].frames >= frames:
            return state
        assert time.monotonic() < deadline, f"no camera frames within {timeout_s} s: {state}"
        time.sleep(0.1)


def _decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a decodable image"
    return image


def test_state_info_and_health_follow_the_monitor(viewer: LiveServer, demo) -> None:
    cell = demo[0]
    assert viewer.port > 0 and viewer.url == f"http://127.0.0.1:{viewer.port}"
    state = _wait_for_frames(viewer.url)
    assert state.site == "demo-cell"
    assert state.state in {"RUN", "SLOW", "STOP"}
    assert state.loop_alive and state.cycle > 0
    assert [c.camera_id for c in state.cameras] == ["cam1"]
    assert [r.robot_id for r in state.robots] == ["arm1"]
    assert state.cameras[0].max_frame_age_s == cell.config.cameras[0].max_frame_age_s
    if state.state == "STOP":
        assert state.reasons and any(c.state == "STOP" for c in state.causes)
    deadline = time.monotonic() + 5.0
    while (newer := StateMessage.model_validate(fetch(viewer.url + "/api/state").json())).cycle \
            <= state.cycle and time.monotonic() < deadline:  # fmt: skip
        time.sleep(0.05)
    assert newer.cycle > state.cycle  # live: the loop keeps deciding
    info = InfoMessage.model_validate(fetch(viewer.url + "/api/info").json())
    assert info.site == "demo-cell" and not info.writable
    assert [c.mjpeg_url for c in info.cameras] == ["/camera/cam1.mjpg"]
    reply = fetch(viewer.url + "/healthz")
    health = HealthMessage.model_validate(reply.json())
    assert reply.status == 200 and health.ok and health.loop_alive
    assert reply.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in reply.headers["content-security-policy"]
    assert reply.headers["x-frame-options"] == "DENY"  # issue 15, finding 12
    assert reply.headers["cross-origin-resource-policy"] == "same-origin"


def test_page_and_its_files_are_served_locally(viewer: LiveServer) -> None:
    page = fetch(viewer.url + "/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    text = page.body.decode()
    assert 'id="state"' in text and "/static/app.js" in text
    assert "http://" not in text and "https://" not in text  # nothing from elsewhere
    script = fetch(viewer.url + "/static/app.js")
    assert script.status == 200 and b"/api/state" in script.body
    assert fetch(viewer.url + "/static/style.css").status == 200


def test_camera_jpeg_and_plan_png_decode(viewer: LiveServer, demo) -> None:
    _wait_for_frames(viewer.url)
    reply = fetch(viewer.url + "/camera/cam1.jpg")
    assert reply.status == 200 and reply.headers["content-type"] == "image/jpeg"
    assert int(reply.headers["x-safetymon-frames"]) > 0  # a real frame, not the placeholder
    frame = _decode(reply.body)
    assert frame.shape == (480, 640, 3)
    plan = fetch(viewer.url + "/plan.png")
    assert plan.status == 200 and plan.headers["content-type"] == "image/png"
    image = _decode(plan.body)
    assert image.shape == (720, 960, 3) and float(image.std()) > 5.0  # a drawing, not blank
    assert fetch(viewer.url + "/camera/nope.jpg").status == 404


def test_mjpeg_stream_sends_decodable_frames(viewer: LiveServer) -> None:
    _wait_for_frames(viewer.url)
    with urllib.request.urlopen(viewer.url + "/camera/cam1.mjpg", timeout=10) as stream:
        assert stream.headers["content-type"] == "multipart/x-mixed-replace; boundary=frame"
        assert stream.readline() == b"--frame\r\n"
        for _ in range(3):
            headers = {}
            while (line := stream.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            assert headers["content-type"] == "image/jpeg"
            body = stream.read(int(headers["content-length"]))
            assert _decode(body).shape == (480, 640, 3)
            assert stream.readline() == b"\r\n" and stream.readline() == b"--frame\r\n"
    assert fetch(viewer.url + "/camera/nope.mjpg").status == 404


def test_episodes_and_snapshots(viewer: LiveServer, demo) -> None:
    seeded = demo[1]
    reply = fetch(viewer.url + "/api/episodes?limit=20")
    assert reply.status == 200
    message = EpisodesMessage.model_validate(reply.json())
    assert message.error is None and message.evidence_db.endswith("evidence.db")
    ids = [e.episode_id for e in message.episodes]
    assert [i for i in ids if i in {seeded.good, seeded.outside, seeded.tampered}] == [
        seeded.tampered, seeded.outside, seeded.good,
    ]  # newest first  # fmt: skip
    good = next(e for e in message.episodes if e.episode_id == seeded.good)
    assert good.worst_state == "STOP" and good.min_distance_m == 0.42
    assert [s.url for s in good.snapshots] == [f"/snapshots/{seeded.good}/cam1.jpg"]
    snapshot = fetch(viewer.url + good.snapshots[0].url)
    assert snapshot.status == 200 and snapshot.body == seeded.photo
    _decode(snapshot.body)
    assert fetch(viewer.url + "/api/episodes?limit=0").status == 400
    assert fetch(viewer.url + "/api/episodes?limit=x").status == 400
    for odd in ("%C2%B2", "%D9%A3", "1%E2%82%80"):  # ², Arabic-Indic 3, 1 + subscript 0
        assert fetch(viewer.url + f"/api/episodes?limit={odd}").status == 400  # was 500
    one = EpisodesMessage.model_validate(fetch(viewer.url + "/api/episodes?limit=1").json())
    assert len(one.episodes) == 1


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/snapshots/{outside}/cam1.jpg", 403),  # record names a file outside the folder
        ("/snapshots/{outside}/cam2.jpg", 403),  # ... or above the database folder
        ("/snapshots/{tampered}/cam1.jpg", 409),  # file changed after it was recorded
        ("/snapshots/{good}/cam9.jpg", 404),
        ("/snapshots/../../etc/passwd", 404),
        ("/snapshots/{good}/..%2F..%2F..%2Fetc%2Fpasswd.jpg", 404),
        ("/snapshots/%2E%2E/%2E%2E%2Fevidence.jpg", 404),
        ("/static/..%2F..%2Fweb%2Fapp.py", 404),
        ("/static/../app.py", 404),
    ],
)
def test_path_traversal_is_refused(viewer: LiveServer, demo, path: str, status: int) -> None:
    seeded = demo[1]
    url = viewer.url + path.format(good=seeded.good, outside=seeded.outside,
                                   tampered=seeded.tampered)  # fmt: skip
    reply = fetch(url)
    assert reply.status == status, (path, reply.body[:200])
    assert b"root:" not in reply.body and b"import" not in reply.body


def test_writes_without_a_token_configured_are_forbidden(viewer: LiveServer, demo) -> None:
    resets = demo[2]
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
        reply = fetch(viewer.url + "/api/reset", method="POST", headers=headers)
        assert reply.status == 403
        assert "no token is configured" in reply.json()["error"]
    for method in ("PUT", "DELETE", "PATCH"):
        assert fetch(viewer.url + "/api/state", method=method).status == 403
    assert not resets.seen.is_set()


def test_token_rules_and_reset_reaches_the_decision(admin: LiveServer, demo) -> None:
    resets = demo[2]
    info = InfoMessage.model_validate(fetch(admin.url + "/api/info").json())
    assert info.writable
    missing = fetch(admin.url + "/api/reset", method="POST")
    assert missing.status == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    for bad in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", "Bearer "):
        reply = fetch(admin.url + "/api/reset", method="POST", headers={"Authorization": bad})
        assert reply.status in (401, 403), bad
    assert not resets.seen.is_set()
    # reads never need the token
    assert fetch(admin.url + "/api/state").status == 200
    right = {"Authorization": f"Bearer {TOKEN}"}
    ok = fetch(admin.url + "/api/reset", method="POST", headers=right)
    assert ok.status == 202 and ok.json() == {"reset_requested": True}
    assert resets.seen.wait(5.0), "the decision loop never saw the reset"
    # a write route that does not exist: token checked first, then 405 for the method
    assert fetch(admin.url + "/api/state", method="POST",
                 headers={"Authorization": f"Bearer {TOKEN}"}).status == 405  # fmt: skip


def test_wrong_tokens_are_slowed_and_logged(
    admin: LiveServer, demo, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15, finding 12: ~880 token guesses per second, no back-off, no log."""
    bad = {"Authorization": f"Bearer {TOKEN[::-1]}"}
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="safetymon.web.security"):
        for _ in range(4):
            assert fetch(admin.url + "/api/reset", method="POST", headers=bad).status == 403
    # each failure doubles the wait before the next check: 0.25 + 0.5 + 1 s at least
    assert time.monotonic() - started >= 1.75
    assert any("wrong token from 127.0.0.1" in r.getMessage() for r in caplog.records)
    right = {"Authorization": f"Bearer {TOKEN}"}
    ok = fetch(admin.url + "/api/reset", method="POST", headers=right)  # waits its turn
    assert ok.status == 202


def test_foreign_host_header_is_refused(viewer: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", viewer.port), timeout=5) as conn:
        conn.sendall(b"GET /api/state HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400")
    assert fetch(f"http://localhost:{viewer.port}/healthz").status == 200


def test_non_loopback_bind_is_refused(demo) -> None:
    cell = demo[0]
    with pytest.raises(RemoteBindError, match="not a loopback address"):
        attach(cell.monitor, cell.config, cell.base_dir, host="0.0.0.0", port=0, token=None)
    app = create_app(MonitorSource(cell.monitor, cell.config, cell.base_dir), token=None)
    with pytest.raises(RemoteBindError, match="allow_remote"):
        LiveServer(app, "192.0.2.1", 0)
    with pytest.raises(ValueError, match="at least 16 characters"):
        attach(cell.monitor, cell.config, cell.base_dir, host="127.0.0.1", port=0, token="short")


def test_port_in_use_is_an_oserror_naming_it(viewer: LiveServer, demo) -> None:
    cell = demo[0]
    app = create_app(MonitorSource(cell.monitor, cell.config, cell.base_dir), token=None)
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{viewer.port}"):
        LiveServer(app, "127.0.0.1", viewer.port).start()


class _BrokenPlan(MonitorSource):
    """Fault injection: the floor plan cannot be drawn."""

    def plan_image(self) -> np.ndarray:
        raise RuntimeError("plan drawing failed on purpose")


def test_handler_failure_is_a_500_for_that_request_only(demo, tmp_path: Path) -> None:
    cell = demo[0]
    faults: list[tuple[str, str]] = []
    app = create_app(_BrokenPlan(cell.monitor, cell.config, cell.base_dir), token=None)
    server = LiveServer(app, "127.0.0.1", 0).start()
    try:
        cycles_before = cell.monitor.loop.cycles
        reply = fetch(server.url + "/plan.png")
        assert reply.status == 500 and reply.json() == {"error": "internal error: RuntimeError"}
        assert fetch(server.url + "/api/state").status == 200  # the server serves on
        assert server.alive
        deadline = time.monotonic() + 5
        while cell.monitor.loop.cycles < cycles_before + 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        last = cell.monitor.loop.last
        assert cell.monitor.loop.alive and last is not None
        faults.extend(f for f in last.cycle.faults if f[0] == "INTERNAL_ERROR")
        assert not faults  # nothing reached the monitor
    finally:
        server.stop()
    assert not server.alive
