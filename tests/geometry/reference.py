"""Plain NumPy / Shapely reference implementations of the geometry kernels.

Independent of ``safetymon.geometry.kernels`` (different algorithms: Shapely for polygons,
closed-form candidate enumeration for 3D segment distances), used by the tests and as the
"NumPy broadcast" and "Shapely" implementations in ``benchmarks/bench_separation.py``.
Floor frame, metres, m/s throughout.
"""

from __future__ import annotations

import warnings

import numpy as np
import shapely

#: Same coincidence threshold as the kernels (metres).
EPS = 1e-9

# --------------------------------------------------------------------------- Shapely


def shapely_polygons(vertices: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Shapely polygons (array of geometries) from packed rings."""
    return np.array(
        [shapely.Polygon(vertices[offsets[z] : offsets[z + 1]]) for z in range(len(offsets) - 1)],
        dtype=object,
    )


def shapely_points_in_polygons(
    points: np.ndarray, polygons: np.ndarray, *, boundary_inside: bool = True
) -> np.ndarray:
    """``(N, Z)`` bool: point covered by polygon (``boundary_inside``) or strictly inside."""
    fn = shapely.intersects_xy if boundary_inside else shapely.contains_xy
    if len(points) == 0 or len(polygons) == 0:
        return np.zeros((len(points), len(polygons)), dtype=bool)
    return fn(polygons[None, :], points[:, 0:1], points[:, 1:2])


def shapely_segment_geoms(seg_a: np.ndarray, seg_b: np.ndarray) -> np.ndarray:
    """Points (where a == b) or 2-point line strings for floor segments."""
    geoms = shapely.linestrings(np.stack([seg_a[:, :2], seg_b[:, :2]], axis=1))
    degenerate = np.all(seg_a[:, :2] == seg_b[:, :2], axis=1)
    if np.any(degenerate):
        geoms[degenerate] = shapely.points(seg_a[degenerate, :2])
    return geoms


def shapely_signed_distance(
    seg_a: np.ndarray, seg_b: np.ndarray, polygons: np.ndarray
) -> np.ndarray:
    """``(M, Z)`` signed distance of segments to polygon boundaries (0 touching, < 0 inside)."""
    if len(seg_a) == 0 or len(polygons) == 0:
        return np.zeros((len(seg_a), len(polygons)))
    geoms = shapely_segment_geoms(seg_a, seg_b)[:, None]
    boundaries = shapely.boundary(polygons)[None, :]
    with warnings.catch_warnings():  # GEOS warns on subnormal segment lengths
        warnings.simplefilter("ignore", RuntimeWarning)
        dist = shapely.distance(geoms, boundaries)
        inside = shapely.contains(polygons[None, :], geoms)
    return np.where(inside, -dist, dist)


# --------------------------------------------------------------------------- NumPy polygons


def _edges(vertices: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge start and end points ``(E, 2)`` of packed rings, in ring order."""
    nxt = np.arange(len(vertices)) + 1
    ends = offsets[1:] - 1
    nxt[ends] = offsets[:-1]
    return vertices, vertices[nxt]


def numpy_points_in_polygons(
    points: np.ndarray, vertices: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """``(N, Z)`` bool, vectorised crossing number (boundary points undefined)."""
    nz = len(offsets) - 1
    if len(points) == 0 or nz == 0:
        return np.zeros((len(points), nz), dtype=bool)
    a, b = _edges(vertices, offsets)
    px = points[:, 0:1]
    py = points[:, 1:2]
    straddle = (a[:, 1] > py) != (b[:, 1] > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        xcross = a[:, 0] + (py - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    crossings = straddle & (px < xcross)
    counts = np.add.reduceat(crossings.astype(np.int32), offsets[:-1], axis=1)
    return (counts & 1).astype(bool)


def _orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (
        c[..., 0] - a[..., 0]
    )


def _on_box(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    return np.all((lo <= p) & (p <= hi), axis=-1)


def _point_seg_sq(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    u = b - a
    w = p - a
    uu = np.sum(u * u, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(uu > 0, np.sum(w * u, axis=-1) / uu, 0.0)
    t = np.clip(t, 0.0, 1.0)
    d = w - t[..., None] * u
    return np.sum(d * d, axis=-1)


def numpy_signed_distance(
    seg_a: np.ndarray, seg_b: np.ndarray, vertices: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """``(M, Z)`` signed distance, all segment × edge pairs broadcast (no pruning)."""
    nz = len(offsets) - 1
    if len(seg_a) == 0 or nz == 0:
        return np.zeros((len(seg_a), nz))
    c, d = _edges(vertices, offsets)
    a = seg_a[:, None, :2]
    b = seg_b[:, None, :2]
    c = c[None]
    d = d[None]
    o1 = _orient(a, b, c)
    o2 = _orient(a, b, d)
    o3 = _orient(c, d, a)
    o4 = _orient(c, d, b)
    touch = ((o1 * o2 < 0) & (o3 * o4 < 0)) | (
        ((o1 == 0) & _on_box(a, b, c))
        | ((o2 == 0) & _on_box(a, b, d))
        | ((o3 == 0) & _on_box(c, d, a))
        | ((o4 == 0) & _on_box(c, d, b))
    )
    d2 = np.minimum(
        np.minimum(_point_seg_sq(a, c, d), _point_seg_sq(b, c, d)),
        np.minimum(_point_seg_sq(c, a, b), _point_seg_sq(d, a, b)),
    )
    starts = offsets[:-1]
    dist = np.sqrt(np.minimum.reduceat(d2, starts, axis=1))
    touched = np.logical_or.reduceat(touch, starts, axis=1)
    inside = numpy_points_in_polygons(seg_a[:, :2], vertices, offsets)
    return np.where(touched, 0.0, np.where(inside, -dist, dist))


# --------------------------------------------------------------------------- 3D segments


def point_segment_3d(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Distance from p to segment ab by projection and clamping."""
    return float(np.sqrt(_point_seg_sq(np.asarray(p), np.asarray(a), np.asarray(b))))


def segment_segment_candidates(
    p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast closest-point search by candidate enumeration: ``(dist², s, t)``.

    The minimum of a segment-segment distance is attained either at an endpoint of one of
    them (four point-segment cases) or at the interior critical point of the two lines; the
    smallest of those five candidates is the answer. Inputs broadcast over leading axes.
    """
    d1 = p1 - p0
    d2 = q1 - q0
    a = np.sum(d1 * d1, axis=-1)
    e = np.sum(d2 * d2, axis=-1)
    b = np.sum(d1 * d2, axis=-1)
    r = p0 - q0
    c = np.sum(d1 * r, axis=-1)
    f = np.sum(d2 * r, axis=-1)
    shape = np.broadcast_shapes(a.shape, e.shape)

    def safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)

    cands_s = [
        np.zeros(shape),
        np.ones(shape),
        np.clip(safe_div(-c, a), 0, 1),
        np.clip(safe_div(b - c, a), 0, 1),
    ]
    cands_t = [
        np.clip(safe_div(f, e), 0, 1),
        np.clip(safe_div(f + b, e), 0, 1),
        np.zeros(shape),
        np.ones(shape),
    ]
    # interior critical point of the two lines, from cross products (well conditioned)
    n = np.cross(d1, d2)
    denom = np.sum(n * n, axis=-1)
    s_int = safe_div(np.sum(n * np.cross(d2, r), axis=-1), denom)
    t_int = safe_div(np.sum(n * np.cross(d1, r), axis=-1), denom)
    valid = (denom > 0) & (s_int >= 0) & (s_int <= 1) & (t_int >= 0) & (t_int <= 1)
    cands_s.append(np.where(valid, s_int, 0.0))
    cands_t.append(np.where(valid, t_int, 0.0))
    best = np.full(shape, np.inf)
    best_s = np.zeros(shape)
    best_t = np.zeros(shape)
    for k, (s, t) in enumerate(zip(cands_s, cands_t, strict=True)):
        diff = p0 + s[..., None] * d1 - q0 - t[..., None] * d2
        dd = np.sum(diff * diff, axis=-1)
        if k == 4:
            dd = np.where(valid, dd, np.inf)
        better = dd < best
        best = np.where(better, dd, best)
        best_s = np.where(better, s, best_s)
        best_t = np.where(better, t, best_t)
    return best, best_s, best_t


def segment_segment_3d(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> float:
    """Distance between two 3D segments (candidate enumeration)."""
    d2, _, _ = segment_segment_candidates(*(np.asarray(v, dtype=float) for v in (p0, p1, q0, q1)))
    return float(np.sqrt(d2))


def segment_segment_dense(
    p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray, n: int = 401
) -> float:
    """Brute-force distance by dense sampling (an upper bound, accurate to O(length/n²))."""
    s = np.linspace(0.0, 1.0, n)
    ps = p0 + s[:, None] * (p1 - p0)
    # for each sampled p the exact distance to segment q (1D closed form), then the min
    return float(np.sqrt(np.min(_point_seg_sq(ps, q0, q1))))


# --------------------------------------------------------------------------- separation


def numpy_human_robot_separation(
    human_xy: np.ndarray,
    human_vel: np.ndarray,
    human_radius: np.ndarray,
    human_height: np.ndarray,
    link_a: np.ndarray,
    link_b: np.ndarray,
    link_radius: np.ndarray,
    link_vel_a: np.ndarray,
    link_vel_b: np.ndarray,
    link_robot: np.ndarray,
    n_robots: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All-pairs NumPy broadcast version of ``human_robot_separation`` (exact, no pruning)."""
    n_h = len(human_xy)
    dist = np.full((n_h, n_robots), np.inf)
    v_rob = np.zeros((n_h, n_robots))
    v_hum = np.zeros((n_h, n_robots))
    if n_h == 0 or len(link_a) == 0 or n_robots == 0:
        return dist, v_rob, v_hum
    zeros = np.zeros((n_h, 1))
    p0 = np.concatenate([human_xy, zeros], axis=1)[:, None, :]
    p1 = np.concatenate([human_xy, human_height[:, None]], axis=1)[:, None, :]
    q0 = link_a[None]
    q1 = link_b[None]
    d2, s, t = segment_segment_candidates(p0, p1, q0, q1)  # (H, L)
    surface = np.sqrt(d2) - human_radius[:, None] - link_radius[None, :]
    cl = q0 + t[..., None] * (q1 - q0)
    ch = p0 + s[..., None] * (p1 - p0)
    vel = link_vel_a[None] + t[..., None] * (link_vel_b - link_vel_a)[None]
    u = ch - cl
    n = np.linalg.norm(u, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        toward = np.where(
            n > EPS,
            np.sum(vel * u, axis=-1) / np.where(n > EPS, n, 1.0),
            np.linalg.norm(vel, axis=-1),
        )
    # group links per robot in a padded (R, Lmax) table; padding points at a dummy column
    counts = np.bincount(link_robot, minlength=n_robots)
    lmax = int(counts.max())
    order = np.argsort(link_robot, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(order)) - starts[link_robot[order]]
    table = np.full((n_robots, lmax), len(link_a))
    table[link_robot[order], slot] = order
    pad = np.full((n_h, 1), np.inf)
    surf_g = np.concatenate([surface, pad], axis=1)[:, table]  # (H, R, Lmax)
    tow_g = np.concatenate([toward, -pad], axis=1)[:, table]
    k = np.argmin(surf_g, axis=2)
    best_link = table[np.arange(n_robots)[None, :], k]  # (H, R)
    has = counts > 0
    rows = np.arange(n_h)[:, None]
    cxy = np.concatenate([cl[..., :2], np.zeros((n_h, 1, 2))], axis=1)[rows, best_link]
    dxy = cxy - human_xy[:, None, :]
    dn = np.linalg.norm(dxy, axis=-1)
    hv = human_vel[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        hum = np.where(
            dn > EPS,
            np.sum(hv * dxy, axis=-1) / np.where(dn > EPS, dn, 1.0),
            np.linalg.norm(hv, axis=-1),
        )
    dist = np.where(has, np.maximum(np.min(surf_g, axis=2), 0.0), np.inf)
    v_rob = np.where(has, np.maximum(np.max(tow_g, axis=2), 0.0), 0.0)
    v_hum = np.where(has, hum, 0.0)
    return dist, v_rob, v_hum

