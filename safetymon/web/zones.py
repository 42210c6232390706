"""The zone editor's server side: read the site's zones, validate, save and apply edits.

Routes (added to the live view by ``create_app`` when it is given a ``ZoneEditor``):

- ``GET /api/zones``: the site file's zones (floor metres), its SHA-256, the zones saved but
  not yet used by the decision, the plan's floor ↔ pixel transform and, per camera, the
  zones in that camera's pixels (``ZonesMessage``).
- ``POST /api/zones/preview``: validate an edit and show what saving would change; writes
  nothing. It does not need the token (the editor validates while vertices are dragged,
  before the operator has typed one), but the diff (lines of the site file) is given only
  to a request carrying the right token (``security.TOKEN_OPTIONAL``).
- ``POST /api/zones/save`` (token): write the edit to the site file (comments kept), record
  the old and new configuration hashes in the evidence store, stage the zones for the
  running monitor (``Monitor.zone_changes``). 409 when the file changed since the editor
  read it (``base_sha256``), 422 with the issues when the edit is invalid.
- ``POST /api/zones/apply`` (token): take a saved change into use now (the decision then
  restarts in STOP); without it a saved change is applied on the next STOP cycle.

Frames: the floor frame in metres (x, y: the site's axes); a body with ``camera_id`` gives
the polygon in that camera's raw pixels (u right, v down), mapped to the floor here with the
camera's `FloorMapper`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from safetymon.config.loader import ConfigError, ConfigIssue, load_site_config
from safetymon.config.site import SiteConfig
from safetymon.config.zone_edit import (
    ZoneEditPreview,
    ZoneEditRequest,
    preview_zone_edit,
    text_sha256,
)
from safetymon.config.zones import ZoneType
from safetymon.monitor.app import Monitor
from safetymon.monitor.zone_changes import judge_zone_edit
from safetymon.web.messages import (
    CameraZones,
    IssueInfo,
    PlanGeometry,
    Point,
    ZoneApplyMessage,
    ZoneEditBody,
    ZonePreviewMessage,
    ZoneRefusal,
    ZoneSaveMessage,
    ZoneShape,
    ZonesMessage,
)
from safetymon.web.security import AUTHENTICATED

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
"""Largest accepted request body of the editor's routes, bytes."""

_NO_STORE = {"cache-control": "no-store"}
PREVIEW_CACHE_SIZE = 64
"""Zone previews remembered per state of the site file (identical requests are free)."""


