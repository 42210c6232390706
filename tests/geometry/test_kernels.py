"""Tests of the Numba geometry kernels against NumPy / Shapely references."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from safetymon.geometry import kernels as k
from safetymon.geometry.polygons import PackedPolygons, pack_polygons
from tests.geometry import reference as ref

#: Examples per property; raise with GEOMETRY_MAX_EXAMPLES=5000 for a soak run.
SETTINGS = settings(
    max_examples=int(os.environ.get("GEOMETRY_MAX_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

coord = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)
vec3 = st.tuples(coord, coord, coord).map(lambda v: np.array(v, dtype=np.float64))


@st.composite
def star_polygon(draw: st.DrawFn) -> np.ndarray:
    """A simple (often concave) star-shaped polygon with 4..12 vertices."""
    n = draw(st.integers(4, 12))
    cx = draw(st.floats(-5, 5))
    cy = draw(st.floats(-5, 5))
    radii = draw(st.lists(st.floats(0.3, 4.0), min_size=n, max_size=n))
    jitter = draw(st.lists(st.floats(-0.4, 0.4), min_size=n, max_size=n))
    angles = 2 * np.pi * (np.arange(n) + np.array(jitter)) / n
    return np.column_stack([cx + np.array(radii) * np.cos(angles),
                            cy + np.array(radii) * np.sin(angles)])


def packed_args(packed: PackedPolygons) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return packed.vertices, packed.offsets, packed.bboxes


U_SHAPE = pack_polygons([[(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)]])


# --------------------------------------------------------------------------- points in polygons


@SETTINGS
@given(polys=st.lists(star_polygon(), min_size=1, max_size=4),
       pts=st.lists(st.tuples(coord, coord), min_size=1, max_size=20))
def test_points_in_polygons_matches_shapely(polys: list[np.ndarray], pts: list) -> None:
    packed = pack_polygons(polys)
    points = np.array(pts, dtype=np.float64)
    shp = ref.shapely_polygons(packed.vertices, packed.offsets)
    assume(all(shapely.is_valid(shp)))
    bdist = shapely.distance(shapely.points(points)[:, None], shapely.boundary(shp)[None, :])
    assume(np.all(bdist > 1e-9))
    got = k.points_in_polygons(points, *packed_args(packed))
    np.testing.assert_array_equal(got, ref.shapely_points_in_polygons(points, shp))
    np.testing.assert_array_equal(
        got, ref.numpy_points_in_polygons(points, packed.vertices, packed.offsets)
    )


def test_points_on_vertices_and_edges_count_inside() -> None:
    verts = U_SHAPE.vertices
    mids = 0.5 * (verts + np.roll(verts, -1, axis=0))
    pts = np.ascontiguousarray(np.concatenate([verts, mids]))
    got = k.points_in_polygons(pts, *packed_args(U_SHAPE))
    assert got.all()
    shp = ref.shapely_polygons(U_SHAPE.vertices, U_SHAPE.offsets)
    assert ref.shapely_points_in_polygons(pts, shp).all()


def test_point_in_u_notch_is_outside() -> None:
    pts = np.array([[1.5, 2.0], [0.5, 2.0], [2.5, 2.5], [1.5, 0.5], [1.5, 3.5]])
    got = k.points_in_polygons(pts, *packed_args(U_SHAPE))[:, 0]
    np.testing.assert_array_equal(got, [False, True, True, True, False])


def test_points_in_polygons_empty_inputs() -> None:
    empty = pack_polygons([])
    assert k.points_in_polygons(np.zeros((3, 2)), *packed_args(empty)).shape == (3, 0)
    assert k.points_in_polygons(np.zeros((0, 2)), *packed_args(U_SHAPE)).shape == (0, 1)


# --------------------------------------------------------------------------- signed distance


def _check_signed(got: np.ndarray, want: np.ndarray, max_distance: float) -> None:
    pruned = np.isinf(got)
    assert np.all(want[pruned] > max_distance)
    np.testing.assert_allclose(got[~pruned], want[~pruned], rtol=1e-9, atol=1e-9)


@SETTINGS
@given(polys=st.lists(star_polygon(), min_size=1, max_size=4),
       segs=st.lists(st.tuples(coord, coord, coord, coord), min_size=1, max_size=12),
       n_points=st.integers(0, 4),
       max_distance=st.sampled_from([np.inf, 0.0, 1.0, 3.0]))
def test_signed_distance_matches_shapely(
    polys: list[np.ndarray], segs: list, n_points: int, max_distance: float
) -> None:
    packed = pack_polygons(polys)
    shp = ref.shapely_polygons(packed.vertices, packed.offsets)
    assume(all(shapely.is_valid(shp)))
    arr = np.array(segs, dtype=np.float64)
    seg_a = np.ascontiguousarray(arr[:, :2])
    seg_b = np.ascontiguousarray(arr[:, 2:])
    seg_b[:n_points] = seg_a[:n_points]  # some degenerate segments (points)
    got = k.segments_polygons_signed_distance(seg_a, seg_b, *packed_args(packed), max_distance)
    want = ref.shapely_signed_distance(seg_a, seg_b, shp)
    _check_signed(got, want, max_distance)
    if max_distance == np.inf:
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(
            got, ref.numpy_signed_distance(seg_a, seg_b, packed.vertices, packed.offsets),
            rtol=1e-9, atol=1e-9,
        )


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((1.5, 2.0), (1.5, 2.0), 0.5),  # point in the notch: outside, 0.5 from both arms
        ((0.5, 2.0), (0.5, 2.0), -0.5),  # point in the left arm
        ((0.5, 2.5), (2.5, 2.5), 0.0),  # crosses the notch, both endpoints inside
        ((0.5, 0.5), (2.5, 0.5), -0.5),  # inside the base
        ((1.0, 1.0), (1.0, 1.0), 0.0),  # on a vertex
        ((2.0, 2.0), (2.0, 2.0), 0.0),  # on an edge
        ((-1.0, 5.0), (4.0, 5.0), 2.0),  # above, parallel to the top edges
        ((1.2, 1.5), (1.8, 2.5), 0.2),  # inside the notch, not touching
        ((1.0, 1.5), (1.0, 2.5), 0.0),  # collinear with the notch's left wall
        ((3.0, -1.0), (3.0, 5.0), 0.0),  # collinear overlap with the right side
        ((4.0, 0.0), (4.0, 0.0), 1.0),
    ],
)
def test_signed_distance_u_shape_cases(a: tuple, b: tuple, expected: float) -> None:
    got = k.segments_polygons_signed_distance(
        np.array([a], dtype=np.float64), np.array([b], dtype=np.float64),
        *packed_args(U_SHAPE), np.inf,
    )
    assert got.shape == (1, 1)
    assert got[0, 0] == pytest.approx(expected, abs=1e-12)
    if expected == 0.0:
        assert got[0, 0] == 0.0  # exactly


def test_signed_distance_accepts_3d_endpoints_and_prunes() -> None:
    a3 = np.array([[0.5, 0.5, 2.0], [50.0, 50.0, 1.0]])
    b3 = np.array([[2.5, 0.5, 0.1], [51.0, 50.0, 1.0]])
    got = k.segments_polygons_signed_distance(a3, b3, *packed_args(U_SHAPE), 5.0)
    assert got[0, 0] == pytest.approx(-0.5)
    assert got[1, 0] == np.inf
    exact = k.segments_polygons_signed_distance(a3, b3, *packed_args(U_SHAPE), np.inf)
    assert exact[1, 0] == pytest.approx(math.hypot(47.0, 47.0))


def test_signed_distance_empty_inputs() -> None:
    empty = pack_polygons([])
    z = np.zeros((2, 2))
    assert k.segments_polygons_signed_distance(z, z, *packed_args(empty), 1.0).shape == (2, 0)
    e = np.zeros((0, 2))
    assert k.segments_polygons_signed_distance(e, e, *packed_args(U_SHAPE), 1.0).shape == (0, 1)


# --------------------------------------------------------------------------- 3D segments


def _tol(*vs: np.ndarray) -> float:
    return 1e-9 * (1.0 + max(float(np.max(np.abs(v))) for v in vs))


@SETTINGS
@given(p0=vec3, p1=vec3, q0=vec3, q1=vec3)
def test_segment_segment_matches_reference(
    p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray
) -> None:
    d, s, t = k.segment_segment_distance_3d(p0, p1, q0, q1)
    tol = _tol(p0, p1, q0, q1)
    assert 0.0 <= s <= 1.0
    assert 0.0 <= t <= 1.0
    assert d == pytest.approx(ref.segment_segment_3d(p0, p1, q0, q1), rel=1e-9, abs=tol)
    # the parameters reproduce the distance
    cp = p0 + s * (p1 - p0)
    cq = q0 + t * (q1 - q0)
    assert np.linalg.norm(cp - cq) == pytest.approx(d, rel=1e-12, abs=tol)
    # symmetry
    d2, _, _ = k.segment_segment_distance_3d(q0, q1, p0, p1)
    assert d2 == pytest.approx(d, rel=1e-9, abs=tol)
    # reversed direction
    assert k.segment_segment_distance_3d(p1, p0, q0, q1)[0] == pytest.approx(d, rel=1e-9, abs=tol)
    # never above the dense-sampling upper bound
    assert d <= ref.segment_segment_dense(p0, p1, q0, q1) + tol


@SETTINGS
@given(p=vec3, a=vec3, b=vec3)
def test_point_segment_matches_reference(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    d, t = k.point_segment_distance_3d(p, a, b)
    assert 0.0 <= t <= 1.0
    assert d == pytest.approx(ref.point_segment_3d(p, a, b), rel=1e-9, abs=_tol(p, a, b))
    assert np.linalg.norm(a + t * (b - a) - p) == pytest.approx(d, rel=1e-12, abs=_tol(p, a, b))


@SETTINGS
@given(a0=vec3, a1=vec3, b0=vec3, b1=vec3, ra=st.floats(0, 1), rb=st.floats(0, 1))
def test_capsule_distance_is_axis_distance_minus_radii(
    a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray, ra: float, rb: float
) -> None:
    got = k.capsule_capsule_distance(a0, a1, ra, b0, b1, rb)
    want = ref.segment_segment_3d(a0, a1, b0, b1) - ra - rb
    assert got == pytest.approx(want, rel=1e-9, abs=_tol(a0, a1, b0, b1))
    assert got == pytest.approx(k.capsule_capsule_distance(b0, b1, rb, a0, a1, ra), abs=1e-12)


V = np.array


@pytest.mark.parametrize(
    ("p0", "p1", "q0", "q1", "expected"),
    [
        # parallel, overlapping in projection
        (V([0, 0, 0.0]), V([2, 0, 0.0]), V([1, 1, 0.0]), V([3, 1, 0.0]), 1.0),
        # parallel, disjoint along the axis
        (V([0, 0, 0.0]), V([1, 0, 0.0]), V([3, 1, 0.0]), V([4, 1, 0.0]), math.hypot(2, 1)),
        # anti-parallel collinear overlapping
        (V([0, 0, 0.0]), V([2, 0, 0.0]), V([3, 0, 0.0]), V([1, 0, 0.0]), 0.0),
        # crossing
        (V([-1, 0, 0.0]), V([1, 0, 0.0]), V([0, -1, 0.0]), V([0, 1, 0.0]), 0.0),
        # skew, crossing above
        (V([-1, 0, 0.0]), V([1, 0, 0.0]), V([0, -1, 2.0]), V([0, 1, 2.0]), 2.0),
        # both zero-length
        (V([1, 2, 3.0]), V([1, 2, 3.0]), V([4, 6, 3.0]), V([4, 6, 3.0]), 5.0),
        # first zero-length
        (V([0, 0, 1.0]), V([0, 0, 1.0]), V([-1, 0, 0.0]), V([1, 0, 0.0]), 1.0),
        # second zero-length, beyond the end
        (V([0, 0, 0.0]), V([1, 0, 0.0]), V([4, 4, 0.0]), V([4, 4, 0.0]), 5.0),
        # identical
        (V([0, 0, 0.0]), V([1, 1, 1.0]), V([0, 0, 0.0]), V([1, 1, 1.0]), 0.0),
        # T-junction touching
        (V([0, 0, 0.0]), V([2, 0, 0.0]), V([1, 0, 0.0]), V([1, 3, 0.0]), 0.0),
    ],
)
def test_segment_segment_hand_cases(
    p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray, expected: float
) -> None:
    args = [np.asarray(v, dtype=np.float64) for v in (p0, p1, q0, q1)]
    assert k.segment_segment_distance_3d(*args)[0] == pytest.approx(expected, abs=1e-12)
    assert k.segment_segment_distance_3d(*args[2:], *args[:2])[0] == pytest.approx(
        expected, abs=1e-12
    )


def test_capsules_overlap_gives_negative_distance() -> None:
    a0, a1 = V([0, 0, 0.0]), V([0, 0, 2.0])
    b0, b1 = V([0.3, -1, 1.0]), V([0.3, 1, 1.0])
    assert k.capsule_capsule_distance(a0, a1, 0.25, b0, b1, 0.1) == pytest.approx(-0.05)


# --------------------------------------------------------------------------- separation


@st.composite
def scene(draw: st.DrawFn) -> dict:
    """Random humans and robots (links grouped per robot, some robots without links)."""
    n_h = draw(st.integers(0, 6))
    n_r = draw(st.integers(0, 4))
    counts = [draw(st.integers(0, 4)) for _ in range(n_r)]
    n_l = sum(counts)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spread = draw(st.sampled_from([1.0, 4.0, 15.0]))
    link_a = rng.uniform(-spread, spread, (n_l, 3))
    link_a[:, 2] = rng.uniform(-0.5, 2.5, n_l)
    link_b = link_a + rng.normal(0, 0.6, (n_l, 3))
    if n_l:
        link_b[0] = link_a[0]  # one zero-length link
    return {
        "human_xy": rng.uniform(-spread, spread, (n_h, 2)),
        "human_vel": rng.normal(0, 1.0, (n_h, 2)),
        "human_radius": rng.uniform(0.1, 0.5, n_h),
        "human_height": rng.uniform(0.0, 2.0, n_h),
        "link_a": link_a,
        "link_b": link_b,
        "link_radius": rng.uniform(0.0, 0.2, n_l),
        "link_vel_a": rng.normal(0, 1.0, (n_l, 3)),
        "link_vel_b": rng.normal(0, 1.0, (n_l, 3)),
        "link_robot": np.repeat(np.arange(n_r, dtype=np.int64), counts),
        "n_robots": n_r,
    }


def _separation(sc: dict, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return k.human_robot_separation(*sc.values(), cutoff)


@SETTINGS
@given(sc=scene())
def test_separation_exact_matches_numpy_reference(sc: dict) -> None:
    d, vr, vh = _separation(sc, np.inf)
    rd, rvr, rvh = ref.numpy_human_robot_separation(*sc.values())
    assert d.shape == vr.shape == vh.shape == (len(sc["human_xy"]), sc["n_robots"])
    np.testing.assert_allclose(d, rd, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(vr, rvr, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(vh, rvh, rtol=1e-7, atol=1e-7)
    assert np.all(d >= 0.0)
    assert np.all(vr >= 0.0)


@SETTINGS
@given(sc=scene(), cutoff=st.sampled_from([0.0, 0.5, 2.0, 5.0]))
def test_separation_pruning_contract(sc: dict, cutoff: float) -> None:
    d, vr, _ = _separation(sc, cutoff)
    ed, evr, _ = _separation(sc, np.inf)
    exact = d <= cutoff
    np.testing.assert_array_equal(d[exact], ed[exact])
    # values above the cutoff are lower bounds; speeds there are conservative
    assert np.all(d[~exact] <= ed[~exact] + 1e-12)
    assert np.all(vr[~exact] >= evr[~exact] - 1e-12)
    assert np.all(d[~exact] > cutoff)


@SETTINGS
@given(sc=scene())
def test_separation_matches_pairwise_capsules(sc: dict) -> None:
    """Independent check of the distance: loop over capsule pairs with the scalar kernel."""
    d, _, _ = _separation(sc, np.inf)
    for i, (xy, r, h) in enumerate(
        zip(sc["human_xy"], sc["human_radius"], sc["human_height"], strict=True)
    ):
        bottom = np.array([xy[0], xy[1], 0.0])
        top = np.array([xy[0], xy[1], h])
        for j in range(sc["n_robots"]):
            links = np.flatnonzero(sc["link_robot"] == j)
            want = min(
                (ref.segment_segment_3d(bottom, top, sc["link_a"][l_], sc["link_b"][l_])
                 - r - sc["link_radius"][l_] for l_ in links),
                default=np.inf,
            )
            assert d[i, j] == pytest.approx(max(want, 0.0), rel=1e-9, abs=1e-9)


def _one_link_scene(
    human_xy: tuple, human_vel: tuple, a: tuple, b: tuple, va: tuple, vb: tuple
) -> dict:
    return {
        "human_xy": V([human_xy], dtype=np.float64),
        "human_vel": V([human_vel], dtype=np.float64),
        "human_radius": V([0.25]),
        "human_height": V([1.8]),
        "link_a": V([a], dtype=np.float64),
        "link_b": V([b], dtype=np.float64),
        "link_radius": V([0.05]),
        "link_vel_a": V([va], dtype=np.float64),
        "link_vel_b": V([vb], dtype=np.float64),
        "link_robot": V([0], dtype=np.int64),
        "n_robots": 1,
    }


def test_separation_hand_case_speeds() -> None:
    # horizontal link at 1 m height pointing at the human, 2 m away; link tip moves toward
    sc = _one_link_scene((0, 0), (1.0, 0.0), (3.0, 0, 1.0), (2.0, 0, 1.0),
                         (0, 0, 0), (-2.0, 0, 0))
    d, vr, vh = _separation(sc, np.inf)
    assert d[0, 0] == pytest.approx(2.0 - 0.25 - 0.05)
    assert vr[0, 0] == pytest.approx(2.0)
    assert vh[0, 0] == pytest.approx(1.0)
    # moving away: robot speed clipped at 0, human walking away is negative
    sc2 = _one_link_scene((0, 0), (-0.5, 0.0), (3.0, 0, 1.0), (2.0, 0, 1.0),
                          (0, 0, 0), (2.0, 0, 0))
    _, vr2, vh2 = _separation(sc2, np.inf)
    assert vr2[0, 0] == 0.0
    assert vh2[0, 0] == pytest.approx(-0.5)


def test_separation_coincident_points_use_speed_magnitude() -> None:
    # link passes straight through the human's axis
    sc = _one_link_scene((0, 0), (0.3, 0.4), (-1.0, 0, 1.0), (1.0, 0, 1.0),
                         (0, 0, 3.0), (0, 0, 3.0))
    d, vr, vh = _separation(sc, np.inf)
    assert d[0, 0] == 0.0
    assert vr[0, 0] == pytest.approx(3.0)
    assert vh[0, 0] == pytest.approx(0.5)


def test_separation_overhead_link_and_empty_robot() -> None:
    sc = _one_link_scene((0, 0), (0, 0), (-1.0, 0, 3.0), (1.0, 0, 3.0), (0, 0, 0), (0, 0, 0))
    sc["n_robots"] = 2  # robot 1 has no links
    d, vr, vh = _separation(sc, np.inf)
    assert d[0, 0] == pytest.approx(1.2 - 0.25 - 0.05)
    assert d[0, 1] == np.inf
    assert vr[0, 1] == 0.0
    assert vh[0, 1] == 0.0


def test_separation_unordered_links() -> None:
    rng = np.random.default_rng(3)
    sc = {
        "human_xy": rng.uniform(-3, 3, (4, 2)), "human_vel": rng.normal(size=(4, 2)),
        "human_radius": np.full(4, 0.3), "human_height": np.full(4, 1.7),
        "link_a": rng.uniform(-3, 3, (6, 3)), "link_b": rng.uniform(-3, 3, (6, 3)),
        "link_radius": np.full(6, 0.1), "link_vel_a": rng.normal(size=(6, 3)),
        "link_vel_b": rng.normal(size=(6, 3)),
        "link_robot": np.array([1, 0, 1, 2, 0, 2], dtype=np.int64), "n_robots": 3,
    }
    got = _separation(sc, np.inf)
    want = ref.numpy_human_robot_separation(*sc.values())
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9)


def test_separation_pruned_values_with_finite_cutoff() -> None:
    sc = _one_link_scene((0, 0), (1.0, 0.0), (20.0, 0, 1.0), (21.0, 0, 1.0),
                         (0, 0, 0), (0, 3.0, 4.0))
    d, vr, vh = _separation(sc, 5.0)
    exact = 20.0 - 0.25 - 0.05
    assert 5.0 < d[0, 0] <= exact
    assert d[0, 0] == pytest.approx(20.0 - 0.05 - 0.25)  # box bound is tight here
    assert vr[0, 0] == pytest.approx(5.0)  # max endpoint speed
    assert vh[0, 0] == pytest.approx(1.0)  # toward the box centre


def test_separation_empty_inputs() -> None:
    sc = _one_link_scene((0, 0), (0, 0), (1.0, 0, 1.0), (2.0, 0, 1.0), (0, 0, 0), (0, 0, 0))
    no_h = dict(sc, human_xy=np.zeros((0, 2)), human_vel=np.zeros((0, 2)),
                human_radius=np.zeros(0), human_height=np.zeros(0))
    for out in _separation(no_h, 5.0):
        assert out.shape == (0, 1)
    no_l = dict(sc, link_a=np.zeros((0, 3)), link_b=np.zeros((0, 3)), link_radius=np.zeros(0),
                link_vel_a=np.zeros((0, 3)), link_vel_b=np.zeros((0, 3)),
                link_robot=np.zeros(0, dtype=np.int64), n_robots=2)
    d, vr, vh = _separation(no_l, 5.0)
    assert d.shape == (1, 2)
    assert np.all(np.isinf(d))
    assert np.all(vr == 0.0)
    assert np.all(vh == 0.0)
    no_r = dict(no_l, n_robots=0)
    assert _separation(no_r, 5.0)[0].shape == (1, 0)


def test_separation_rejects_bad_robot_index() -> None:
    sc = _one_link_scene((0, 0), (0, 0), (1.0, 0, 1.0), (2.0, 0, 1.0), (0, 0, 0), (0, 0, 0))
    sc["link_robot"] = V([1], dtype=np.int64)
    with pytest.raises(ValueError, match="link_robot"):
        _separation(sc, 5.0)


def test_non_finite_inputs_give_nan_not_inf() -> None:
    sc = _one_link_scene((0, 0), (0, 0), (9.0, 0, 1.0), (9.5, 0, 1.0), (0, 0, 0), (0, 0, 0))
    for key, idx in [("link_a", (0, 2)), ("link_vel_b", (0, 0)), ("link_radius", (0,)),
                     ("human_xy", (0, 1)), ("human_height", (0,))]:
        bad = {kk: (v.copy() if isinstance(v, np.ndarray) else v) for kk, v in sc.items()}
        bad[key][idx] = np.nan
        for cutoff in (np.inf, 1.0):
            d, vr, vh = _separation(bad, cutoff)
            assert np.isnan(d[0, 0]) and np.isnan(vr[0, 0]) and np.isnan(vh[0, 0]), key
    seg = np.array([[np.nan, 0.5]])
    got = k.segments_polygons_signed_distance(seg, seg, *packed_args(U_SHAPE), 1.0)
    assert np.isnan(got[0, 0])


def test_warm_up_returns_seconds() -> None:
    assert k.warm_up() >= 0.0
