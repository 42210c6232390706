"""The live view's web application (Starlette): page, JSON API, camera streams, plan, snapshots.

Routes (all read-only unless marked):

- ``GET /``: the page (``static/index.html`` with ``app.js`` and ``style.css``; no CDN).
- ``GET /healthz``: 200 while the decision loop runs and decided within
  ``HEALTHY_DECISION_AGE_S``, else 503 (``HealthMessage``).
- ``GET /api/info``, ``GET /api/state``, ``GET /api/episodes?limit=N``: JSON
  (``InfoMessage``, ``StateMessage``, ``EpisodesMessage``).
- ``GET /camera/{id}.jpg``: one annotated frame; ``GET /camera/{id}.mjpg``: the annotated
  stream (multipart/x-mixed-replace, at most ``max_fps`` frames per second per client;
  ``MAX_STREAMS`` at once, ``MAX_STREAMS_PER_CLIENT`` per client address).
- ``GET /plan.png``: the floor plan with live tracks.
- ``GET /snapshots/{episode_id}/{camera_id}.jpg``: an episode snapshot, checked against
  its evidence record.
- ``POST /api/reset`` (write): operator reset. Every write needs the bearer token
  (``security.GuardMiddleware``).
- The zone editor (when ``create_app`` gets a ``zones.ZoneEditor``): ``GET /api/zones``,
  ``POST /api/zones/preview`` (validation only; token optional, see ``security``),
  ``POST /api/zones/save`` and ``POST /api/zones/apply`` (write).

Failure isolation: handlers run in the server's event loop and worker threads, never in the
monitor's; an exception in one is logged and answered with a 500 for that request only.
MJPEG multipart streams were chosen over short-polled JPEGs because a browser's ``<img>``
plays them without script, one connection per viewer carries the whole stream, and the
server alone sets the rate (the shared, rate-limited encoder bounds the CPU they cost).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from safetymon.evidence.reader import ReadError
from safetymon.evidence.records import Episode
from safetymon.web.episodes import SnapshotError
from safetymon.web.images import Encoded, ImageCache, encode
from safetymon.web.messages import (
    CameraInfo,
    EpisodeInfo,
    EpisodesMessage,
    HealthMessage,
    InfoMessage,
    ResetMessage,
    SnapshotLink,
)
from safetymon.web.security import LOOPBACK_HOSTS, GuardMiddleware
from safetymon.web.source import LiveSource
from safetymon.web.zones import ZoneEditor, zone_routes

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The page's files (served from the package; nothing is fetched from elsewhere)."""

DEFAULT_MAX_FPS = 10.0
"""Default most frames per second of one camera stream (and of camera encoding)."""

PLAN_MIN_INTERVAL_S = 0.25
"""Shortest time between two renderings of the floor plan, seconds."""

MAX_STREAMS = 16
"""Most camera streams served at once (more get 503)."""

MAX_STREAMS_PER_CLIENT = 4
"""Most camera streams one client address holds at once (more get 429): one page, or a
script in the operator's browser, cannot take every slot."""

MAX_EPISODES = 100
"""Largest ``limit`` of ``/api/episodes``."""

HEALTHY_DECISION_AGE_S = 1.0
"""``/healthz`` reports unhealthy when the newest decision is older than this, seconds."""

_NO_STORE = {"cache-control": "no-store"}


