"""Benchmark of the robot state path for a 6-axis arm (UR5-like DH parameters).

Per message cost of forward kinematics + capsule build, in this process, same run:

1. ``DhChain.capsules`` (plain NumPy) vs ``UrdfChain.capsules`` (the URDF loaded with
   pytransform3d, evaluated by the compiled tree, ``urdf_tree.UrdfTree``; the same arm
   written as URDF) — positions only.
2. ``RobotModel.capsules`` for a full message with joint velocities (3 FK evaluations for the
   finite-difference Jacobian, base transform), DH vs URDF.
3. The whole ``RobotStateStore.submit`` (JSON parse, Pydantic validation, checks, FK,
   velocities) with the DH arm.

Printed as µs per message and as ratios against the plain NumPy DH chain. Then, if
../shared/data/robots is there, FK + capsules of published robots (G1, H1, UR5e, Panda, PR2):
the compiled tree against pytransform3d's transform graph, same models, same run.

Usage::

    .venv/bin/python benchmarks/bench_robot.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.robot.helpers

from safetymon.config.robots import DhGeometry, RobotConfig, UrdfGeometry
from safetymon.robot.geometry import RobotModel
from safetymon.robot.kinematics import DhChain, UrdfChain
from safetymon.robot.messages import RobotStateMessage
from safetymon.robot.store import RobotStateStore
from tests.robot.helpers import UR5_ROWS, dh_to_urdf


def per_call_us(function, repeat: int) -> float:
    """Best of 5 runs of ``repeat`` calls, µs per call."""
    return min(timeit.repeat(function, number=repeat, repeat=5)) / repeat * 1e6


def main() -> None:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000, help="calls per timing run")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    q = rng.uniform(-np.pi, np.pi, 6)
    q_dot = rng.uniform(-1.0, 1.0, 6)
    robot_data = {"id": "arm1", "max_speed_mps": 1.0, "stopping": {"deceleration_mps2": 4.0}}
    with tempfile.TemporaryDirectory() as folder:
        urdf_path = Path(folder) / "ur5.urdf"
        urdf_path.write_text(dh_to_urdf(UR5_ROWS))
        dh_geometry = DhGeometry.model_validate({"kind": "dh", "joints": UR5_ROWS})
        urdf_geometry = UrdfGeometry(kind="urdf", path=str(urdf_path))
        dh = DhChain(dh_geometry, 0.06)
        urdf = UrdfChain(urdf_geometry, 0.06, Path(folder))
        dh_model = RobotModel(RobotConfig.model_validate({**robot_data, "geometry": dh_geometry}))
        urdf_model = RobotModel(
            RobotConfig.model_validate({**robot_data, "geometry": urdf_geometry})
        )
        message = RobotStateMessage.model_validate(
            {
                "schema": "safetymon.robot_state/1",
                "robot_id": "arm1",
                "sequence": 1,
                "capture_time_s": 1.0,
                "joints": {"positions": q.tolist(), "velocities": q_dot.tolist()},
            }
        )
        store = RobotStateStore([dh_model.config])
        raw = [
            json.dumps({**json.loads(message.to_json()), "sequence": i, "capture_time_s": i * 0.01})
            .encode()
            for i in range(1, 5 * args.repeat + 10)
        ]  # fmt: skip
        feed = iter(raw)
        rows = [
            ("FK + capsules, DH (plain NumPy)", per_call_us(lambda: dh.capsules(q), args.repeat)),
            ("FK + capsules, URDF (compiled tree, Numba)",
             per_call_us(lambda: urdf.capsules(q), args.repeat)),
            ("message → floor capsules + velocities, DH",
             per_call_us(lambda: dh_model.capsules(message), args.repeat)),
            ("message → floor capsules + velocities, URDF",
             per_call_us(lambda: urdf_model.capsules(message), args.repeat)),
            ("store.submit (JSON bytes → stored state), DH",
             per_call_us(lambda: store.submit(next(feed), 0.0), args.repeat)),
        ]  # fmt: skip
    assert store.counters().rejected_total == 0, store.counters()
    base = rows[0][1]
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"# robot state path, 6-axis arm; {python}, best of 5 x {args.repeat} calls")
    print(f"{'measurement':<48} {'µs/msg':>9} {'x DH FK':>8}")
    for name, value in rows:
        print(f"{name:<48} {value:>9.1f} {value / base:>8.1f}")
    published_robots(max(50, args.repeat // 20))


PUBLISHED = Path(__file__).resolve().parents[2] / "shared" / "data" / "robots"
"""Published URDFs (../shared/data/robots; not part of this repository)."""


def published_robots(repeat: int) -> None:
    """Forward kinematics + capsules of published robots: the compiled tree (`UrdfTree`,
    Numba) vs pytransform3d's transform graph, same model, same run."""
    files = ["unitree_g1/g1_29dof_rev_1_0.urdf", "unitree_h1/h1.urdf",
             "universal_robots/ur5e.urdf", "panda/panda.urdf", "pr2/pr2.urdf"]  # fmt: skip
    if not PUBLISHED.is_dir():
        print(f"# published robots: {PUBLISHED} not found, skipped")
        return
    print(f"\n# published robots (capsules from joints + collision primitives), best of 5 x "
          f"{repeat} calls")  # fmt: skip
    print(f"{'robot':<36} {'joints':>6} {'capsules':>8} {'tree µs':>8} {'graph µs':>9} "
          f"{'graph/tree':>10}")  # fmt: skip
    for relative in files:
        geometry = UrdfGeometry(kind="urdf", path=str(PUBLISHED / relative))
        fast = UrdfChain(geometry, 0.06, PUBLISHED)
        slow = UrdfChain(geometry, 0.06, PUBLISHED)
        slow._tree = None  # pytransform3d's graph, as before the compiled tree
        q = fast.clamp_inside(np.zeros(fast.joint_count))
        tree_us = per_call_us(lambda: fast.capsules(q), repeat)  # noqa: B023
        graph_us = per_call_us(lambda: slow.capsules(q), repeat)  # noqa: B023
        print(f"{relative:<36} {fast.joint_count:>6} {fast.radius_m.size:>8} {tree_us:>8.1f} "
              f"{graph_us:>9.1f} {graph_us / tree_us:>10.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
