"""Fall- and gait-aware separation for dynamically stable robots (issue 13, item 4).

The worked example of docs/ROBOT.md ("Dynamically stable robots"), checked number by number:
a humanoid walking at 1.0 m/s toward a person, its base braking at 1.5 m/s².
"""

from __future__ import annotations

import numpy as np
import pytest

from safetymon.config.loader import ConfigError, parse_site_config
from safetymon.safety.inputs import HumanBatch, RobotSnapshot
from safetymon.safety.separation import gather_links, separation
from safetymon.safety.site import compile_site

HEIGHT_M = 1.32  # a Unitree G1 standing (../shared/data/robots/SOURCES.md)


def site(**robot_change: object) -> dict:
    robot = {
        "id": "g1", "kind": "humanoid", "max_speed_mps": 1.0, "reaction_time_s": 0.05,
        "stopping": {"deceleration_mps2": 3.0}, "uncertainty_m": 0.02,
        "stability": {"height_m": HEIGHT_M, "max_base_speed_mps": 1.5,
                      "base_stopping": {"deceleration_mps2": 1.5}},
        **robot_change,
    }  # fmt: skip
    return {
        "site": "counter",
        "cameras": [{"id": "c", "source": 0, "latency_s": 0.0,
                     "floor_homography": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}],
        "robots": [robot],
        "zones": [{"id": "far", "type": "warning", "polygon": [[50, 50], [51, 50], [51, 51]]}],
        "safety": {"human_speed_mps": 1.6, "reaction_time_s": 0.1, "intrusion_distance_m": 0.2,
                   "human_uncertainty_m": 0.1, "human_radius_m": 0.3},
    }  # fmt: skip


def walking(base_velocity: tuple[float, float] | None = (1.0, 0.0)) -> RobotSnapshot:
    """The humanoid at the origin: a torso capsule (0.15 m) moving with its base."""
    velocity = np.array([[*(base_velocity or (0.0, 0.0)), 0.0]])
    return RobotSnapshot(
        "g1", 0.0, np.array([[0.0, 0.0, 0.3]]), np.array([[0.0, 0.0, 1.2]]),
        np.array([0.15]), velocity, velocity.copy(),
        base_xy=np.zeros(2),
        base_velocity=None if base_velocity is None else np.asarray(base_velocity, float),
    )  # fmt: skip


def person_at(x_m: float) -> HumanBatch:
    return HumanBatch.build([1], [(x_m, 0.0)], [(0.0, 0.0)], [0.3], [0.1])


def test_the_worked_example() -> None:
    """T_r = 0.1 + 0.05 s; links at |v| = 1.0 m/s, a_s = 3: T_s = 0.333 s, S_s = 0.167 m;
    base at 1.0 m/s, a_b = 1.5: T_b = 0.667 s, S_b = 0.333 m; C + Z_d + Z_r = 0.32 m.
    S_p = 1.6·(0.15 + 0.333) + 1.0·0.15 + 0.167 + 0.32 + 1.6·0.667 + 0.333 = 2.81 m, measured
    from the fall envelope (radius = the height, 1.32 m) around the base."""
    compiled = compile_site(parse_site_config(site()))
    result = separation(compiled, person_at(6.0), gather_links(compiled, [walking()]), 0.0)
    t_r, t_s, s_s, t_b, s_b = 0.15, 1.0 / 3.0, 1.0 / 6.0, 1.0 / 1.5, 1.0 / 3.0
    expected = 1.6 * (t_r + t_s) + 1.0 * t_r + s_s + 0.32 + 1.6 * t_b + s_b
    assert expected == pytest.approx(2.81, abs=0.005)
    assert result.protective_m[0, 0] == pytest.approx(expected)
    assert result.distance_m[0, 0] == pytest.approx(6.0 - HEIGHT_M - 0.3)  # to the envelope
    assert result.robot_speed_mps[0, 0] == pytest.approx(1.0)


def test_the_same_robot_not_dynamically_stable_may_come_much_closer() -> None:
    """Without the fall envelope and base braking S_p is 1.41 m from the torso capsule."""
    data = site(kind="mobile", stability=None)
    compiled = compile_site(parse_site_config(data))
    result = separation(compiled, person_at(6.0), gather_links(compiled, [walking()]), 0.0)
    assert result.distance_m[0, 0] == pytest.approx(6.0 - 0.15 - 0.3)
    assert result.protective_m[0, 0] == pytest.approx(
        1.6 * (0.15 + 1 / 3) + 0.15 + 1 / 6 + 0.32, abs=1e-9
    )


