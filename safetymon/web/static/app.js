// safetymon live view: polls the JSON API, shows camera MJPEG streams and the floor plan.
// Plain script, no libraries; every value is written with textContent (no HTML injection).
"use strict";

const STATE_POLL_MS = 250;
const PLAN_POLL_MS = 500;
const EPISODES_POLL_MS = 2000;
const REQUEST_TIMEOUT_MS = 2000;
const STALE_DECISION_S = 1.0;

const $ = (id) => document.getElementById(id);

async function getJson(url) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    const response = await fetch(url, { signal: controller.signal, cache: "no-store" });
    const body = await response.json();
    return { ok: response.ok, status: response.status, body };
  } finally {
    clearTimeout(timer);
  }
}

function fmt(value, digits, unit) {
  return value === null || value === undefined ? "–" : `${value.toFixed(digits)}${unit}`;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function showState(state) {
  const el = $("state");
  const stale = !state.loop_alive || state.decision_age_s === null
    || state.decision_age_s > STALE_DECISION_S;
  let name = state.state || "NO DECISION";
  if (state.state && stale) {
    name = `${state.state} (STALE)`;
  }
  el.textContent = name;
  el.dataset.state = stale ? "" : (state.state || "");
  el.className = `state ${stale || !state.state ? "unknown" : state.state}`;
  $("speed").textContent = state.state ? state.speed_scale.toFixed(2) : "–";
  $("reasons").textContent = state.reasons.length ? state.reasons.join(", ") : "none";
  const c = state.closest;
  $("closest").textContent = c
    ? `track ${c.track_id} to ${c.robot_id}: d ${fmt(c.distance_m, 2, " m")}, ` +
      `S_p ${fmt(c.protective_separation_m, 2, " m")}`
    : "–";
  $("zones").textContent = state.zones_occupied.length ? state.zones_occupied.join(", ") : "none";
  $("tracks").textContent = String(state.tracks.length);
  $("loop").textContent = `${state.loop_alive ? "running" : "NOT RUNNING"}, ` +
    `${state.loop_rate_hz.toFixed(0)} Hz, cycle ${state.cycle}, ` +
    `decision age ${fmt(state.decision_age_s, 3, " s")}`;

  const causes = $("causes").querySelector("tbody");
  causes.replaceChildren();
  for (const cause of state.causes) {
    const row = document.createElement("tr");
    cell(row, cause.reason);
    cell(row, cause.subject || "–");
    cell(row, cause.state === "SLOW" ? `SLOW ×${cause.speed_scale.toFixed(2)}` : cause.state);
    cell(row, cause.detail);
    cell(row, cause.active ? "active" : (cause.latched ? "awaiting reset" : "restart delay"));
    causes.appendChild(row);
  }

  const health = $("health-table").querySelector("tbody");
  health.replaceChildren();
  for (const cam of state.cameras) {
    const row = document.createElement("tr");
    const problem = cam.fault || cam.detector_fault || (cam.stale ? "stale" : "");
    row.className = problem ? "bad" : "";
    cell(row, `camera ${cam.camera_id} (${cam.frames} frames)`);
    cell(row, fmt(cam.frame_age_s, 3, " s"));
    cell(row, fmt(cam.max_frame_age_s, 3, " s"));
    cell(row, problem || "ok");
    health.appendChild(row);
  }
  for (const robot of state.robots) {
    const row = document.createElement("tr");
    const problem = robot.fault || (robot.stale ? "stale" : "");
    row.className = problem ? "bad" : "";
    cell(row, `robot ${robot.robot_id}`);
    cell(row, fmt(robot.age_s, 3, " s"));
    cell(row, fmt(robot.max_age_s, 3, " s"));
    cell(row, problem || "ok");
    health.appendChild(row);
  }
}

function showLost(message) {
  const el = $("state");
  el.textContent = "UNKNOWN";
  el.dataset.state = "";
  el.className = "state unknown";
  const conn = $("connection");
  conn.textContent = `no contact with the monitor: ${message}`;
  conn.className = "connection bad";
}

async function pollState() {
  try {
    const { ok, status, body } = await getJson("/api/state");
    if (!ok) {
      throw new Error(`HTTP ${status}: ${body.error || ""}`);
    }
    showState(body);
    const conn = $("connection");
    conn.textContent = "connected";
    conn.className = "connection ok";
  } catch (error) {
    showLost(error.message || String(error));
  }
  setTimeout(pollState, STATE_POLL_MS);
}

function pollPlan() {
  // load the next plan off-screen, then swap it in (no flicker, no pile-up)
  const next = new Image();
  const done = () => setTimeout(pollPlan, PLAN_POLL_MS);
  next.onload = () => {
    $("plan").src = next.src;
    done();
  };
  next.onerror = done;
  next.src = `/plan.png?t=${Date.now()}`;
}

async function pollEpisodes() {
  try {
    const { body } = await getJson("/api/episodes?limit=20");
    const list = $("episodes");
    list.replaceChildren();
    $("episodes-status").textContent = body.error
      ? `evidence store cannot be read: ${body.error}`
      : (body.episodes.length ? "" : "no episodes yet");
    for (const ep of body.episodes) {
      const item = document.createElement("li");
      item.className = `episode ${ep.worst_state}`;
      for (const snap of ep.snapshots) {
        const link = document.createElement("a");
        link.href = snap.url;
        const img = document.createElement("img");
        img.src = snap.url;
        img.alt = `snapshot ${snap.camera_id}`;
        link.appendChild(img);
        item.appendChild(link);
      }
      const text = document.createElement("span");
      const distance = ep.min_distance_m === null ? "" : `, closest ${ep.min_distance_m.toFixed(2)} m`;
      text.textContent = `${ep.start_utc} ${ep.worst_state} (${ep.kind}, ${ep.category}) ` +
        `${ep.duration_s.toFixed(1)} s: ${ep.reasons.join(", ")}${distance}`;
      item.appendChild(text);
      list.appendChild(item);
    }
  } catch (error) {
    $("episodes-status").textContent = `episodes unavailable: ${error.message || error}`;
  }
  setTimeout(pollEpisodes, EPISODES_POLL_MS);
}

async function reset(event) {
  event.preventDefault();
  const result = $("reset-result");
  try {
    const response = await fetch("/api/reset", {
      method: "POST",
      headers: { Authorization: `Bearer ${$("reset-token").value}` },
    });
    const body = await response.json();
    result.textContent = response.ok ? "reset requested" : `refused: ${body.error}`;
  } catch (error) {
    result.textContent = `failed: ${error.message || error}`;
  }
}

async function start() {
  try {
    const { body } = await getJson("/api/info");
    $("site").textContent = body.site;
    document.title = `safetymon ${body.site}`;
    const cameras = $("cameras");
    for (const cam of body.cameras) {
      const figure = document.createElement("figure");
      const img = document.createElement("img");
      img.className = "camera";
      img.id = `camera-${cam.camera_id}`;
      img.alt = `camera ${cam.camera_id}`;
      img.src = cam.mjpeg_url;
      const caption = document.createElement("figcaption");
      caption.textContent = cam.camera_id;
      figure.append(img, caption);
      cameras.appendChild(figure);
    }
    if (!body.writable) {
      $("reset-token").disabled = true;
      $("reset-button").disabled = true;
      $("reset-result").textContent = "write actions disabled (no token configured)";
    }
  } catch (error) {
    showLost(error.message || String(error));
  }
  $("reset-form").addEventListener("submit", reset);
  pollState();
  pollPlan();
  pollEpisodes();
}

document.addEventListener("DOMContentLoaded", start);
