"""Per-cycle separation: the kernel cutoff the decision chooses never hides a firing rule."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from safetymon.config.loader import parse_site_config
from safetymon.geometry.kernels import human_robot_separation
from safetymon.safety.inputs import HumanBatch, RobotSnapshot
from safetymon.safety.separation import gather_links, separation
from safetymon.safety.site import compile_site

SITE = parse_site_config(
    {
        "site": "sep",
        "cameras": [
            {"id": "c", "source": 0, "latency_s": 0.0,
             "floor_homography": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}
        ],
        "robots": [
            {"id": "a", "max_speed_mps": 1.5, "stopping": {"deceleration_mps2": 2.0}},
            {
                "id": "b",
                "max_speed_mps": 0.5,
                "stopping": {"stopping_time_s": 0.4, "stopping_distance_m": 0.1},
            },
        ],
        "safety": {"warning_margin_m": 0.5, "hysteresis_m": 0.05},
    }
)
COMPILED = compile_site(SITE)

coordinate = st.floats(-12.0, 12.0)
speed = st.floats(-3.0, 3.0)


def robot(
    robot_id: str, base: tuple[float, float], tip_velocity: tuple[float, float, float]
) -> RobotSnapshot:
    x, y = base
    return RobotSnapshot(
        robot_id, 0.02,
        np.array([[x, y, 0.0], [x, y, 0.9]]), np.array([[x, y, 0.9], [x + 0.6, y, 1.0]]),
        np.array([0.1, 0.08]), np.zeros((2, 3)), np.array([[0, 0, 0], list(tip_velocity)]),
    )  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    people=st.lists(st.tuples(coordinate, coordinate, speed, speed), min_size=1, max_size=6),
    base_a=st.tuples(coordinate, coordinate),
    base_b=st.tuples(coordinate, coordinate),
    tip=st.tuples(speed, speed, speed),
    camera_age=st.floats(0.0, 0.2),
)
def test_pruned_pairs_are_beyond_every_threshold(people, base_a, base_b, tip, camera_age) -> None:
    humans = HumanBatch.build(
        list(range(len(people))), [p[:2] for p in people], [p[2:] for p in people],
        [0.3] * len(people), [0.1] * len(people),
    )  # fmt: skip
    links = gather_links(COMPILED, [robot("a", base_a, tip), robot("b", base_b, (0.2, 0, 0))])
    sep = separation(COMPILED, humans, links, camera_age)
    exact, _, _ = human_robot_separation(
        humans.xy, humans.velocity, humans.radius_m, np.full(humans.count, 2.0),
        links.link_a, links.link_b, links.link_radius_m, links.link_vel_a, links.link_vel_b,
        links.link_robot, 2, np.inf,
    )  # fmt: skip
    near = exact <= sep.cutoff_m
    np.testing.assert_allclose(sep.distance_m[near], exact[near], rtol=0, atol=1e-12)
    # wherever the kernel pruned, no rule (S_p + margin + hysteresis) could have fired
    far = ~near
    threshold = sep.protective_m + SITE.safety.warning_margin_m + SITE.safety.hysteresis_m
    assert np.all(exact[far] > threshold[far])
    assert np.all(sep.distance_m <= exact + 1e-12)  # pruned values are lower bounds
