"""Numba kernels for zone occupancy and human-robot separation (floor frame, metres).

Floor frame: x, y on the floor, z up, all lengths in metres, speeds in m/s. Every public
kernel is ``@njit(cache=True, nogil=True)`` and expects float64 C-contiguous arrays (int64
for ``offsets`` and ``link_robot``); other dtypes or layouts trigger a fresh compilation on
first use, so convert at the edges and call :func:`warm_up` before the real-time loop.

Polygons come packed by :func:`safetymon.geometry.polygons.pack_polygons` as
``(vertices, offsets, bboxes)``.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import njit

__all__ = [
    "capsule_capsule_distance",
    "human_robot_separation",
    "point_segment_distance_3d",
    "points_in_polygons",
    "segment_segment_distance_3d",
    "segments_polygons_signed_distance",
    "warm_up",
]

_JIT = {"cache": True, "nogil": True}

#: Closest points nearer than this (metres) count as coincident: the direction between them
#: is noise, so speeds fall back to the (conservative) magnitude.
COINCIDENT_M = 1e-9


# --------------------------------------------------------------------------- scalar helpers


@njit(**_JIT)
def _clamp01(x: float) -> float:
    if x < 0.0:
        return 0.0
    if x > 1.0:
        return 1.0
    return x


@njit(**_JIT)
def _seg_seg_3d(
    p0x: float, p0y: float, p0z: float, p1x: float, p1y: float, p1z: float,
    q0x: float, q0y: float, q0z: float, q1x: float, q1y: float, q1z: float,
) -> tuple[float, float, float]:
    """Closest points of segments P and Q (Ericson, RTCD 5.1.9): ``(dist², s, t)``.

    ``s`` and ``t`` are the parameters in [0, 1] of the closest points on P and Q. Zero-length
    and parallel segments are handled (exact-zero tests, so no division by zero).
    """
    d1x = p1x - p0x
    d1y = p1y - p0y
    d1z = p1z - p0z
    d2x = q1x - q0x
    d2y = q1y - q0y
    d2z = q1z - q0z
    rx = p0x - q0x
    ry = p0y - q0y
    rz = p0z - q0z
    a = d1x * d1x + d1y * d1y + d1z * d1z
    e = d2x * d2x + d2y * d2y + d2z * d2z
    f = d2x * rx + d2y * ry + d2z * rz
    if a <= 0.0 and e <= 0.0:
        s = 0.0
        t = 0.0
    elif a <= 0.0:
        s = 0.0
        t = _clamp01(f / e)
    else:
        c = d1x * rx + d1y * ry + d1z * rz
        if e <= 0.0:
            t = 0.0
            s = _clamp01(-c / a)
        else:
            b = d1x * d2x + d1y * d2y + d1z * d2z
            # Ericson's denom a·e − b² and numerator b·f − c·e, computed as |d1 × d2|² and
            # (d1 × d2)·(d2 × r): same values, far less cancellation for near-parallel segments.
            nx = d1y * d2z - d1z * d2y
            ny = d1z * d2x - d1x * d2z
            nz = d1x * d2y - d1y * d2x
            denom = nx * nx + ny * ny + nz * nz
            if denom > 0.0:
                mx = d2y * rz - d2z * ry
                my = d2z * rx - d2x * rz
                mz = d2x * ry - d2y * rx
                s = _clamp01((nx * mx + ny * my + nz * mz) / denom)
            else:
                s = 0.0
            tnom = b * s + f
            if tnom < 0.0:
                t = 0.0
                s = _clamp01(-c / a)
            elif tnom > e:
                t = 1.0
                s = _clamp01((b - c) / a)
            else:
                t = tnom / e
    dx = p0x + d1x * s - (q0x + d2x * t)
    dy = p0y + d1y * s - (q0y + d2y * t)
    dz = p0z + d1z * s - (q0z + d2z * t)
    return dx * dx + dy * dy + dz * dz, s, t


@njit(**_JIT)
def _point_seg_2d_sq(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    """Squared distance from point p to segment ab in the plane."""
    ux = bx - ax
    uy = by - ay
    wx = px - ax
    wy = py - ay
    uu = ux * ux + uy * uy
    t = 0.0
    if uu > 0.0:
        t = _clamp01((wx * ux + wy * uy) / uu)
    dx = wx - t * ux
    dy = wy - t * uy
    return dx * dx + dy * dy


@njit(**_JIT)
def _orient(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    """Twice the signed area of triangle abc (> 0 when c is left of ab)."""
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


@njit(**_JIT)
def _in_box(ax: float, ay: float, bx: float, by: float, px: float, py: float) -> bool:
    """True when p lies in the axis-aligned box spanned by a and b (inclusive)."""
    return min(ax, bx) <= px <= max(ax, bx) and min(ay, by) <= py <= max(ay, by)


@njit(**_JIT)
def _segments_touch_2d(
    ax: float, ay: float, bx: float, by: float, cx: float, cy: float, dx: float, dy: float
) -> bool:
    """True when segments ab and cd share at least one point (crossing or touching)."""
    o1 = _orient(ax, ay, bx, by, cx, cy)
    o2 = _orient(ax, ay, bx, by, dx, dy)
    o3 = _orient(cx, cy, dx, dy, ax, ay)
    o4 = _orient(cx, cy, dx, dy, bx, by)
    if ((o1 > 0.0 and o2 < 0.0) or (o1 < 0.0 and o2 > 0.0)) and (
        (o3 > 0.0 and o4 < 0.0) or (o3 < 0.0 and o4 > 0.0)
    ):
        return True
    if o1 == 0.0 and _in_box(ax, ay, bx, by, cx, cy):
        return True
    if o2 == 0.0 and _in_box(ax, ay, bx, by, dx, dy):
        return True
    if o3 == 0.0 and _in_box(cx, cy, dx, dy, ax, ay):
        return True
    return o4 == 0.0 and _in_box(cx, cy, dx, dy, bx, by)


@njit(**_JIT)
def _crosses_ray(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> bool:
    """Edge ab crosses the ray from p towards +x (half-open rule of the crossing number)."""
    if (ay > py) != (by > py):
        return px < ax + (py - ay) * (bx - ax) / (by - ay)
    return False


# --------------------------------------------------------------------------- polygons


@njit(**_JIT)
def points_in_polygons(
    points: np.ndarray, vertices: np.ndarray, offsets: np.ndarray, bboxes: np.ndarray
) -> np.ndarray:
    """Which points lie in which polygons (even-odd ray casting, bounding-box rejection).

    Args:
        points: ``(N, 2)`` floor x, y in metres (extra columns, e.g. z, are ignored).
        vertices, offsets, bboxes: packed polygons (see ``PackedPolygons``).

    Returns:
        ``(N, Z)`` bool. A point exactly on a polygon's boundary (in floating point) counts as
        inside: the conservative answer for a protective zone. A non-finite point is in no
        polygon, so validate inputs first (the distance kernels return NaN for them).
    """
    n = points.shape[0]
    nz = offsets.shape[0] - 1
    out = np.zeros((n, nz), dtype=np.bool_)
    for i in range(n):
        px = points[i, 0]
        py = points[i, 1]
        for z in range(nz):
            if px < bboxes[z, 0] or px > bboxes[z, 2] or py < bboxes[z, 1] or py > bboxes[z, 3]:
                continue
            start = offsets[z]
            stop = offsets[z + 1]
            inside = False
            j = stop - 1
            for k in range(start, stop):
                ax = vertices[j, 0]
                ay = vertices[j, 1]
                bx = vertices[k, 0]
                by = vertices[k, 1]
                if _orient(ax, ay, bx, by, px, py) == 0.0 and _in_box(ax, ay, bx, by, px, py):
                    inside = True
                    break
                if _crosses_ray(px, py, ax, ay, bx, by):
                    inside = not inside
                j = k
            out[i, z] = inside
    return out


@njit(**_JIT)
def _segment_polygon_signed(
    ax: float, ay: float, bx: float, by: float,
    vertices: np.ndarray, start: int, stop: int,
) -> float:
    """Signed distance of segment ab to one ring (0 touching, < 0 inside, > 0 outside)."""
    degenerate = ax == bx and ay == by
    best = np.inf
    inside = False
    j = stop - 1
    for k in range(start, stop):
        cx = vertices[j, 0]
        cy = vertices[j, 1]
        dx = vertices[k, 0]
        dy = vertices[k, 1]
        j = k
        if degenerate:
            if _orient(cx, cy, dx, dy, ax, ay) == 0.0 and _in_box(cx, cy, dx, dy, ax, ay):
                return 0.0
            d2 = _point_seg_2d_sq(ax, ay, cx, cy, dx, dy)
        else:
            if _segments_touch_2d(ax, ay, bx, by, cx, cy, dx, dy):
                return 0.0
            d2 = min(
                min(_point_seg_2d_sq(ax, ay, cx, cy, dx, dy),
                    _point_seg_2d_sq(bx, by, cx, cy, dx, dy)),
                min(_point_seg_2d_sq(cx, cy, ax, ay, bx, by),
                    _point_seg_2d_sq(dx, dy, ax, ay, bx, by)),
            )
        best = min(best, d2)
        if _crosses_ray(ax, ay, cx, cy, dx, dy):
            inside = not inside
    d = math.sqrt(best)
    return -d if inside else d


@njit(**_JIT)
def segments_polygons_signed_distance(
    seg_a: np.ndarray,
    seg_b: np.ndarray,
    vertices: np.ndarray,
    offsets: np.ndarray,
    bboxes: np.ndarray,
    max_distance: float,
) -> np.ndarray:
    """Signed distance from floor segments to polygon boundaries (metres).

    Args:
        seg_a, seg_b: ``(M, 2)`` floor x, y endpoints in metres; ``(M, 3)`` is accepted too
            (only x, y are read, so 3D link endpoints can be passed as they are). A point is
            a segment with ``a == b``.
        vertices, offsets, bboxes: packed polygons (see ``PackedPolygons``).
        max_distance: pruning radius in metres (``np.inf`` disables pruning).

    Returns:
        ``(M, Z)`` float64: ``0.0`` if the segment touches or crosses the ring;
        ``-(distance to boundary)`` if it lies inside; ``+(distance to boundary)`` if it lies
        outside. Where the gap between the segment's and the ring's bounding boxes exceeds
        ``max_distance`` (so the true distance certainly does) the value is ``+inf``.
        A segment with a non-finite coordinate gives a row of NaN (callers treat it as STOP).
    """
    m = seg_a.shape[0]
    nz = offsets.shape[0] - 1
    if seg_b.shape[0] != m:
        raise ValueError("seg_a and seg_b must have the same length")
    out = np.empty((m, nz), dtype=np.float64)
    md2 = max_distance * max_distance if max_distance > 0.0 else 0.0
    for i in range(m):
        ax = seg_a[i, 0]
        ay = seg_a[i, 1]
        bx = seg_b[i, 0]
        by = seg_b[i, 1]
        if not (math.isfinite(ax) and math.isfinite(ay) and math.isfinite(bx)
                and math.isfinite(by)):
            out[i, :] = np.nan
            continue
        sxmin = min(ax, bx)
        sxmax = max(ax, bx)
        symin = min(ay, by)
        symax = max(ay, by)
        for z in range(nz):
            gx = max(0.0, max(bboxes[z, 0] - sxmax, sxmin - bboxes[z, 2]))
            gy = max(0.0, max(bboxes[z, 1] - symax, symin - bboxes[z, 3]))
            if gx * gx + gy * gy > md2:
                out[i, z] = np.inf
                continue
            out[i, z] = _segment_polygon_signed(
                ax, ay, bx, by, vertices, offsets[z], offsets[z + 1]
            )
    return out


# --------------------------------------------------------------------------- 3D distances


@njit(**_JIT)
def point_segment_distance_3d(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Distance from point ``p`` to segment ``ab`` (3-vectors, metres) and its parameter t."""
    d2, _, t = _seg_seg_3d(
        p[0], p[1], p[2], p[0], p[1], p[2], a[0], a[1], a[2], b[0], b[1], b[2]
    )
    return math.sqrt(d2), t