class EditRefusedError(Exception):
    """An edit cannot be previewed or saved; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str, issues: list[IssueInfo]) -> None:
        super().__init__(message)
        self.status = status
        self.issues = issues


class ZoneEditor:
    """The zone editor over a running `Monitor` (thread-safe; called from web threads).

    Args:
        monitor: the monitor (its ``site_file``, ``zone_changes`` and camera mappers).
        plan_geometry: the live plan's current floor ↔ pixel transform (``MonitorSource``).
        writable: a write token is configured (saving is possible at all).
    """

    def __init__(
        self, monitor: Monitor, plan_geometry: Callable[[], PlanGeometry], *, writable: bool
    ) -> None:
        self._monitor = monitor
        self._plan_geometry = plan_geometry
        self.writable = writable
        self._lock = threading.Lock()  # one preview-then-save at a time
        # answers computed once per state of the site file and the monitor (see _state_key)
        self._zones_cache: tuple[tuple, ZonesMessage] | None = None
        self._preview_cache: OrderedDict[tuple, ZonePreviewMessage] = OrderedDict()

    @property
    def site_file(self) -> Path | None:
        """The site file the monitor was started from, or None (editing disabled)."""
        site_file = self._monitor.site_file
        return Path(site_file) if site_file is not None else None

    # ------------------------------------------------------------------ reading
    def _state_key(self) -> tuple | None:
        """What every answer depends on besides the request, or None (do not cache).

        The site file's identity and modification (inode, size, mtime ns), the monitor's
        running and pending configuration objects (replaced, never changed in place, on
        save and apply), the plan geometry and the cameras' image sizes.
        """
        site_file = self.site_file
        file_key = None
        if site_file is not None:
            try:
                stat = site_file.stat()
            except OSError:
                return None
            file_key = (str(site_file), stat.st_ino, stat.st_size, stat.st_mtime_ns)
        changes = self._monitor.zone_changes
        sizes = tuple(self._image_size(c) for c in self._monitor.hub.camera_ids)
        plan = self._plan_geometry().model_dump_json()
        return (file_key, _Same(changes.config), _Same(changes.pending), plan, sizes,
                self.writable)  # fmt: skip

    def zones(self) -> ZonesMessage:
        """The site file's zones and everything the page needs to draw them.

        Computed once per ``_state_key`` (parsing the site file costs tens of ms of the
        process's GIL; a page or a script polling it must not cost the decision loop).
        """
        key = self._state_key()
        cached = self._zones_cache
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        message = self._zones_now()
        if key is not None:
            self._zones_cache = (key, message)
        return message

    def _zones_now(self) -> ZonesMessage:
        site_file = self.site_file
        why_not = None
        if site_file is None:
            why_not = "the monitor was started without a site file: zones cannot be edited here"
        elif not self.writable:
            why_not = "no write token is configured for the live view: zones can be viewed only"
        sha, error = None, None
        config: SiteConfig = self._monitor.zone_changes.config
        if site_file is not None:
            try:
                text = site_file.read_text(encoding="utf-8")
                sha = text_sha256(text)
                config = load_site_config(site_file)
            except (OSError, UnicodeDecodeError, ConfigError) as exc:
                error = f"the site file {site_file} cannot be read: {exc}"
                why_not = why_not or error
        shapes = [
            ZoneShape(
                zone_id=z.id,
                type=z.type.value,
                description=z.description or None,
                polygon=[(float(x), float(y)) for x, y in z.polygon],
            )
            for z in config.zones
        ]
        return ZonesMessage(
            site_file=str(site_file) if site_file is not None else None,
            sha256=sha,
            editable=why_not is None,
            why_not=why_not,
            zone_types=[t.value for t in ZoneType],
            zones=shapes,
            pending=self.pending(),
            plan=self._plan_geometry(),
            cameras=[self._camera_zones(cid, shapes) for cid in self._monitor.hub.camera_ids],
            error=error,
        )

    def pending(self) -> list[str]:
        """Ids of zones saved but not yet used by the running decision (added or changed)."""
        changes = self._monitor.zone_changes
        staged = changes.pending
        if staged is None:
            return []
        running = {z.id: z.model_dump(mode="json") for z in changes.config.zones}
        ids = {z.id for z in staged.zones if running.get(z.id) != z.model_dump(mode="json")}
        ids |= set(running) - {z.id for z in staged.zones}
        return sorted(ids)

    def _camera_zones(self, camera_id: str, shapes: list[ZoneShape]) -> CameraZones:
        mapper = self._monitor.hub.mapper(camera_id)
        size = self._image_size(camera_id)
        zones: dict[str, list[Point] | None] = {}
        for shape in shapes:
            pixels = mapper.floor_to_image(np.asarray(shape.polygon, dtype=np.float64))
            finite = bool(np.all(np.isfinite(pixels)))
            zones[shape.zone_id] = [(float(u), float(v)) for u, v in pixels] if finite else None
        return CameraZones(
            camera_id=camera_id,
            drawable=size is not None,
            why_not=None if size is not None else "no frame yet: the image size is not known",
            image_url=f"/camera/{camera_id}.jpg",
            width_px=size[0] if size else None,
            height_px=size[1] if size else None,
            zones=zones,
        )

    # ------------------------------------------------------------------ editing
    def floor_polygon(self, body: ZoneEditBody) -> list[Point]:
        """The edit's polygon in floor metres (mapped from camera pixels when ``camera_id``).

        Raises:
            EditRefusedError: unknown camera, a pixel outside the image or with no floor point.
        """
        if body.camera_id is None:
            return [(float(x), float(y)) for x, y in body.polygon]
        if body.camera_id not in self._monitor.hub.camera_ids:
            raise EditRefusedError(422, "unknown camera", [
                IssueInfo(field="camera_id", message=f"no camera {body.camera_id!r}")
            ])  # fmt: skip
        mapper = self._monitor.hub.mapper(body.camera_id)
        uv = np.asarray(body.polygon, dtype=np.float64)
        issues = []
        image = self._image_size(body.camera_id)
        for index, (u, v) in enumerate(uv):
            if image is not None and not (0 <= u <= image[0] and 0 <= v <= image[1]):
                issues.append(IssueInfo(
                    field=f"polygon[{index}]",
                    message=f"pixel ({u:.1f}, {v:.1f}) is outside camera {body.camera_id}'s "
                    f"{image[0]}x{image[1]} image",
                ))  # fmt: skip
        floor = mapper.image_to_floor(uv)
        for index, (x, y) in enumerate(floor):
            if not (np.isfinite(x) and np.isfinite(y)):
                u, v = uv[index]
                issues.append(IssueInfo(
                    field=f"polygon[{index}]",
                    message=f"pixel ({u:.1f}, {v:.1f}) of camera {body.camera_id} is at or "
                    "above the horizon: it shows no point of the floor",
                ))  # fmt: skip
        if issues:
            raise EditRefusedError(422, "the polygon cannot be mapped to the floor", issues)
        return [(float(x), float(y)) for x, y in floor]

    def _image_size(self, camera_id: str) -> tuple[int, int] | None:
        """(width, height) of the camera's images, pixels: its calibration's or its frames'."""
        size = self._monitor.hub.mapper(camera_id).image_size
        if size is not None:
            return (int(size[0]), int(size[1]))
        frame = self._monitor.hub.views()[camera_id].frame
        return (int(frame.shape[1]), int(frame.shape[0])) if frame is not None else None

    def _preview(self, body: ZoneEditBody) -> tuple[ZoneEditPreview, list[Point], list[str]]:
        """The previewed edit, its floor polygon and what it does to the protection.

        Raises:
            EditRefusedError: no site file, an invalid edit, or one that lowers a robot's
                protective cover (``monitor.zone_changes.judge_zone_edit``).
        """
        site_file = self.site_file
        if site_file is None:
            raise EditRefusedError(409, "no site file", [IssueInfo(
                field="site_file",
                message="the monitor was started without a site file: zones cannot be edited",
            )])  # fmt: skip
        polygon = self.floor_polygon(body)
        request = ZoneEditRequest(
            zone_id=body.zone_id, polygon=polygon, type=body.type,
            description=body.description, base_sha256=body.base_sha256,
        )  # fmt: skip
        try:
            preview = preview_zone_edit(site_file, request)
        except ConfigError as exc:
            raise _refusal(exc) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise EditRefusedError(500, "the site file cannot be read", [
                IssueInfo(field="site_file", message=f"{site_file}: {exc}")
            ]) from exc  # fmt: skip
        report = judge_zone_edit(preview)
        if report.refusals:
            raise EditRefusedError(422, "the edit weakens protection", [
                IssueInfo(field=f"zones ({body.zone_id})", message=reason)
                for reason in report.refusals
            ])  # fmt: skip
        return preview, polygon, report.lines()

    def preview(self, body: ZoneEditBody, *, with_diff: bool) -> ZonePreviewMessage:
        """Validate ``body`` against the site file now; nothing is written.

        ``with_diff``: include the diff (the request carried the token).
        """
        with self._lock:
            key = self._state_key()
            if key is not None:
                key = (key, body.model_dump_json(), with_diff)
                cached = self._preview_cache.get(key)
                if cached is not None:
                    self._preview_cache.move_to_end(key)
                    return cached
            message = self._preview_message(body, with_diff)
            if key is not None:
                self._preview_cache[key] = message
                while len(self._preview_cache) > PREVIEW_CACHE_SIZE:
                    self._preview_cache.popitem(last=False)
            return message

    def _preview_message(self, body: ZoneEditBody, with_diff: bool) -> ZonePreviewMessage:
        try:
            preview, polygon, protection = self._preview(body)
        except EditRefusedError as refused:
            return _invalid(refused.issues)
        return ZonePreviewMessage(
            ok=True,
            issues=[],
            protection=protection,
            polygon_m=polygon,
            diff=preview.diff if with_diff else None,
            diff_withheld=not with_diff,
            added=preview.added,
            base_sha256=preview.old_sha256,
            old_config_hash=preview.old_config_hash,
            new_config_hash=preview.new_config_hash,
        )

    def save(self, body: ZoneEditBody, how: str) -> ZoneSaveMessage:
        """Write the edit, record it in the evidence store and stage it for the monitor.

        Raises:
            EditRefusedError: 409 (the file changed since ``base_sha256``, or none given: 422),
                422 (invalid edit), 500 (the file cannot be written; it is left as it was).
        """
        if body.base_sha256 is None:
            raise EditRefusedError(422, "base_sha256 missing", [IssueInfo(
                field="base_sha256",
                message="saving needs the SHA-256 of the site file the edit was made on",
            )])  # fmt: skip
        with self._lock:
            preview, polygon, protection = self._preview(body)
            try:
                self._monitor.zone_changes.save(preview, body.zone_id, how=how)
            except ConfigError as exc:
                raise _refusal(exc) from exc
            except OSError as exc:
                raise EditRefusedError(500, "the site file cannot be written", [
                    IssueInfo(field="site_file", message=f"{preview.site_file}: {exc}")
                ]) from exc  # fmt: skip
        log.warning(
            "zone %s saved to %s (%s); config %s -> %s", body.zone_id, preview.site_file, how,
            preview.old_config_hash[:12], preview.new_config_hash[:12],
        )  # fmt: skip
        return ZoneSaveMessage(
            saved=True,
            zone_id=body.zone_id,
            sha256=text_sha256(preview.new_text),
            old_config_hash=preview.old_config_hash,
            new_config_hash=preview.new_config_hash,
            polygon_m=polygon,
            pending=self.pending(),
            diff=preview.diff,
            protection=protection,
        )

    def apply(self, how: str) -> ZoneApplyMessage:
        """Take the pending change into use now (the decision restarts in STOP)."""
        applied = self._monitor.zone_changes.apply_now(how=how)  # logs what it applied
        return ZoneApplyMessage(applied=applied, pending=self.pending())


class _Same:
    """A cache-key part equal only to the very same object (held, so its id stays unique)."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


# ---------------------------------------------------------------------- HTTP


def zone_routes(editor: ZoneEditor) -> list[Route]:
    """The editor's routes (see the module docstring)."""

    async def zones(request: Request) -> Response:
        return _json(await run_in_threadpool(editor.zones))

    async def preview(request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        if isinstance(body, list):
            return _json(_invalid(body))
        authenticated = bool(request.scope.get(AUTHENTICATED))
        return _json(await run_in_threadpool(editor.preview, body, with_diff=authenticated))

    async def save(request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        if isinstance(body, list):
            return _json(ZoneRefusal(error="the edit is not valid", issues=body), 422)
        how = f"live view save from {_client(request)}"
        try:
            return _json(await run_in_threadpool(editor.save, body, how))
        except EditRefusedError as refused:
            return _json(ZoneRefusal(error=str(refused), issues=refused.issues), refused.status)

    async def apply(request: Request) -> Response:
        how = f"explicit apply from the live view ({_client(request)})"
        return _json(await run_in_threadpool(editor.apply, how))

    return [
        Route("/api/zones", zones, methods=["GET"]),
        Route("/api/zones/preview", preview, methods=["POST"]),
        Route("/api/zones/save", save, methods=["POST"]),
        Route("/api/zones/apply", apply, methods=["POST"]),
    ]


async def _body(request: Request) -> ZoneEditBody | list[IssueInfo] | Response:
    """The request's ``ZoneEditBody``, its validation issues, or an error response."""
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            return _error(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, f"the request body is not JSON: {exc}")
    except RecursionError:  # a deeply nested body gave a 500
        return _error(400, "the request body is nested too deeply")
    try:
        return ZoneEditBody.model_validate(raw)
    except ValidationError as exc:
        return [
            IssueInfo(
                field=_field(error["loc"]),
                message=f"{error['msg']} (value: {_short(error.get('input'))})",
            )
            for error in exc.errors()
        ]


def _field(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(body)"


def _short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 120 else shown[:117] + "..."


def _issue_info(issue: ConfigIssue) -> IssueInfo:
    message = issue.message
    if issue.has_value:
        message += f" (value: {_short(issue.value)})"
    return IssueInfo(field=issue.field or "(top level)", message=message)


def _refusal(exc: ConfigError) -> EditRefusedError:
    issues = [_issue_info(issue) for issue in exc.issues]
    if any(issue.field == "base_sha256" for issue in exc.issues):
        return EditRefusedError(409, "the site file changed since the editor read it", issues)
    return EditRefusedError(422, "the edit is not valid", issues)


def _invalid(issues: list[IssueInfo]) -> ZonePreviewMessage:
    return ZonePreviewMessage(
        ok=False, issues=issues, polygon_m=None, diff=None, diff_withheld=False, added=False,
        base_sha256=None, old_config_hash=None, new_config_hash=None,
    )  # fmt: skip


def _json(model: ZonesMessage | ZonePreviewMessage | ZoneSaveMessage | ZoneRefusal
          | ZoneApplyMessage, status: int = 200) -> JSONResponse:  # fmt: skip
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=_NO_STORE)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=_NO_STORE)


def _client(request: Request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else "unknown client"