def create_app(
    source: LiveSource,
    *,
    token: str | None,
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS,
    max_fps: float = DEFAULT_MAX_FPS,
    zones: ZoneEditor | None = None,
) -> Starlette:
    """The live view application over ``source``.

    Args:
        source: what to show (``MonitorSource`` over a running monitor).
        token: bearer token for write actions, or None (writes are refused with 403).
        allowed_hosts: Host header hosts accepted (default: loopback names), or None for any
            (when serving other machines).
        max_fps: most frames per second per camera stream, and per camera encoding.
        zones: the zone editor's server side, or None (no editor routes; the page says so).

    The app's ``state.closing`` (a ``threading.Event``) ends every open stream when set
    (``LiveServer.stop`` sets it).
    """
    if not max_fps > 0:
        raise ValueError(f"max_fps must be > 0, got {max_fps!r}")
    views = _Views(source, max_fps)
    routes = [
        Route("/", views.page, methods=["GET"]),
        Route("/healthz", views.healthz, methods=["GET"]),
        Route("/api/info", views.info, methods=["GET"]),
        Route("/api/state", views.state, methods=["GET"]),
        Route("/api/episodes", views.episodes, methods=["GET"]),
        Route("/api/reset", views.reset, methods=["POST"]),
        Route("/camera/{camera_id}.jpg", views.camera_jpeg, methods=["GET"]),
        Route("/camera/{camera_id}.mjpg", views.camera_stream, methods=["GET"]),
        Route("/plan.png", views.plan, methods=["GET"]),
        Route("/snapshots/{episode_id}/{camera_id}.jpg", views.snapshot, methods=["GET"]),
        *(zone_routes(zones) if zones is not None else []),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(GuardMiddleware, token=token, allowed_hosts=allowed_hosts)],
        exception_handlers={Exception: _internal_error},
    )
    app.state.closing = views.closing
    app.state.writable = token is not None
    views.writable = token is not None
    views.zone_editor = zones is not None
    return app


def _json(model: BaseModel, status: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=_NO_STORE)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=_NO_STORE)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("live view: %s %s failed: %s: %s", request.method, request.url.path,
              type(exc).__name__, exc)  # fmt: skip
    return _error(500, f"internal error: {type(exc).__name__}")