@njit(**_JIT)
def segment_segment_distance_3d(
    p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray
) -> tuple[float, float, float]:
    """Distance between segments p0p1 and q0q1 (3-vectors, metres) and parameters (s, t).

    Closest points are ``p0 + s (p1 - p0)`` and ``q0 + t (q1 - q0)``, s, t in [0, 1].
    Handles parallel and zero-length segments (Ericson, Real-Time Collision Detection 5.1.9).
    """
    d2, s, t = _seg_seg_3d(
        p0[0], p0[1], p0[2], p1[0], p1[1], p1[2], q0[0], q0[1], q0[2], q1[0], q1[1], q1[2]
    )
    return math.sqrt(d2), s, t


@njit(**_JIT)
def capsule_capsule_distance(
    a0: np.ndarray, a1: np.ndarray, ra: float, b0: np.ndarray, b1: np.ndarray, rb: float
) -> float:
    """Surface distance of two capsules (axis distance − ra − rb, metres; < 0 on overlap)."""
    d, _, _ = segment_segment_distance_3d(a0, a1, b0, b1)
    return d - ra - rb


# --------------------------------------------------------------------------- separation


@njit(**_JIT)
def _robot_groups(link_robot: np.ndarray, n_robots: int) -> tuple[np.ndarray, np.ndarray]:
    """Counting sort of links by robot: ``(order, starts)`` with robot j's links at
    ``order[starts[j]:starts[j + 1]]`` (works whether or not the links are contiguous)."""
    n_links = link_robot.shape[0]
    starts = np.zeros(n_robots + 1, dtype=np.int64)
    for k in range(n_links):
        r = link_robot[k]
        if r < 0 or r >= n_robots:
            raise ValueError("link_robot values must lie in [0, n_robots)")
        starts[r + 1] += 1
    for j in range(n_robots):
        starts[j + 1] += starts[j]
    fill = starts[:-1].copy()
    order = np.empty(n_links, dtype=np.int64)
    for k in range(n_links):
        r = link_robot[k]
        order[fill[r]] = k
        fill[r] += 1
    return order, starts


