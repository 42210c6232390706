"""Decision cost with humanoids: two walking Unitree G1s and ten people, per cycle.

One cycle = what the decision loop does with robot states already stored: each robot's
state message → floor capsules (`RobotModel.capsules`: forward kinematics of the 29-joint
URDF, joint-velocity Jacobian by finite differences, base transform) and `DecisionEngine.step`
(separation against S_p with the fall envelopes and base braking, zones, rules). Measured in
the same run against two UR5e arms (6 joints) and against the same two G1s declared as
plain mobile robots (no fall envelope, no base braking), so the ratios show what the
humanoid costs. Inputs: seeded random joint positions within limits and velocities, people
at 2-6 m walking toward the robots; floor frame, metres.

Usage::

    .venv/bin/python benchmarks/bench_humanoid.py [--cycles 2000]

Needs the published URDFs in ../shared/data/robots (G1 29 DOF and UR5e).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from safetymon.config.loader import parse_site_config  # noqa: E402
from safetymon.robot.geometry import RobotModel  # noqa: E402
from safetymon.robot.messages import RobotStateMessage  # noqa: E402
from safetymon.safety.decision import DecisionEngine  # noqa: E402
from safetymon.safety.inputs import CameraStatus, CycleInput, HumanBatch, RobotSnapshot  # noqa: E402
from safetymon.safety.site import compile_site  # noqa: E402

ROBOTS = ROOT.parent / "shared" / "data" / "robots"
G1 = ROBOTS / "unitree_g1" / "g1_29dof_rev_1_0.urdf"
UR5E = ROBOTS / "universal_robots" / "ur5e.urdf"


def site(kind: str) -> dict:
    """Two robots of ``kind`` ("humanoid", "mobile" G1s or "arm" UR5es) in a 12 x 8 m hall."""
    robots = []
    for index, x in enumerate((3.0, 9.0)):
        robot = {
            "id": f"r{index}", "max_speed_mps": 1.5, "stopping": {"deceleration_mps2": 3.0},
            "link_radius_m": 0.07, "base_pose": {"x_m": x, "y_m": 4.0, "z_m": 0.79},
            "state_input": {"endpoint": f"tcp://127.0.0.1:{5600 + index}"},
        }  # fmt: skip
        if kind == "arm":
            robot["geometry"] = {"kind": "urdf", "path": str(UR5E)}
            robot["base_pose"]["z_m"] = 0.9
        else:
            robot["geometry"] = {"kind": "urdf", "path": str(G1)}
            robot["kind"] = kind
            if kind == "humanoid":
                robot["stability"] = {"height_m": 1.32, "max_base_speed_mps": 1.5,
                                      "base_stopping": {"deceleration_mps2": 1.0}}  # fmt: skip
        robots.append(robot)
    return {
        "site": f"hall-{kind}",
        "cameras": [{"id": "c", "source": 0, "latency_s": 0.1,
                     "floor_homography": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}],
        "robots": robots,
        "zones": [{"id": "aisle", "type": "warning", "polygon": [[0, 0], [12, 0], [12, 1], [0, 1]]},
                  {"id": "cell", "type": "protective",
                   "polygon": [[5, 3], [7, 3], [7, 5], [5, 5]]}],
    }  # fmt: skip


def messages(models: list[RobotModel], rng: np.random.Generator) -> list[RobotStateMessage]:
    """One state per robot: joints within limits with velocities, the base walking."""
    states = []
    for index, model in enumerate(models):
        chain = model.chain
        assert chain is not None
        low = np.where(np.isfinite(chain.lower), chain.lower, -np.pi)
        high = np.where(np.isfinite(chain.upper), chain.upper, np.pi)
        q = rng.uniform(low + 0.05 * (high - low), high - 0.05 * (high - low))
        base = model.config.base_pose
        states.append(RobotStateMessage.model_validate({
            "schema": "safetymon.robot_state/1", "robot_id": model.config.id, "sequence": 1,
            "capture_time_s": 1.0,
            "joints": {"positions": q.tolist(),
                       "velocities": rng.uniform(-0.5, 0.5, q.size).tolist()},
            "base": {"x_m": base.x_m, "y_m": base.y_m, "z_m": base.z_m, "yaw_rad": 0.3 * index,
                     "vx_mps": 0.8, "vy_mps": 0.0, "yaw_rate_radps": 0.1},
        }))  # fmt: skip
    return states


def snapshot(model: RobotModel, message: RobotStateMessage) -> RobotSnapshot:
    """What the store hands the decision for this state."""
    capsules = model.capsules(message)
    assert capsules.vel_a is not None and capsules.vel_b is not None
    return RobotSnapshot(model.config.id, 0.01, capsules.a, capsules.b, capsules.radius_m,
                         capsules.vel_a, capsules.vel_b, base_xy=capsules.base_xy,
                         base_velocity=capsules.base_velocity)  # fmt: skip


def measure(kind: str, cycles: int) -> dict[str, float]:
    """Per-cycle µs (median, p99) of state → capsules and of the decision step."""
    config = parse_site_config(site(kind))
    models = [RobotModel(robot, ROOT) for robot in config.robots]
    engine = DecisionEngine(compile_site(config))
    rng = np.random.default_rng(7)
    people = HumanBatch.build(
        list(range(1, 11)), rng.uniform([0.5, 0.5], [11.5, 7.5], (10, 2)).tolist(),
        rng.uniform(-1.2, 1.2, (10, 2)).tolist(), [0.3] * 10, [0.1] * 10,
    )  # fmt: skip
    memory = engine.initial_memory(0.0)
    states = messages(models, rng)
    fk_us, step_us = [], []
    for cycle in range(cycles):
        start = time.perf_counter_ns()
        snapshots = tuple(snapshot(m, s) for m, s in zip(models, states, strict=True))
        middle = time.perf_counter_ns()
        inputs = CycleInput(time_s=1.0 + cycle * 0.01, humans=people, robots=snapshots,
                            cameras=(CameraStatus("c", 0.03),))  # fmt: skip
        _decision, memory = engine.step(inputs, memory)
        end = time.perf_counter_ns()
        if cycle >= 50:  # after warm-up (Numba compile, caches)
            fk_us.append((middle - start) / 1000)
            step_us.append((end - middle) / 1000)
    links = sum(m.chain.radius_m.size for m in models if m.chain is not None)
    return {
        "links": links,
        "fk_p50": float(np.median(fk_us)), "fk_p99": float(np.percentile(fk_us, 99)),
        "step_p50": float(np.median(step_us)), "step_p99": float(np.percentile(step_us, 99)),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=2000)
    args = parser.parse_args()
    if not (G1.exists() and UR5E.exists()):
        print(f"error: needs {G1} and {UR5E}", file=sys.stderr)
        return 2
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"# decision cost per cycle, 2 robots + 10 people, {args.cycles} cycles; {python}")
    print(f"{'robots':<34} {'capsules':>8} {'states→capsules µs p50/p99':>27} "
          f"{'decision µs p50/p99':>20}")  # fmt: skip
    rows = {}
    for kind, label in (("arm", "2 UR5e arms"), ("mobile", "2 G1 as plain mobile robots"),
                        ("humanoid", "2 G1 humanoids (fall + base)")):  # fmt: skip
        rows[kind] = row = measure(kind, args.cycles)
        print(f"{label:<34} {row['links']:>8} {row['fk_p50']:>13.0f} / {row['fk_p99']:<11.0f} "
              f"{row['step_p50']:>9.0f} / {row['step_p99']:<8.0f}")  # fmt: skip
    h, m, a = rows["humanoid"], rows["mobile"], rows["arm"]
    total = h["fk_p50"] + h["step_p50"]
    print(f"humanoid / mobile decision p50: {h['step_p50'] / m['step_p50']:.2f}x; "
          f"humanoid / arm (states + decision) p50: {total / (a['fk_p50'] + a['step_p50']):.2f}x;"
          f" at 100 Hz the humanoid cell uses {total / 100:.1f} % of a core")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