class _Views:
    """The handlers; sync ones run in Starlette's worker threads."""

    def __init__(self, source: LiveSource, max_fps: float) -> None:
        self.source = source
        self.max_fps = max_fps
        self.closing = threading.Event()
        self.writable = False
        self.zone_editor = False
        self.cameras = ImageCache(1.0 / max_fps)
        self.plans = ImageCache(PLAN_MIN_INTERVAL_S)
        self._streams = 0
        self._streams_by_client: dict[str, int] = {}
        self._streams_lock = threading.Lock()

    # ------------------------------------------------------------------ page and JSON
    def page(self, request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers=_NO_STORE)

    def healthz(self, request: Request) -> Response:
        alive, age = self.source.loop_health()
        ok = alive and age is not None and age <= HEALTHY_DECISION_AGE_S
        message = HealthMessage(ok=ok, loop_alive=alive, decision_age_s=age)
        return _json(message, 200 if ok else 503)

    def info(self, request: Request) -> Response:
        cameras = [
            CameraInfo(camera_id=c, jpeg_url=f"/camera/{c}.jpg", mjpeg_url=f"/camera/{c}.mjpg")
            for c in self.source.camera_ids
        ]
        return _json(
            InfoMessage(
                site=self.source.site,
                cameras=cameras,
                robots=list(self.source.robot_ids),
                writable=self.writable,
                max_fps=self.max_fps,
                zone_editor=self.zone_editor,
            )
        )

    def state(self, request: Request) -> Response:
        return _json(self.source.state())

    def episodes(self, request: Request) -> Response:
        text = request.query_params.get("limit", "20")
        # isascii: "²".isdigit() is True but int("²") raises (it gave a 500)
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_EPISODES:
            return _error(400, f"limit must be a whole number from 1 to {MAX_EPISODES}: {text!r}")
        db = self.source.evidence_db
        try:
            episodes = self.source.episodes(int(text))
        except ReadError as exc:
            message = EpisodesMessage(
                evidence_db=str(db) if db else None, episodes=[], error=str(exc)
            )
            return _json(message, 503)
        return _json(
            EpisodesMessage(
                evidence_db=str(db) if db else None, episodes=[_episode(e) for e in episodes]
            )
        )

    def reset(self, request: Request) -> Response:
        # reached only with the right token (GuardMiddleware)
        self.source.request_reset()
        log.warning("live view: operator reset requested by %s", _client(request))
        return _json(ResetMessage(reset_requested=True), 202)

    # ------------------------------------------------------------------ images
    def _camera(self, camera_id: str) -> Encoded:
        def make() -> tuple[bytes, int]:
            image, frames = self.source.camera_image(camera_id)
            return encode(image, ".jpg"), frames

        return self.cameras.get(camera_id, make)

    def camera_jpeg(self, request: Request) -> Response:
        camera_id = request.path_params["camera_id"]
        if camera_id not in self.source.camera_ids:
            return _error(404, f"no camera {camera_id!r}")
        image = self._camera(camera_id)
        headers = {**_NO_STORE, "x-safetymon-frames": str(image.tag)}
        return Response(image.data, media_type="image/jpeg", headers=headers)

    async def camera_stream(self, request: Request) -> Response:
        camera_id = request.path_params["camera_id"]
        if camera_id not in self.source.camera_ids:
            return _error(404, f"no camera {camera_id!r}")
        host = request.client.host if request.client else "unknown"
        if self._streams >= MAX_STREAMS:
            return _error(503, f"too many open streams (at most {MAX_STREAMS})")
        if self._streams_by_client.get(host, 0) >= MAX_STREAMS_PER_CLIENT:
            return _error(
                429, f"too many open streams from {host} (at most {MAX_STREAMS_PER_CLIENT})"
            )
        return StreamingResponse(
            self._parts(camera_id, host),
            media_type="multipart/x-mixed-replace; boundary=frame",
            headers=_NO_STORE,
        )

    async def _parts(self, camera_id: str, host: str) -> AsyncIterator[bytes]:
        with self._streams_lock:
            held = self._streams_by_client.get(host, 0)
            if self._streams >= MAX_STREAMS or held >= MAX_STREAMS_PER_CLIENT:
                return  # raced past the check in camera_stream: end this stream at once
            self._streams += 1
            self._streams_by_client[host] = held + 1
        period = 1.0 / self.max_fps
        try:
            yield b"--frame\r\n"
            while not self.closing.is_set():
                started = time.monotonic()
                image = await run_in_threadpool(self._camera, camera_id)
                yield (
                    b"Content-Type: image/jpeg\r\nContent-Length: "
                    + str(len(image.data)).encode()
                    + b"\r\n\r\n"
                    + image.data
                    + b"\r\n--frame\r\n"
                )
                await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))
        finally:
            with self._streams_lock:
                self._streams -= 1
                left = self._streams_by_client.get(host, 1) - 1
                if left > 0:
                    self._streams_by_client[host] = left
                else:
                    self._streams_by_client.pop(host, None)

    def plan(self, request: Request) -> Response:
        def make() -> tuple[bytes, int]:
            return encode(self.source.plan_image(), ".png"), 0

        image = self.plans.get("plan", make)
        return Response(image.data, media_type="image/png", headers=_NO_STORE)

    def snapshot(self, request: Request) -> Response:
        try:
            data = self.source.snapshot(
                request.path_params["episode_id"], request.path_params["camera_id"]
            )
        except SnapshotError as exc:
            return _error(exc.status, str(exc))
        return Response(data, media_type="image/jpeg", headers={"cache-control": "max-age=3600"})


def _episode(episode: Episode) -> EpisodeInfo:
    return EpisodeInfo(
        episode_id=episode.episode_id,
        kind=episode.kind,
        category=episode.category,
        start_utc=episode.start_utc,
        end_utc=episode.end_utc,
        duration_s=episode.duration_s,
        worst_state=episode.worst_state,
        min_speed_scale=episode.min_speed_scale,
        reasons=list(episode.reasons),
        zones=list(episode.zones),
        robot_ids=list(episode.robot_ids),
        closest_track_id=episode.closest_track_id,
        closest_robot_id=episode.closest_robot_id,
        min_distance_m=episode.min_distance_m,
        protective_separation_m=episode.protective_separation_m,
        snapshots=[
            SnapshotLink(
                camera_id=s.camera_id, url=f"/snapshots/{episode.episode_id}/{s.camera_id}.jpg"
            )
            for s in episode.snapshots
        ],
        snapshot_error=episode.snapshot_error,
    )


def _client(request: Request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else "unknown client"
