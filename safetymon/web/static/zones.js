// safetymon live view: the zone editor (GET /api/zones, POST /api/zones/preview|save|apply).
// Vertices are SVG handles over a still of the floor plan or of a camera. On the plan they
// are plan pixels converted to floor metres with the plan's transform; on a camera they are
// that camera's pixels, sent with camera_id and mapped to the floor by the server.
// The token is read from the page's input field when a request is made; it is never stored.
"use strict";

(() => {
  const PREVIEW_DELAY_MS = 300;
  const PENDING_POLL_MS = 2000;
  const HANDLE_RADIUS = 7;
  const NEW_ZONE = "__new__";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const byId = (id) => document.getElementById(id);

  const ed = {
    info: null, // ZonesMessage
    surface: "plan", // "plan" or a camera id
    zoneId: null, // the zone edited (or the new zone's id)
    isNew: false,
    points: [], // vertices in the surface's pixels
    valid: false,
    previewTimer: null,
    previewSeq: 0,
    drag: null,
  };

  // ------------------------------------------------------------------ geometry
  function planToFloor([col, row]) {
    const p = ed.info.plan;
    return [(col - p.origin_px[0]) / p.scale_px_per_m, (p.origin_px[1] - row) / p.scale_px_per_m];
  }

  function floorToPlan([x, y]) {
    const p = ed.info.plan;
    return [p.origin_px[0] + p.scale_px_per_m * x, p.origin_px[1] - p.scale_px_per_m * y];
  }

  function surfaceSize() {
    if (ed.surface === "plan") {
      return [ed.info.plan.width_px, ed.info.plan.height_px];
    }
    const cam = camera(ed.surface);
    return [cam.width_px, cam.height_px];
  }

  function camera(id) {
    return ed.info.cameras.find((c) => c.camera_id === id);
  }

  function zone(id) {
    return ed.info.zones.find((z) => z.zone_id === id);
  }

  // a zone's polygon in the surface's pixels, or null when it cannot be shown there
  function zonePoints(id) {
    if (ed.surface === "plan") {
      const z = zone(id);
      return z ? z.polygon.map(floorToPlan) : null;
    }
    const pts = camera(ed.surface).zones[id];
    return pts ? pts.map((p) => [p[0], p[1]]) : null;
  }

  function svgPoint(event) {
    const svg = byId("ze-svg");
    const pt = svg.createSVGPoint();
    pt.x = event.clientX;
    pt.y = event.clientY;
    const local = pt.matrixTransform(svg.getScreenCTM().inverse());
    const [w, h] = surfaceSize();
    return [Math.min(Math.max(local.x, 0), w), Math.min(Math.max(local.y, 0), h)];
  }

  function nearestEdge(p) {
    let best = 0;
    let bestDist = Infinity;
    const n = ed.points.length;
    for (let i = 0; i < n; i += 1) {
      const a = ed.points[i];
      const b = ed.points[(i + 1) % n];
      const dx = b[0] - a[0];
      const dy = b[1] - a[1];
      const len2 = dx * dx + dy * dy || 1;
      const t = Math.min(1, Math.max(0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2));
      const d = Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
      if (d < bestDist) {
        bestDist = d;
        best = i;
      }
    }
    return best;
  }

  // ------------------------------------------------------------------ drawing
  function el(name, attrs) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) {
      node.setAttribute(k, String(v));
    }
    return node;
  }

  function draw() {
    const svg = byId("ze-svg");
    svg.replaceChildren();
    if (!ed.info) {
      return;
    }
    const [w, h] = surfaceSize();
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    for (const z of ed.info.zones) {
      if (z.zone_id === ed.zoneId) {
        continue;
      }
      const pts = zonePoints(z.zone_id);
      if (pts) {
        svg.appendChild(el("polygon", { class: "ze-other", points: pts.join(" ") }));
      }
    }
    if (ed.points.length === 0) {
      return;
    }
    svg.appendChild(el("polygon", {
      id: "ze-shape",
      class: `ze-shape${ed.valid ? "" : " invalid"}`,
      points: ed.points.join(" "),
    }));
    ed.points.forEach((a, i) => {
      const b = ed.points[(i + 1) % ed.points.length];
      const edge = el("line", { class: "ze-edge", x1: a[0], y1: a[1], x2: b[0], y2: b[1] });
      edge.dataset.index = String(i);
      svg.appendChild(edge);
    });
    const scale = w / Math.max(1, svg.getBoundingClientRect().width || w);
    ed.points.forEach((p, i) => {
      const handle = el("circle", {
        class: `ze-handle${ed.drag && ed.drag.index === i ? " dragging" : ""}`,
        cx: p[0], cy: p[1], r: HANDLE_RADIUS * scale,
      });
      handle.dataset.index = String(i);
      svg.appendChild(handle);
    });
    showVertices();
  }

  function showVertices() {
    const text = ed.surface === "plan"
      ? ed.points.map(planToFloor).map(([x, y]) => `(${x.toFixed(3)}, ${y.toFixed(3)})`)
      : ed.points.map(([u, v]) => `(${u.toFixed(1)} px, ${v.toFixed(1)} px)`);
    const unit = ed.surface === "plan" ? "floor metres" : `camera ${ed.surface} pixels`;
    byId("ze-vertices").textContent = `${ed.zoneId || "?"} in ${unit}: ${text.join(" ")}`;
  }

  // ------------------------------------------------------------------ editing
  function onPointerDown(event) {
    const target = event.target;
    if (target.classList.contains("ze-handle")) {
      ed.drag = { index: Number(target.dataset.index), pointer: event.pointerId };
      byId("ze-svg").setPointerCapture(event.pointerId);
      event.preventDefault();
      draw();
    } else if (target.classList.contains("ze-edge") || event.shiftKey) {
      const p = svgPoint(event);
      const index = target.classList.contains("ze-edge")
        ? Number(target.dataset.index) : nearestEdge(p);
      ed.points.splice(index + 1, 0, p);
      changed();
    }
  }

  function onPointerMove(event) {
    if (!ed.drag || event.pointerId !== ed.drag.pointer) {
      return;
    }
    ed.points[ed.drag.index] = svgPoint(event);
    draw();
  }

  function onPointerUp(event) {
    if (!ed.drag || event.pointerId !== ed.drag.pointer) {
      return;
    }
    ed.points[ed.drag.index] = svgPoint(event);
    ed.drag = null;
    changed();
  }

  function onDoubleClick(event) {
    if (!event.target.classList.contains("ze-handle")) {
      return;
    }
    if (ed.points.length <= 3) {
      byId("ze-result").textContent = "a zone needs at least 3 vertices";
      return;
    }
    ed.points.splice(Number(event.target.dataset.index), 1);
    changed();
  }

  function changed() {
    draw();
    closeSave();
    byId("ze-validation").textContent = "checking…";
    byId("ze-validation").dataset.valid = "";
    byId("ze-save-open").disabled = true;
    clearTimeout(ed.previewTimer);
    ed.previewTimer = setTimeout(() => preview(null), PREVIEW_DELAY_MS);
  }

  function editBody() {
    const body = {
      zone_id: ed.zoneId,
      polygon: ed.surface === "plan" ? ed.points.map(planToFloor) : ed.points,
      base_sha256: ed.info.sha256,
    };
    if (ed.surface !== "plan") {
      body.camera_id = ed.surface;
    }
    if (ed.isNew) {
      body.type = byId("ze-new-type").value;
    }
    return body;
  }

  async function post(url, body, token) {
    const headers = { "Content-Type": "application/json" };
    if (token) {
      headers.Authorization = `Bearer ${token}`;
    }
    const response = await fetch(url, {
      method: "POST", headers, body: body === null ? "" : JSON.stringify(body),
    });
    let reply = {};
    try {
      reply = await response.json();
    } catch (error) {
      reply = { error: `HTTP ${response.status}, not JSON` };
    }
    return { status: response.status, ok: response.ok, body: reply };
  }

  function showIssues(issues) {
    const list = byId("ze-issues");
    list.replaceChildren();
    for (const issue of issues) {
      const item = document.createElement("li");
      item.textContent = `${issue.field}: ${issue.message}`;
      list.appendChild(item);
    }
  }

  // what the edit does to the protection (areas lost, each robot's cover of its S_p)
  function showProtection(lines) {
    const list = byId("ze-protection");
    list.replaceChildren();
    for (const line of lines) {
      const item = document.createElement("li");
      item.textContent = line;
      list.appendChild(item);
    }
  }

  // validate the edit; with a token the reply carries the diff (returned)
  async function preview(token) {
    if (!ed.zoneId) {
      byId("ze-validation").textContent = "give the new zone an id";
      byId("ze-validation").dataset.valid = "false";
      return null;
    }
    const seq = ++ed.previewSeq;
    const validation = byId("ze-validation");
    try {
      const { status, body } = await post("/api/zones/preview", editBody(), token);
      if (seq !== ed.previewSeq) {
        return null; // a newer edit is being checked
      }
      if (status !== 200) {
        throw new Error(body.error || `HTTP ${status}`);
      }
      ed.valid = body.ok;
      validation.textContent = body.ok ? "valid" : "not valid";
      validation.dataset.valid = body.ok ? "true" : "false";
      showIssues(body.issues);
      showProtection(body.protection || []);
      byId("ze-save-open").disabled = !(body.ok && ed.info.editable);
      draw();
      return body;
    } catch (error) {
      ed.valid = false;
      validation.textContent = `cannot check: ${error.message || error}`;
      validation.dataset.valid = "false";
      byId("ze-save-open").disabled = true;
      return null;
    }
  }

  // ------------------------------------------------------------------ saving
  function openSave() {
    byId("ze-save").hidden = false;
    byId("ze-diff").textContent = "";
    byId("ze-confirm").disabled = true;
    byId("ze-result").textContent = "type the token, then look at the change before saving";
    byId("ze-token").focus();
  }

  function closeSave() {
    byId("ze-save").hidden = true;
    byId("ze-diff").textContent = "";
    byId("ze-confirm").disabled = true;
  }

  async function showDiff(event) {
    event.preventDefault();
    const token = byId("ze-token").value;
    if (!token) {
      byId("ze-result").textContent = "the token is needed to see the change and to save it";
      return;
    }
    const reply = await preview(token);
    if (!reply) {
      byId("ze-result").textContent = "the change could not be checked (wrong token?)";
      return;
    }
    if (!reply.ok) {
      byId("ze-result").textContent = "the edit is not valid: nothing to save";
      return;
    }
    byId("ze-diff").textContent = reply.diff || "(no change to the file)";
    byId("ze-confirm").disabled = !reply.diff;
    byId("ze-result").textContent = reply.diff
      ? `config ${reply.old_config_hash.slice(0, 12)} → ${reply.new_config_hash.slice(0, 12)}: ` +
        "confirm to write the site file"
      : "nothing changes";
  }

  async function confirmSave() {
    byId("ze-confirm").disabled = true;
    const result = byId("ze-result");
    try {
      const { status, body } = await post("/api/zones/save", editBody(), byId("ze-token").value);
      if (status === 200) {
        result.textContent = `saved ${body.zone_id}: file ${body.sha256.slice(0, 12)}, config ` +
          `${body.old_config_hash.slice(0, 12)} → ${body.new_config_hash.slice(0, 12)}`;
        closeSave();
        await load(body.zone_id);
        result.dataset.saved = body.sha256; // only once the editor shows the saved file again
        return;
      }
      showIssues(body.issues || []);
      result.textContent = status === 409
        ? "refused: the site file changed since the editor read it; press Revert to reload"
        : `refused (HTTP ${status}): ${body.error}`;
    } catch (error) {
      result.textContent = `save failed: ${error.message || error}`;
    }
  }

  async function applyNow() {
    const token = byId("ze-token").value;
    const result = byId("ze-result");
    if (!token) {
      byId("ze-save").hidden = false;
      result.textContent = "type the token first";
      return;
    }
    try {
      const { status, body } = await post("/api/zones/apply", null, token);
      result.textContent = status === 200
        ? (body.applied ? "applied: the monitor uses the edited zones (restarting in STOP)"
          : "nothing was pending (already applied)")
        : `refused (HTTP ${status}): ${body.error}`;
      await load(ed.zoneId);
    } catch (error) {
      result.textContent = `apply failed: ${error.message || error}`;
    }
  }

  // ------------------------------------------------------------------ loading
  function selectZone(id) {
    closeSave();
    ed.isNew = id === NEW_ZONE;
    byId("ze-new").hidden = !ed.isNew;
    if (ed.isNew) {
      ed.zoneId = byId("ze-new-id").value.trim() || null;
      const [w, h] = surfaceSize();
      ed.points = [[w * 0.4, h * 0.4], [w * 0.6, h * 0.4], [w * 0.6, h * 0.6], [w * 0.4, h * 0.6]];
      changed();
      return;
    }
    ed.zoneId = id;
    ed.points = zonePoints(id) || [];
    ed.valid = true;
    byId("ze-validation").textContent = ed.points.length
      ? "saved zone (unchanged)" : `zone ${id} is not in view of this camera: edit it on the plan`;
    byId("ze-validation").dataset.valid = "";
    showIssues([]);
    byId("ze-save-open").disabled = true;
    draw();
    // the handles now stand in this surface's pixels (a switch of surface waits for the
    // image first; until then the old surface's handles are still drawn)
    byId("ze-svg").dataset.surface = ed.surface;
  }

  function showInfo() {
    const info = ed.info;
    const status = byId("ze-status");
    status.textContent = info.why_not
      ? `Viewing only: ${info.why_not}`
      : `Editing ${info.site_file} (file ${info.sha256.slice(0, 12)})`;
    const pending = byId("ze-pending");
    pending.hidden = info.pending.length === 0;
    byId("ze-pending-zones").textContent = info.pending.join(", ");
    byId("ze-apply").disabled = !info.editable;
  }

  async function load(keepZone) {
    const response = await fetch("/api/zones", { cache: "no-store" });
    if (!response.ok) {
      byId("ze-status").textContent = `zone editor unavailable: HTTP ${response.status}`;
      return;
    }
    ed.info = await response.json();
    showInfo();
    const zoneSelect = byId("ze-zone");
    const chosen = keepZone || zoneSelect.value || (ed.info.zones[0] || {}).zone_id;
    zoneSelect.replaceChildren();
    for (const z of ed.info.zones) {
      zoneSelect.appendChild(new Option(`${z.zone_id} (${z.type})`, z.zone_id));
    }
    zoneSelect.appendChild(new Option("new zone…", NEW_ZONE));
    const surface = byId("ze-surface");
    surface.replaceChildren(new Option("floor plan", "plan"));
    for (const cam of ed.info.cameras) {
      const option = new Option(`camera ${cam.camera_id}`, cam.camera_id);
      option.disabled = !cam.drawable;
      if (!cam.drawable) {
        option.textContent += ` (${cam.why_not})`;
      }
      surface.appendChild(option);
    }
    if (!ed.info.cameras.some((c) => c.camera_id === ed.surface && c.drawable)) {
      ed.surface = "plan";
    }
    surface.value = ed.surface;
    const types = byId("ze-new-type");
    if (types.options.length === 0) {
      for (const t of ed.info.zone_types) {
        types.appendChild(new Option(t, t));
      }
    }
    await setImage();
    zoneSelect.value = ed.info.zones.some((z) => z.zone_id === chosen) ? chosen
      : (ed.info.zones[0] || {}).zone_id;
    selectZone(zoneSelect.value);
  }

  function setImage() {
    const image = byId("ze-image");
    const url = ed.surface === "plan" ? "/plan.png" : camera(ed.surface).image_url;
    return new Promise((resolve) => {
      image.onload = resolve;
      image.onerror = resolve;
      image.src = `${url}?t=${Date.now()}`;
    });
  }

  // keep "saved, not yet used" current (a pending change is applied on the next STOP)
  async function pollPending() {
    try {
      const response = await fetch("/api/zones", { cache: "no-store" });
      if (response.ok && ed.info) {
        const fresh = await response.json();
        ed.info.pending = fresh.pending;
        showInfo();
        if (fresh.sha256 !== ed.info.sha256) {
          byId("ze-status").textContent += " — the file has changed since: press Revert";
        }
      }
    } catch (error) {
      // lost contact shows in the decision panel; keep polling
    } finally {
      setTimeout(pollPending, PENDING_POLL_MS);
    }
  }

  async function start() {
    let info;
    try {
      info = await (await fetch("/api/info", { cache: "no-store" })).json();
    } catch (error) {
      byId("ze-status").textContent = `zone editor unavailable: ${error.message || error}`;
      return;
    }
    if (!info.zone_editor) {
      byId("ze-status").textContent = "the zone editor is not served by this view";
      return;
    }
    const svg = byId("ze-svg");
    svg.addEventListener("pointerdown", onPointerDown);
    svg.addEventListener("pointermove", onPointerMove);
    svg.addEventListener("pointerup", onPointerUp);
    svg.addEventListener("pointercancel", onPointerUp);
    svg.addEventListener("dblclick", onDoubleClick);
    byId("ze-zone").addEventListener("change", (e) => selectZone(e.target.value));
    byId("ze-new-id").addEventListener("input", (e) => {
      ed.zoneId = e.target.value.trim() || null;
      changed();
    });
    byId("ze-new-type").addEventListener("change", changed);
    byId("ze-surface").addEventListener("change", async (e) => {
      ed.surface = e.target.value;
      await setImage();
      selectZone(byId("ze-zone").value); // another surface starts again from the saved zone
    });
    byId("ze-revert").addEventListener("click", () => load(byId("ze-zone").value));
    byId("ze-save-open").addEventListener("click", openSave);
    byId("ze-save").addEventListener("submit", showDiff);
    byId("ze-confirm").addEventListener("click", confirmSave);
    byId("ze-cancel").addEventListener("click", () => {
      closeSave();
      byId("ze-result").textContent = "";
    });
    byId("ze-apply").addEventListener("click", applyNow);
    window.addEventListener("resize", draw);
    try {
      await load(null);
      setTimeout(pollPending, PENDING_POLL_MS);
    } catch (error) {
      byId("ze-status").textContent = `zone editor unavailable: ${error.message || error}`;
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
