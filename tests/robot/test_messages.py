"""Wire message parsing: valid messages, and each kind of bad input with a clear detail."""

from __future__ import annotations

import re

import pytest

from safetymon.robot.messages import MessageError, RobotStateMessage, parse_message
from tests.robot.helpers import encode, links_message


def test_valid_message_round_trips() -> None:
    message = parse_message(encode(links_message(7, 12.5)))
    assert message.robot_id == "arm1"
    assert message.sequence == 7
    assert message.links is not None and message.links.b[1] == (0.5, 0.0, 0.8)
    assert parse_message(message.to_json()) == message
    assert b'"schema":"safetymon.robot_state/1"' in message.to_json()


@pytest.mark.parametrize(
    ("raw", "kind", "needle"),
    [
        (b"{not json", "malformed", "not JSON"),
        (b"\xff\xfe", "malformed", "not JSON"),
        (b"[1, 2]", "malformed", "JSON object"),
        (b"x" * 70_000, "malformed", "bytes"),
        (encode(links_message(1, 1.0)).replace(b'"capture_time_s": 1.0', b'"capture_time_s": NaN'),
         "non_finite", "NaN"),
        (encode(links_message(1, 1.0)).replace(b"0.8]", b"Infinity]", 1), "non_finite", "Infinity"),
        (encode(links_message(1, 1.0)).replace(b"0.5, 0.0, 0.8", b"0.5, 1e999, 0.8"),
         "non_finite", "1e999"),
    ],
)  # fmt: skip
def test_bad_bytes_are_classified(raw: bytes, kind: str | None, needle: str | None) -> None:
    if kind is None:
        parse_message(raw)
        return
    with pytest.raises(MessageError) as caught:
        parse_message(raw)
    assert caught.value.kind == kind
    assert needle in caught.value.detail


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schema": "safetymon.robot_state/2"}, "schema"),
        ({"robot_id": "bad id!"}, "robot_id"),
        ({"sequence": -1}, "sequence"),
        ({"sequence": "7"}, "sequence"),
        ({"capture_time_s": None}, "capture_time_s"),
        ({"colour": "red"}, "colour"),
        ({"joints": {"positions": [0.0]}}, "message"),  # both joints and links
        ({"links": {"a": [[0, 0, 0]], "b": [[0, 0, 1], [0, 0, 2]]}}, "links"),
        ({"links": {"a": [[0, 0]], "b": [[0, 0, 1]]}}, "links.a.0"),
        ({"base": {"x_m": 1.0, "y_m": 0.0, "yaw_rad": 0.0, "vx_mps": 0.1}}, "base"),
    ],
)
def test_schema_errors_name_the_field(change: dict, field: str) -> None:
    message = links_message(1, 1.0)
    message.update(change)
    with pytest.raises(MessageError) as caught:
        parse_message(encode(message))
    assert caught.value.kind == "schema"
    assert caught.value.detail.startswith(field) or f"{field}:" in caught.value.detail


def test_missing_geometry_is_a_schema_error() -> None:
    message = links_message(1, 1.0)
    del message["links"]
    with pytest.raises(MessageError, match="exactly one of joints or links"):
        parse_message(encode(message))


def test_model_refuses_non_finite_directly() -> None:
    data = links_message(1, float("inf"))
    with pytest.raises(ValueError, match="capture_time_s"):
        RobotStateMessage.model_validate(data)


def test_examples_in_the_spec_parse(repo) -> None:
    text = (repo / "hw" / "ROBOT_STATE.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 2
    parsed = [parse_message(block.encode()) for block in blocks]
    assert parsed[0].joints is not None and parsed[1].base is not None
    assert parsed[1].base.has_velocity


@pytest.mark.parametrize("session", ["", "has space", "x" * 65, 7])
def test_session_must_be_an_identifier(session: object) -> None:
    with pytest.raises(MessageError, match="session") as caught:
        parse_message(encode(links_message(1, 1.0, session=session)))
    assert caught.value.kind == "schema"


def test_session_is_optional_and_kept() -> None:
    assert parse_message(encode(links_message(1, 1.0))).session is None
    named = parse_message(encode(links_message(1, 1.0, session="a1b2.c-3_")))
    assert named.session == "a1b2.c-3_"


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
        (b'{"a":' * 3_000 + b"1" + b"}" * 3_000, "nested too deeply"),
        (b'{"robot_id": "arm1", "sequence": ' + b"9" * 5000 + b"}", "5000 digits"),
        (b'{"sequence": -' + b"1" * 21 + b"}", "21 digits"),
    ],
)
def test_hostile_json_is_malformed_not_an_exception(raw: bytes, detail: str) -> None:
    """Issue 15, finding 5: these escaped as RecursionError / ValueError."""
    with pytest.raises(MessageError, match=detail) as caught:
        parse_message(raw)
    assert caught.value.kind == "malformed"


def test_a_twenty_digit_integer_is_still_read() -> None:
    with pytest.raises(MessageError) as caught:  # a u64 parses; the schema then judges it
        parse_message(b'{"robot_id": "arm1", "sequence": 18446744073709551615}')
    assert caught.value.kind == "schema"
