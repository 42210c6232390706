"""ISO/TS 15066 separation formulas and ISO 13855 minimum distances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safetymon.geometry.iso13855 import Iso13855InputError, minimum_distance
from safetymon.geometry.ssm import (
    SsmInputError,
    max_robot_speed,
    max_speed_fixed_stopping,
    protective_separation_distance,
    stopping_from_deceleration,
)


def test_protective_separation_terms() -> None:
    terms = protective_separation_distance(
        human_speed_mps=1.6,
        robot_speed_mps=1.0,
        reaction_time_s=0.1,
        stopping_time_s=0.25,
        stopping_distance_m=0.125,
        intrusion_distance_m=0.2,
        human_uncertainty_m=0.1,
        robot_uncertainty_m=0.02,
    )
    assert terms.S_h_m == pytest.approx(1.6 * 0.35)
    assert terms.S_r_m == pytest.approx(0.1)
    assert terms.protective_separation_distance_m == pytest.approx(0.56 + 0.1 + 0.125 + 0.32)


def test_stopping_from_deceleration() -> None:
    stop = stopping_from_deceleration(2.0, 4.0)
    assert stop.stopping_time_s == pytest.approx(0.5)
    assert stop.stopping_distance_m == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), None])
def test_bad_inputs_name_the_input(bad: float | None) -> None:
    with pytest.raises(SsmInputError, match="human speed"):
        protective_separation_distance(
            human_speed_mps=bad,  # type: ignore[arg-type]
            robot_speed_mps=1.0,
            reaction_time_s=0.1,
            stopping_time_s=0.2,
            stopping_distance_m=0.1,
            intrusion_distance_m=0.2,
            human_uncertainty_m=0.1,
            robot_uncertainty_m=0.02,
        )


def test_zero_deceleration_is_refused() -> None:
    with pytest.raises(SsmInputError, match="deceleration"):
        stopping_from_deceleration(1.0, 0.0)


speeds = st.floats(0.0, 3.0)
times = st.floats(0.0, 1.0)


@settings(max_examples=300, deadline=None)
@given(
    v_h=speeds,
    t_r=times,
    a_s=st.floats(0.2, 20.0),
    c=st.floats(0.0, 1.0),
    z=st.floats(0.0, 0.3),
    d=st.floats(0.0, 10.0),
)
def test_velocity_scaling_inverts_protective_distance(
    v_h: float, t_r: float, a_s: float, c: float, z: float, d: float
) -> None:
    """At v_r,max the protective distance equals d; any positive v_r,max is safe at d."""
    v_max = max_robot_speed(
        distance_m=d,
        human_speed_mps=v_h,
        reaction_time_s=t_r,
        deceleration_mps2=a_s,
        intrusion_distance_m=c,
        human_uncertainty_m=z,
        robot_uncertainty_m=0.0,
    )
    stop = stopping_from_deceleration(v_max, a_s)
    s_p = protective_separation_distance(
        human_speed_mps=v_h,
        robot_speed_mps=v_max,
        reaction_time_s=t_r,
        stopping_time_s=stop.stopping_time_s,
        stopping_distance_m=stop.stopping_distance_m,
        intrusion_distance_m=c,
        human_uncertainty_m=z,
        robot_uncertainty_m=0.0,
    ).protective_separation_distance_m
    if v_max > 0:
        assert s_p == pytest.approx(d, rel=1e-9, abs=1e-9)
    else:
        assert s_p >= d - 1e-9  # even a standing robot is too close


def test_velocity_scaling_reference_formula() -> None:
    # sqrt(v_h² + (a·T_r)² − 2·a·C' + 2·a·d) − (a·T_r + v_h)
    v = max_robot_speed(
        distance_m=1.5,
        human_speed_mps=1.6,
        reaction_time_s=0.1,
        deceleration_mps2=4.0,
        intrusion_distance_m=0.2,
        human_uncertainty_m=0.1,
        robot_uncertainty_m=0.02,
    )
    expected = math.sqrt(1.6**2 + 0.4**2 - 2 * 4 * 0.32 + 2 * 4 * 1.5) - (0.4 + 1.6)
    assert v == pytest.approx(expected)


def test_fixed_stopping_scaling() -> None:
    # d = v_h(T_r+T_s) + v T_r + S_s + C'  →  v = (2.0 − 1.6·0.6 − 0.3 − 0.3)/0.1 = 4.4
    v = max_speed_fixed_stopping(2.0, 1.6, 0.1, 0.5, 0.3, 0.3)
    assert float(v) == pytest.approx(4.4)
    assert float(max_speed_fixed_stopping(1.0, 1.6, 0.1, 0.5, 0.3, 0.3)) == 0.0
    assert np.isinf(max_speed_fixed_stopping(5.0, 1.6, 0.0, 0.5, 0.3, 0.3))


# Worked examples of ../shared/reference/safety-formulas.md (mm).
@pytest.mark.parametrize(
    ("t", "d", "expected", "k"),
    [(0.32, 14, 512.0, 1600.0), (0.208, 14, 416.0, 2000.0), (0.30, 40, 688.0, 1600.0)],
)
def test_iso13855_worked_examples(t: float, d: float, expected: float, k: float) -> None:
    result = minimum_distance("perpendicular", t, resolution_mm=d)
    assert result.minimum_distance_mm == pytest.approx(expected)
    assert result.K_mm_per_s == k


def test_iso13855_floors_and_other_rules() -> None:
    assert minimum_distance("perpendicular", 0.01, 14).minimum_distance_mm == 100.0
    # K=2000 gives 520 > 500; K=1600 gives 416 < 500 → floor of 500
    assert minimum_distance("perpendicular", 0.26, 14).minimum_distance_mm == 500.0
    assert minimum_distance("perpendicular", 0.1, 60).minimum_distance_mm == pytest.approx(1010.0)
    assert minimum_distance("single-beam", 0.1).minimum_distance_mm == pytest.approx(1360.0)
    parallel = minimum_distance("parallel", 0.1, height_mm=300)
    assert parallel.C_mm == pytest.approx(1080.0)
    assert parallel.minimum_distance_mm == pytest.approx(1240.0)
    assert minimum_distance("parallel", 0.1, height_mm=1000).C_mm == 850.0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"approach": "perpendicular", "stopping_time_s": -1, "resolution_mm": 14}, "stopping"),
        ({"approach": "perpendicular", "stopping_time_s": 0.1}, "resolution is missing"),
        ({"approach": "perpendicular", "stopping_time_s": 0.1, "resolution_mm": 90}, "14..70"),
        ({"approach": "parallel", "stopping_time_s": 0.1, "height_mm": 1200}, "<= 1000"),
        (
            {"approach": "parallel", "stopping_time_s": 0.1, "height_mm": 100, "resolution_mm": 70},
            "15·(d − 50)",
        ),
        ({"approach": "parallel", "stopping_time_s": float("nan"), "height_mm": 100}, "stopping"),
    ],
)
def test_iso13855_refusals(kwargs: dict, fragment: str) -> None:
    with pytest.raises(Iso13855InputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        minimum_distance(**kwargs)