def test_a_person_inside_the_fall_reach_of_a_standing_humanoid_is_too_close() -> None:
    """Standing still (base and links at rest), a person 1.5 m from the base is inside the
    1.32 m fall reach plus their own radius: distance 0, whatever S_p is."""
    compiled = compile_site(parse_site_config(site()))
    still = walking((0.0, 0.0))
    result = separation(compiled, person_at(1.5), gather_links(compiled, [still]), 0.0)
    assert result.distance_m[0, 0] == 0.0
    assert result.protective_m[0, 0] > 0.3


def test_an_unknown_base_velocity_counts_the_largest_base_speed_toward_the_person() -> None:
    compiled = compile_site(parse_site_config(site()))
    result = separation(compiled, person_at(6.0), gather_links(compiled, [walking(None)]), 0.0)
    assert result.robot_speed_mps[0, 0] == pytest.approx(1.5)
    t_b, s_b = 1.5 / 1.5, 1.5**2 / 3.0
    expected = 1.6 * (0.15 + 1.5 / 3) + 1.5 * 0.15 + 1.5 * 1.5 / 6 + 0.32 + 1.6 * t_b + s_b
    assert result.protective_m[0, 0] == pytest.approx(expected)


def test_measured_base_stopping_data_are_used_as_constants() -> None:
    data = site()
    data["robots"][0]["stability"]["base_stopping"] = {
        "stopping_time_s": 0.9, "stopping_distance_m": 0.5}  # fmt: skip
    compiled = compile_site(parse_site_config(data))
    result = separation(compiled, person_at(6.0), gather_links(compiled, [walking()]), 0.0)
    expected = 1.6 * (0.15 + 1 / 3) + 0.15 + 1 / 6 + 0.32 + 1.6 * 0.9 + 0.5
    assert result.protective_m[0, 0] == pytest.approx(expected)


def test_a_humanoid_without_its_stability_data_is_refused() -> None:
    with pytest.raises(ConfigError, match="stability: a dynamically stable robot"):
        parse_site_config(site(stability=None))
    with pytest.raises(ConfigError, match="not dynamically stable"):
        parse_site_config(site(dynamically_stable=False))


def test_the_robot_store_hands_the_base_point_and_velocity_to_the_decision() -> None:
    """From real state messages: the base pose and velocity of the message, or the base
    velocity differenced from two poses when the message gives none."""
    from safetymon.robot.store import RobotStateStore
    from tests.robot.helpers import encode, links_message

    config = parse_site_config(site()).robots[0]
    store = RobotStateStore([config])
    moving = {"x_m": 2.0, "y_m": 1.0, "yaw_rad": 0.0, "vx_mps": 0.5, "vy_mps": 0.0,
              "yaw_rate_radps": 0.0}  # fmt: skip
    assert store.submit(encode(links_message(1, 0.0, "g1", base=moving)), 10.0).accepted
    snapshot = store.snapshot("g1", 10.0)
    assert snapshot.base_xy == pytest.approx([2.0, 1.0])
    assert snapshot.base_velocity == pytest.approx([0.5, 0.0])
    posed = {"x_m": 2.0, "y_m": 1.0, "yaw_rad": 0.0}
    store = RobotStateStore([config])
    message = links_message(1, 0.0, "g1", base=posed)
    del message["links"]["vel_a"], message["links"]["vel_b"]
    assert store.submit(encode(message), 10.0).accepted
    assert store.snapshot("g1", 10.0).base_velocity is None  # not known yet
    message = links_message(2, 0.1, "g1", base={**posed, "y_m": 1.08})
    del message["links"]["vel_a"], message["links"]["vel_b"]
    assert store.submit(encode(message), 10.1).accepted
    assert store.snapshot("g1", 10.1).base_velocity == pytest.approx([0.0, 0.8])


def test_config_check_separation_counts_base_braking_and_fall_reach() -> None:
    """At the largest base speed 1.5 m/s: T_b = 1 s, S_b = 0.75 m; plus the 1.32 m reach."""
    from safetymon.geometry.site_separation import robot_separation_m

    stable = parse_site_config(site())
    plain = parse_site_config(site(kind="mobile", stability=None))
    extra = robot_separation_m(stable, 0) - robot_separation_m(plain, 0)
    assert extra == pytest.approx(1.6 * 1.0 + 0.75 + HEIGHT_M)
