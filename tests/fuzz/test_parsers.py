"""Every input parser under generated input: only its own documented refusal escapes.

Issue 15: "No input can kill a thread" -- a fuzz test feeds every input parser (robot state,
safety frames, live-view JSON, zone edits, config and calibration YAML) and asserts that no
exception escapes but the parser's own error. Hypothesis generates the inputs: random bytes
and text, and mutations of valid messages (so the generator reaches past the first check).
The receivers' and the store's own guards are exercised as the threads use them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from starlette.requests import Request

from safetymon.config.loader import ConfigError, parse_site_config, parse_yaml
from safetymon.config.zone_edit import ZoneEditRequest, preview_zone_edit
from safetymon.perception.calibration.model import parse_calibration
from safetymon.perception.calibration.opencv_import import (
    OpenCVImportError,
    read_opencv_calibration,
)
from safetymon.perception.recorded_detections import RecordedDetectionsError, parse_row
from safetymon.robot.authentication import UnauthenticatedError, verify_line
from safetymon.robot.messages import MessageError, parse_message
from safetymon.robot.store import RobotStateStore, SubmitResult
from safetymon.signals.checker import CheckerConfig, FrameChecker
from safetymon.signals.frame import SafetyFrame, SafetyState, encode_frame
from safetymon.web.messages import IssueInfo, ZoneEditBody
from safetymon.web.zones import _body
from tests.robot.helpers import encode, links_message, robot

REPO = Path(__file__).resolve().parents[2]
DEMO_TEXT = (REPO / "zones" / "demo-cell.yaml").read_text()
EXAMPLES = int(os.environ.get("SAFETYMON_FUZZ_EXAMPLES", "150"))
"""Examples per test (CI: 150; a deeper run: SAFETYMON_FUZZ_EXAMPLES=5000 pytest tests/fuzz)."""
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


def mutate(data: bytes, draw_positions: list[tuple[int, int]]) -> bytes:
    """``data`` with some bytes replaced (position modulo length, new byte value)."""
    out = bytearray(data)
    for position, value in draw_positions:
        if out:
            out[position % len(out)] = value
    return bytes(out)


byte_edits = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8)


# -- robot state -------------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
def test_robot_state_parser_raises_only_message_error(raw: bytes) -> None:
    with contextlib.suppress(MessageError):
        parse_message(raw)


@FUZZ
@given(byte_edits, st.dictionaries(st.text(max_size=12), json_values, max_size=4))
def test_robot_store_answers_every_message(edits, extra) -> None:
    """Mutated valid messages and valid messages with odd extra fields: always an answer."""
    store = RobotStateStore([robot()])
    message = links_message(1, 1.0)
    message.update(extra)
    for raw in (encode(message), mutate(encode(links_message(2, 2.0)), edits)):
        try:
            payload = json.dumps(json.loads(raw)).encode() if raw.startswith(b"{") else raw
        except ValueError:
            payload = raw
        result = store.submit(payload, 10.0, ["arm1"])
        assert isinstance(result, SubmitResult)
    store.snapshot("arm1", 10.0)  # and the store still answers


@FUZZ
@given(st.binary(max_size=300))
def test_hmac_lines_raise_only_unauthenticated(line: bytes) -> None:
    with contextlib.suppress(UnauthenticatedError):
        verify_line(b"k" * 32, line)


# -- safety frames -----------------------------------------------------------------------------
@FUZZ
@given(st.lists(st.binary(max_size=64) | st.tuples(byte_edits).map(lambda e: e[0]), max_size=6))
def test_frame_checker_answers_every_message(items) -> None:
    checker = FrameChecker(CheckerConfig(connection_id=7))
    valid = encode_frame(SafetyFrame(connection_id=7, sequence=5, sender_time_ns=10**9,
                                     state=SafetyState.RUN, speed_scale=1.0))  # fmt: skip
    for index, item in enumerate(items):
        data = mutate(valid, item) if isinstance(item, list) else item
        result = checker.check_bytes(data, 10**9 + index * 10**6)
        assert result.accepted or result.error is not None


# -- live-view JSON ----------------------------------------------------------------------------
def _request(body: bytes) -> Request:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/api/zones/preview", "headers": [],
             "query_string": b""}  # fmt: skip
    return Request(scope, receive)


@FUZZ
@given(st.binary(max_size=500) | json_values.map(lambda v: json.dumps(v).encode()))
def test_zone_edit_body_is_parsed_or_refused(body: bytes) -> None:
    result = asyncio.run(_body(_request(body)))
    assert isinstance(result, (ZoneEditBody, list)) or result.status_code in (400, 413)
    if isinstance(result, list):
        assert all(isinstance(issue, IssueInfo) for issue in result)


# -- zone edits against a real site file -------------------------------------------------------
coordinates = st.floats(allow_nan=True, allow_infinity=True, width=64)


@FUZZ
@given(
    st.lists(st.tuples(coordinates, coordinates), min_size=0, max_size=12),
    st.sampled_from(["keep-out", "caution", "new-zone", "walkway"]),
    st.sampled_from([None, "protective", "warning", "restricted", "envelope"]),
)
def test_zone_edits_are_previewed_or_refused(polygon, zone_id, zone_type) -> None:
    try:
        request = ZoneEditRequest(zone_id=zone_id, polygon=polygon, type=zone_type)
    except ValidationError:
        return
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site.yaml"
        site.write_text(DEMO_TEXT)
        with contextlib.suppress(ConfigError):
            preview_zone_edit(site, request)


# -- configuration and calibration YAML --------------------------------------------------------
@FUZZ
@given(st.text(max_size=400) | json_values.map(lambda v: yaml.safe_dump(v)))
def test_site_yaml_raises_only_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_site_config(parse_yaml(text, "fuzz.yaml"), "fuzz.yaml")


@FUZZ
@given(byte_edits)
def test_mutated_demo_site_raises_only_config_error(edits) -> None:
    text = mutate(DEMO_TEXT.encode(), edits).decode("utf-8", errors="replace")
    with contextlib.suppress(ConfigError):
        parse_site_config(parse_yaml(text, "demo.yaml"), "demo.yaml")


@FUZZ
@given(json_values)
def test_calibration_data_raises_only_config_error(data) -> None:
    with contextlib.suppress(ConfigError):
        parse_calibration(data, "fuzz-calibration.yaml")


@settings(
    max_examples=max(1, EXAMPLES // 3), deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
@given(st.text(max_size=300))
def test_opencv_filestorage_import_raises_only_its_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "camera.yaml"
        path.write_text("%YAML:1.0\n---\n" + text)
        with contextlib.suppress(OpenCVImportError):
            read_opencv_calibration([path])


# -- recorded detections -----------------------------------------------------------------------
@FUZZ
@given(st.text(max_size=120) | st.lists(st.floats() | st.integers(), max_size=12).map(
    lambda values: ",".join(str(v) for v in values)))  # fmt: skip
def test_det_txt_rows_raise_only_their_error(text: str) -> None:
    with contextlib.suppress(RecordedDetectionsError):
        parse_row(text, "det.txt:1", 1)
