"""Benchmark of the per-cycle separation check: Numba kernels vs NumPy, Shapely and python-fcl.

One cycle = human-robot capsule distances and approach speeds + zone occupancy of the human
footprint centres (point in polygon) + signed distance of the floor-projected robot links to
every zone. Two sizes: a cell (10 humans, 2 robots x 8 links, 20 zones, 10 x 10 m) and a
site (200 humans, 50 robots x 8 links, 200 zones, 100 x 100 m), seeded random, zones 4-12
vertex star polygons (many concave). Floor frame, metres.

Run:  .venv/bin/python benchmarks/bench_separation.py [--repeats N] [--json]

The implementations are checked against each other before anything is timed. Timing is
per cycle with time.perf_counter_ns on one pinned core, same inputs every cycle.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import fcl
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from safetymon.geometry import kernels as k  # noqa: E402
from safetymon.geometry.polygons import PackedPolygons, pack_polygons  # noqa: E402
from tests.geometry import reference as ref  # noqa: E402

CUTOFF_M = 5.0  # pruning distance the decision uses
ZONE_MAX_DISTANCE_M = 1.0  # links farther than this from a zone's bbox may read +inf


# --------------------------------------------------------------------------- scenes


@dataclass
class Scene:
    """Inputs of one cycle (floor frame, metres, m/s)."""

    name: str
    human_xy: np.ndarray
    human_vel: np.ndarray
    human_radius: np.ndarray
    human_height: np.ndarray
    link_a: np.ndarray
    link_b: np.ndarray
    link_radius: np.ndarray
    link_vel_a: np.ndarray
    link_vel_b: np.ndarray
    link_robot: np.ndarray
    n_robots: int
    zones: PackedPolygons

    def separation_args(self) -> tuple:
        return (
            self.human_xy,
            self.human_vel,
            self.human_radius,
            self.human_height,
            self.link_a,
            self.link_b,
            self.link_radius,
            self.link_vel_a,
            self.link_vel_b,
            self.link_robot,
            self.n_robots,
        )


def star_ring(rng: np.random.Generator, centre: np.ndarray, r_lo: float, r_hi: float) -> np.ndarray:
    n = int(rng.integers(4, 13))
    angles = 2 * np.pi * (np.arange(n) + rng.uniform(-0.4, 0.4, n)) / n
    radii = rng.uniform(r_lo, r_hi, n)
    return centre + np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])


def make_scene(
    name: str, n_h: int, n_r: int, n_links: int, n_z: int, size: float, seed: int
) -> Scene:
    rng = np.random.default_rng(seed)
    zone_r = (0.3, 0.1 * size) if size < 20 else (1.0, 6.0)
    rings = [star_ring(rng, rng.uniform(0, size, 2), *zone_r) for _ in range(n_z)]
    link_a = np.empty((n_r * n_links, 3))
    link_b = np.empty_like(link_a)
    for j in range(n_r):
        p = np.array([*rng.uniform(0, size, 2), 0.0])
        for i in range(n_links):
            step = rng.normal(0, 1, 3)
            step *= rng.uniform(0.2, 0.5) / np.linalg.norm(step)
            q = p + step
            q[2] = abs(q[2])  # stay above the floor
            link_a[j * n_links + i] = p
            link_b[j * n_links + i] = q
            p = q
    n_l = n_r * n_links
    return Scene(
        name=name,
        human_xy=rng.uniform(0, size, (n_h, 2)),
        human_vel=rng.normal(0, 1.0, (n_h, 2)),
        human_radius=rng.uniform(0.25, 0.45, n_h),
        human_height=rng.uniform(1.5, 1.9, n_h),
        link_a=link_a,
        link_b=link_b,
        link_radius=rng.uniform(0.05, 0.12, n_l),
        link_vel_a=rng.normal(0, 1.0, (n_l, 3)),
        link_vel_b=rng.normal(0, 1.0, (n_l, 3)),
        link_robot=np.repeat(np.arange(n_r, dtype=np.int64), n_links),
        n_robots=n_r,
        zones=pack_polygons(rings),
    )


# --------------------------------------------------------------------------- implementations


def numba_cycle(sc: Scene, cutoff: float) -> tuple:
    z = sc.zones
    sep = k.human_robot_separation(*sc.separation_args(), cutoff)
    occ = k.points_in_polygons(sc.human_xy, z.vertices, z.offsets, z.bboxes)
    lz = k.segments_polygons_signed_distance(
        sc.link_a, sc.link_b, z.vertices, z.offsets, z.bboxes, ZONE_MAX_DISTANCE_M
    )
    return sep, occ, lz


def numba_separation(sc: Scene, cutoff: float) -> tuple:
    return k.human_robot_separation(*sc.separation_args(), cutoff)


def numpy_cycle(sc: Scene) -> tuple:
    z = sc.zones
    sep = ref.numpy_human_robot_separation(*sc.separation_args())
    occ = ref.numpy_points_in_polygons(sc.human_xy, z.vertices, z.offsets)
    lz = ref.numpy_signed_distance(sc.link_a, sc.link_b, z.vertices, z.offsets)
    return sep, occ, lz


class ShapelyImpl:
    """Shapely 2 vectorised calls. Shapely has no 3D capsules: the human-robot part is the
    floor-projected 2D distance (point to link line string) minus both radii, min per robot,
    which is a lower bound of the 3D capsule distance. Zones are prepared once."""

    def __init__(self, sc: Scene) -> None:
        self.polys = ref.shapely_polygons(sc.zones.vertices, sc.zones.offsets)
        shapely.prepare(self.polys)
        counts = np.bincount(sc.link_robot, minlength=sc.n_robots)
        self.table = np.full((sc.n_robots, counts.max()), len(sc.link_a))
        for j in range(sc.n_robots):
            idx = np.flatnonzero(sc.link_robot == j)
            self.table[j, : len(idx)] = idx

    def cycle(self, sc: Scene) -> tuple:
        humans = shapely.points(sc.human_xy)
        links = ref.shapely_segment_geoms(sc.link_a, sc.link_b)
        d2d = shapely.distance(humans[:, None], links[None, :])
        surf = d2d - sc.human_radius[:, None] - sc.link_radius[None, :]
        surf = np.concatenate([surf, np.full((len(humans), 1), np.inf)], axis=1)
        sep = np.maximum(surf[:, self.table].min(axis=2), 0.0)
        occ = shapely.intersects_xy(self.polys[None, :], sc.human_xy[:, 0:1], sc.human_xy[:, 1:2])
        lz = ref.shapely_signed_distance(sc.link_a, sc.link_b, self.polys)
        return sep, occ, lz


class FclImpl:
    """python-fcl capsules (fcl.Capsule + fcl.CollisionObject); one fcl.distance query per
    human-link pair, min per robot. Transforms are updated every cycle (inputs move).
    Only the human-robot distance: fcl has no polygon zones."""

    def __init__(self, sc: Scene) -> None:
        self.req = fcl.DistanceRequest()
        self.humans = [
            fcl.CollisionObject(fcl.Capsule(r, h))
            for r, h in zip(sc.human_radius, sc.human_height, strict=True)
        ]
        lengths = np.linalg.norm(sc.link_b - sc.link_a, axis=1)
        self.links = [
            fcl.CollisionObject(fcl.Capsule(r, ln))
            for r, ln in zip(sc.link_radius, lengths, strict=True)
        ]

    @staticmethod
    def _rotation_z_to(u: np.ndarray) -> np.ndarray:
        """Rotation matrix taking +z to unit vector u (Rodrigues)."""
        c = u[2]
        if c < -1.0 + 1e-12:
            return np.diag([1.0, -1.0, -1.0])
        v = np.array([-u[1], u[0], 0.0])  # z x u
        vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
        return np.eye(3) + vx + vx @ vx / (1.0 + c)

    def cycle(self, sc: Scene) -> np.ndarray:
        for obj, xy, h in zip(self.humans, sc.human_xy, sc.human_height, strict=True):
            obj.setTranslation(np.array([xy[0], xy[1], 0.5 * h]))
        for obj, a, b in zip(self.links, sc.link_a, sc.link_b, strict=True):
            axis = b - a
            u = axis / np.linalg.norm(axis)
            obj.setTransform(fcl.Transform(self._rotation_z_to(u), 0.5 * (a + b)))
        out = np.full((len(self.humans), sc.n_robots), np.inf)
        robots = sc.link_robot.tolist()
        req = self.req
        for i, h in enumerate(self.humans):
            row = out[i]
            for link, j in zip(self.links, robots, strict=True):
                d = fcl.distance(h, link, req, fcl.DistanceResult())
                if d < row[j]:
                    row[j] = d
        return np.maximum(out, 0.0)


# --------------------------------------------------------------------------- checks


def verify(sc: Scene, shp: ShapelyImpl, fc: FclImpl) -> dict[str, float]:
    """Assert that all implementations agree; return the max differences."""
    (d_inf, vr_inf, vh_inf), occ, lz = numba_cycle(sc, np.inf)
    (d_cut, vr_cut, _), occ_c, _ = numba_cycle(sc, CUTOFF_M)
    (nd, nvr, nvh), nocc, nlz = numpy_cycle(sc)
    sd, socc, slz = shp.cycle(sc)
    fd = fc.cycle(sc)
    diffs: dict[str, float] = {}
    diffs["numpy_distance"] = float(np.max(np.abs(d_inf - nd), initial=0.0))
    diffs["numpy_robot_speed"] = float(np.max(np.abs(vr_inf - nvr), initial=0.0))
    diffs["numpy_human_speed"] = float(np.max(np.abs(vh_inf - nvh), initial=0.0))
    assert diffs["numpy_distance"] < 1e-9 and diffs["numpy_robot_speed"] < 1e-7
    assert diffs["numpy_human_speed"] < 1e-7
    exact = d_cut <= CUTOFF_M
    assert np.array_equal(d_cut[exact], d_inf[exact]), "cutoff changed an exact value"
    assert np.all(d_cut[~exact] <= d_inf[~exact]) and np.all(vr_cut[~exact] >= vr_inf[~exact])
    diffs["cutoff_pairs_exact_fraction"] = float(np.mean(exact)) if exact.size else 1.0
    # zones: PIP (boundary hits have probability 0 here) and link signed distances
    assert np.array_equal(occ, nocc) and np.array_equal(occ, socc) and np.array_equal(occ, occ_c)
    fin = np.isfinite(lz)
    assert np.all(nlz[~fin] > ZONE_MAX_DISTANCE_M) and np.all(slz[~fin] > ZONE_MAX_DISTANCE_M)
    diffs["numpy_zone_signed"] = float(np.max(np.abs(lz[fin] - nlz[fin]), initial=0.0))
    diffs["shapely_zone_signed"] = float(np.max(np.abs(lz[fin] - slz[fin]), initial=0.0))
    assert diffs["numpy_zone_signed"] < 1e-9 and diffs["shapely_zone_signed"] < 1e-9
    # Shapely's floor-projected proxy is a lower bound of the 3D distance
    diffs["shapely_proxy_max_excess"] = float(np.max(sd - d_inf, initial=0.0))
    assert diffs["shapely_proxy_max_excess"] < 1e-9
    diffs["fcl_distance"] = float(np.max(np.abs(fd - d_inf), initial=0.0))
    assert diffs["fcl_distance"] < 1e-6
    return diffs


# --------------------------------------------------------------------------- timing


def time_it(fn: Callable[[], object], n: int, budget_s: float) -> dict[str, float]:
    """Per-call median and p99 (µs) of up to n calls, stopping early after budget_s."""
    fn()  # warm
    samples = []
    t_end = time.perf_counter() + budget_s
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
        if len(samples) >= 5 and time.perf_counter() > t_end:
            break
    arr = np.array(samples, dtype=np.float64) / 1e3
    return {
        "median_us": float(np.median(arr)),
        "p99_us": float(np.percentile(arr, 99)),
        "n": len(samples),
    }


def jit_times() -> dict[str, dict[str, float]]:
    """First-call (import + warm_up) seconds in fresh processes, cold and cached Numba cache."""
    code = (
        "import json, time; t0 = time.perf_counter();"
        "from safetymon.geometry import kernels as k; t1 = time.perf_counter();"
        "w = k.warm_up();"
        "print(json.dumps({'import_s': t1 - t0, 'warm_up_s': w}))"
    )
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold_cache", "warm_cache"):
            res = subprocess.run(
                [sys.executable, "-c", code],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            )
            out[label] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def run(repeats: int) -> dict:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    k.warm_up()
    scenes = [
        make_scene("cell", 10, 2, 8, 20, 10.0, seed=1),
        make_scene("site", 200, 50, 8, 200, 100.0, seed=2),
    ]
    results: dict = {"repeats": repeats, "cutoff_m": CUTOFF_M, "sizes": {}}
    for sc in scenes:
        shp = ShapelyImpl(sc)
        fc = FclImpl(sc)
        numba_cycle(sc, CUTOFF_M)
        numba_cycle(sc, np.inf)
        diffs = verify(sc, shp, fc)
        slow = max(5, repeats // 100)
        t = {
            "numba_cutoff5": time_it(lambda sc=sc: numba_cycle(sc, CUTOFF_M), repeats, 10.0),
            "numba_exact": time_it(lambda sc=sc: numba_cycle(sc, np.inf), repeats, 10.0),
            "numba_sep_only_cutoff5": time_it(
                lambda sc=sc: numba_separation(sc, CUTOFF_M), repeats, 10.0
            ),
            "numba_sep_only_exact": time_it(
                lambda sc=sc: numba_separation(sc, np.inf), repeats, 10.0
            ),
            "numpy": time_it(lambda sc=sc: numpy_cycle(sc), max(slow, repeats // 10), 10.0),
            "shapely": time_it(lambda sc=sc, s=shp: s.cycle(sc), slow, 10.0),
            "fcl_sep_only": time_it(lambda sc=sc, f=fc: f.cycle(sc), slow, 10.0),
        }
        results["sizes"][sc.name] = {
            "humans": len(sc.human_xy),
            "robots": sc.n_robots,
            "links": len(sc.link_a),
            "zones": sc.zones.count,
            "max_diff": diffs,
            "timing": t,
        }
    results["jit"] = jit_times()
    return results


def print_table(res: dict) -> None:
    print(f"per-cycle time, µs (one pinned core); cutoff {res['cutoff_m']} m\n")
    hdr = (
        f"{'size':5} {'implementation':24} {'median':>10} {'p99':>10} {'n':>6}"
        f" {'ratio vs Numba':>16}"
    )
    print(hdr)
    print("-" * len(hdr))
    for name, r in res["sizes"].items():
        t = r["timing"]
        base = t["numba_cutoff5"]["median_us"]
        base_sep = t["numba_sep_only_cutoff5"]["median_us"]
        for impl, v in t.items():
            ref_base = base_sep if "sep_only" in impl else base
            ratio = v["median_us"] / ref_base
            print(
                f"{name:5} {impl:24} {v['median_us']:10.1f} {v['p99_us']:10.1f} {v['n']:6d}"
                f" {ratio:15.1f}x"
            )
        diffs = ", ".join(f"{key}={val:.2e}" for key, val in r["max_diff"].items())
        print(f"      agreement: {diffs}\n")
    print("ratios: full-cycle rows vs numba_cutoff5; *_sep_only rows vs numba_sep_only_cutoff5")
    for label, v in res["jit"].items():
        print(
            f"first call ({label}, fresh process, NUMBA_CACHE_DIR=tmp): "
            f"import {v['import_s']:.2f} s, warm_up {v['warm_up_s']:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats",
        type=int,
        default=2000,
        help="timed cycles for Numba (slower implementations run fewer)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    res = run(args.repeats)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print_table(res)


if __name__ == "__main__":
    main()
