"""Canonical JSON: one text per value, round trips, refuses what JSON cannot say exactly."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safetymon.evidence.canonical import (
    GENESIS_HASH,
    CanonicalJSONError,
    body_hash,
    canonical_json,
    record_body,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@given(json_values)
def test_canonical_text_round_trips_and_is_stable(value: object) -> None:
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text
    assert "\n" not in text


def test_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "zoné"], "c": None}) == (
        '{"a":[1.5,"zoné"],"b":1,"c":null}'
    )
    body = record_body("test", "2026-05-01T08:00:00.000000Z", GENESIS_HASH, {"x": 1})
    assert body == (
        '{"kind":"test","payload":{"x":1},"prev":"' + "0" * 64
        + '","time_utc":"2026-05-01T08:00:00.000000Z"}'
    )  # fmt: skip
    assert body_hash(body) == hashlib.sha256(body.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": {"b": float("nan")}}, "a.b: non-finite float nan"),
        ([1, -float("inf")], r"\[1\]: non-finite float -inf"),
        ({"t": (1, b"x")}, r"t\[1\]: bytes is not a JSON type"),
        ({2: "x"}, r"\(top level\): non-string key 2"),
    ],
)
def test_non_json_values_are_refused_naming_the_field(value: object, message: str) -> None:
    with pytest.raises(CanonicalJSONError, match=message):
        canonical_json(value)