@njit(**_JIT)
def _robot_bounds(
    link_a: np.ndarray, link_b: np.ndarray, link_radius: np.ndarray,
    link_vel_a: np.ndarray, link_vel_b: np.ndarray,
    order: np.ndarray, starts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per robot: capsule-enclosing box ``(R, 6)`` (min xyz, max xyz), max endpoint speed and
    whether any of its link values is non-finite."""
    n_robots = starts.shape[0] - 1
    box = np.empty((n_robots, 6), dtype=np.float64)
    vmax = np.zeros(n_robots, dtype=np.float64)
    bad = np.zeros(n_robots, dtype=np.bool_)
    for j in range(n_robots):
        for c in range(3):
            box[j, c] = np.inf
            box[j, c + 3] = -np.inf
        for idx in range(starts[j], starts[j + 1]):
            k = order[idx]
            r = link_radius[k]
            finite = math.isfinite(r)
            for c in range(3):
                finite = (finite and math.isfinite(link_a[k, c]) and math.isfinite(link_b[k, c])
                          and math.isfinite(link_vel_a[k, c]) and math.isfinite(link_vel_b[k, c]))
                lo = min(link_a[k, c], link_b[k, c]) - r
                hi = max(link_a[k, c], link_b[k, c]) + r
                box[j, c] = min(box[j, c], lo)
                box[j, c + 3] = max(box[j, c + 3], hi)
            va = math.sqrt(link_vel_a[k, 0] ** 2 + link_vel_a[k, 1] ** 2 + link_vel_a[k, 2] ** 2)
            vb = math.sqrt(link_vel_b[k, 0] ** 2 + link_vel_b[k, 1] ** 2 + link_vel_b[k, 2] ** 2)
            vmax[j] = max(vmax[j], max(va, vb))
            if not finite:
                bad[j] = True
    return box, vmax, bad


@njit(**_JIT)
def _floor_speed_toward(vx: float, vy: float, dx: float, dy: float) -> float:
    """Velocity (vx, vy) projected on the unit vector along (dx, dy); |v| if that is zero."""
    n = math.sqrt(dx * dx + dy * dy)
    if n > COINCIDENT_M:
        return (vx * dx + vy * dy) / n
    return math.sqrt(vx * vx + vy * vy)


@njit(**_JIT)
def human_robot_separation(
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
    cutoff_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances and approach speeds between humans and robots (floor frame, metres, m/s).

    Human i is a vertical capsule from ``(x, y, 0)`` to ``(x, y, human_height[i])`` with
    radius ``human_radius[i]``; its floor velocity is ``human_vel[i]`` (m/s). Robot j is the
    union of the link capsules ``link_a[k] → link_b[k]`` (radius ``link_radius[k]``) with
    ``link_robot[k] == j``; link endpoint velocities are ``link_vel_a/link_vel_b`` (m/s, 3D).

    Args:
        human_xy, human_vel: ``(H, 2)``; human_radius, human_height: ``(H,)``.
        link_a, link_b, link_vel_a, link_vel_b: ``(L, 3)``; link_radius: ``(L,)``.
        link_robot: ``(L,)`` int64 robot index in ``[0, n_robots)`` (any order).
        n_robots: ``R``. cutoff_m: pruning distance in metres (``np.inf``: always exact).

    Returns:
        ``(distance, robot_speed_toward, human_speed_toward)``, each ``(H, R)`` float64:

        - ``distance[i, j]``: min over robot j's links of the capsule surface distance,
          clipped at 0 (m); ``+inf`` for a robot with no links.
        - ``robot_speed_toward[i, j]``: max over robot j's links of the link velocity at its
          closest point (interpolated between the endpoint velocities) projected on the unit
          vector from that point to the human's closest point, clipped at ≥ 0 (m/s); where
          the two points coincide (closer than ``COINCIDENT_M``) the speed magnitude is used.
        - ``human_speed_toward[i, j]``: ``human_vel[i]`` projected on the floor unit vector
          from the human's axis toward robot j's closest point (m/s, may be negative;
          ``|vel|`` where that vector is shorter than ``COINCIDENT_M``); 0 for a robot with
          no links.

    Pruning contract: a box enclosing all capsules of each robot gives a lower bound on the
    distance. Where that bound exceeds ``cutoff_m`` the link loop is skipped and
    ``distance`` holds the bound (so values ``> cutoff_m`` are lower bounds, values
    ``≤ cutoff_m`` are exact), ``robot_speed_toward`` holds the robot's largest link
    endpoint speed (conservative) and ``human_speed_toward`` is taken toward the centre of
    that box. ``cutoff_m = np.inf`` gives exact values everywhere.

    Non-finite inputs: a human or robot with a non-finite position, radius, height or link
    velocity gives NaN in all three outputs for its pairs (never a reassuring +inf); the
    caller must treat NaN as STOP. A non-finite human velocity gives NaN human speeds.
    """
    n_h = human_xy.shape[0]
    n_l = link_a.shape[0]
    if (
        human_vel.shape[0] != n_h
        or human_radius.shape[0] != n_h
        or human_height.shape[0] != n_h
    ):
        raise ValueError("human arrays must all have H rows")
    if (
        link_b.shape[0] != n_l
        or link_radius.shape[0] != n_l
        or link_vel_a.shape[0] != n_l
        or link_vel_b.shape[0] != n_l
        or link_robot.shape[0] != n_l
    ):
        raise ValueError("link arrays must all have L rows")
    order, starts = _robot_groups(link_robot, n_robots)
    box, vmax, bad = _robot_bounds(
        link_a, link_b, link_radius, link_vel_a, link_vel_b, order, starts
    )
    dist = np.empty((n_h, n_robots), dtype=np.float64)
    v_rob = np.zeros((n_h, n_robots), dtype=np.float64)
    v_hum = np.zeros((n_h, n_robots), dtype=np.float64)
    for i in range(n_h):
        hx = human_xy[i, 0]
        hy = human_xy[i, 1]
        hh = human_height[i]
        hr = human_radius[i]
        hvx = human_vel[i, 0]
        hvy = human_vel[i, 1]
        human_ok = (math.isfinite(hx) and math.isfinite(hy) and math.isfinite(hh)
                    and math.isfinite(hr))
        for j in range(n_robots):
            if starts[j] == starts[j + 1]:
                dist[i, j] = np.inf
                continue
            if bad[j] or not human_ok:
                dist[i, j] = np.nan
                v_rob[i, j] = np.nan
                v_hum[i, j] = np.nan
                continue
            gx = max(0.0, max(box[j, 0] - hx, hx - box[j, 3]))
            gy = max(0.0, max(box[j, 1] - hy, hy - box[j, 4]))
            gz = max(0.0, max(box[j, 2] - hh, -box[j, 5]))
            bound = math.sqrt(gx * gx + gy * gy + gz * gz) - hr
            if bound > cutoff_m:
                dist[i, j] = max(bound, 0.0)
                v_rob[i, j] = vmax[j]
                v_hum[i, j] = _floor_speed_toward(
                    hvx, hvy, 0.5 * (box[j, 0] + box[j, 3]) - hx, 0.5 * (box[j, 1] + box[j, 4]) - hy
                )
                continue
            best = np.inf
            best_x = 0.0
            best_y = 0.0
            speed = 0.0
            for idx in range(starts[j], starts[j + 1]):
                k = order[idx]
                d2, s, t = _seg_seg_3d(
                    hx, hy, 0.0, hx, hy, hh,
                    link_a[k, 0], link_a[k, 1], link_a[k, 2],
                    link_b[k, 0], link_b[k, 1], link_b[k, 2],
                )
                cx = link_a[k, 0] + t * (link_b[k, 0] - link_a[k, 0])
                cy = link_a[k, 1] + t * (link_b[k, 1] - link_a[k, 1])
                cz = link_a[k, 2] + t * (link_b[k, 2] - link_a[k, 2])
                vx = link_vel_a[k, 0] + t * (link_vel_b[k, 0] - link_vel_a[k, 0])
                vy = link_vel_a[k, 1] + t * (link_vel_b[k, 1] - link_vel_a[k, 1])
                vz = link_vel_a[k, 2] + t * (link_vel_b[k, 2] - link_vel_a[k, 2])
                ux = hx - cx
                uy = hy - cy
                uz = s * hh - cz
                n = math.sqrt(ux * ux + uy * uy + uz * uz)
                if n > COINCIDENT_M:
                    v = (vx * ux + vy * uy + vz * uz) / n
                else:
                    v = math.sqrt(vx * vx + vy * vy + vz * vz)
                speed = max(speed, v)
                surface = math.sqrt(d2) - hr - link_radius[k]
                if surface < best:
                    best = surface
                    best_x = cx
                    best_y = cy
            dist[i, j] = max(best, 0.0)
            v_rob[i, j] = speed
            v_hum[i, j] = _floor_speed_toward(hvx, hvy, best_x - hx, best_y - hy)
    return dist, v_rob, v_hum


# --------------------------------------------------------------------------- warm-up


def warm_up() -> float:
    """Compile (or load from cache) every kernel on tiny canonical inputs; return seconds.

    Call once before the real-time loop. The inputs use the canonical types (float64
    C-contiguous 2D arrays, int64 offsets and robot indices), so later calls with those
    types do not compile again.
    """
    t0 = time.perf_counter()
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    offsets = np.array([0, 4], dtype=np.int64)
    bboxes = np.array([[0.0, 0.0, 1.0, 1.0]])
    pts2 = np.array([[0.5, 0.5], [2.0, 2.0]])
    pts3 = np.array([[0.5, 0.5, 0.0], [2.0, 2.0, 1.0]])
    points_in_polygons(pts2, square, offsets, bboxes)
    segments_polygons_signed_distance(pts2, pts2[::-1].copy(), square, offsets, bboxes, 1.0)
    segments_polygons_signed_distance(pts3, pts3[::-1].copy(), square, offsets, bboxes, 1.0)
    p, q = pts3[0].copy(), pts3[1].copy()
    point_segment_distance_3d(p, p, q)
    segment_segment_distance_3d(p, q, q, p)
    capsule_capsule_distance(p, q, 0.1, q, p, 0.1)
    human_robot_separation(
        pts2, pts2, np.full(2, 0.3), np.full(2, 1.8),
        pts3, pts3[::-1].copy(), np.full(2, 0.1), pts3, pts3,
        np.array([0, 0], dtype=np.int64), 1, 5.0,
    )
    return time.perf_counter() - t0
