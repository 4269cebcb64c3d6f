// ceasewatch dashboard: plain JS over the API, MapLibre GL served by the app itself.
// State lives in `cw.state`; every request goes through `api()` with the bearer token.
"use strict";

const cw = (window.cw = {
  state: {
    token: sessionStorage.getItem("cw_token") || "",
    user: null,
    config: null,
    agreement: null,
    days: [],
    violations: [],
    incidents: [],
    queue: [],
    loads: 0,
  },
});

const $ = (sel) => document.querySelector(sel);
const STATUS_COLORS = {
  detected: "#e07b00",
  under_review: "#7a3fb0",
  confirmed: "#c0182b",
  dismissed: "#7d8790",
};
const BAND_COLORS = ["#f2c14e", "#f5a05a", "#e86f5c", "#cc4b6c", "#8f3f88", "#5c3c7d"];
const PARTY_COLORS = ["#3b7dd8", "#d85b3b", "#3bb07d", "#a03bd8"];
const ACTION_LABELS = {
  under_review: "Start review",
  confirmed: "Confirm",
  dismissed: "Dismiss",
};
const MAX_PAGES = 20;

// --- plumbing ---------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "error";
    this.detail = err.detail;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  if (cw.state.token) headers.Authorization = `Bearer ${cw.state.token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (e) {
    body = null;
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

function toast(message, isError = false) {
  const el = document.createElement("div");
  el.className = "msg" + (isError ? " error" : "");
  el.textContent = message;
  $("#toast").appendChild(el);
  setTimeout(() => el.remove(), isError ? 9000 : 5000);
}

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function fmtTime(iso) {
  return iso ? iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, "Z") : "";
}

function setLoading(on) {
  document.body.dataset.loading = on ? "1" : "0";
}

// --- sign in ----------------------------------------------------------------------

async function signIn(token) {
  cw.state.token = token;
  try {
    cw.state.user = await api("/api/me");
  } catch (e) {
    cw.state.token = "";
    sessionStorage.removeItem("cw_token");
    throw e;
  }
  sessionStorage.setItem("cw_token", token);
  $("#whoami").textContent = `${cw.state.user.name} (${cw.state.user.role})`;
  $("#signout-btn").hidden = false;
  $("#signin").hidden = true;
}

function signOut() {
  sessionStorage.removeItem("cw_token");
  cw.state.token = "";
  cw.state.user = null;
  $("#whoami").textContent = "not signed in";
  $("#signout-btn").hidden = true;
  $("#signin").hidden = false;
  document.body.dataset.ready = "0";
}

// --- filters and time -------------------------------------------------------------

function fillSelect(sel, values) {
  const el = $(sel);
  const keep = el.value;
  el.innerHTML = '<option value="">all</option>' + values.map((v) => `<option value="${esc(v)}">${esc(v)}</option>`).join("");
  el.value = values.includes(keep) ? keep : "";
}

function buildDays(config) {
  const tr = config.time_range || {};
  if (!tr.min || !tr.max) return [];
  const days = [];
  const d = new Date(tr.min.slice(0, 10) + "T00:00:00Z");
  const end = new Date(tr.max.slice(0, 10) + "T00:00:00Z");
  while (d <= end && days.length < 5000) {
    days.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return days;
}

function timeWindow() {
  const days = cw.state.days;
  if (!days.length) return {};
  const i = Number($("#time-slider").value);
  const n = Number($("#time-window").value);
  const last = days[Math.min(i, days.length - 1)];
  const until = new Date(last + "T00:00:00Z");
  until.setUTCDate(until.getUTCDate() + 1);
  if (!n) return { until: until.toISOString().replace(".000", "") , label: `everything up to ${last}` };
  const since = new Date(until);
  since.setUTCDate(since.getUTCDate() - n);
  return {
    since: since.toISOString().replace(".000", ""),
    until: until.toISOString().replace(".000", ""),
    label: n === 1 ? last : `${since.toISOString().slice(0, 10)} … ${last}`,
  };
}

function filterParams({ withTime = true, withStatus = true } = {}) {
  const p = new URLSearchParams();
  const zone = $("#zone-filter").value;
  const sector = $("#sector-filter").value;
  const category = $("#category-filter").value;
  const status = $("#status-filter").value;
  if (zone) p.set("zone", zone);
  if (sector) p.set("sector", sector);
  if (category) p.set("category", category);
  if (withStatus && status) p.set("status", status);
  if (withTime) {
    const w = timeWindow();
    if (w.since) p.set("since", w.since);
    if (w.until) p.set("until", w.until);
  }
  return p;
}

async function fetchAll(path, params) {
  const limit = (cw.state.config && cw.state.config.max_page_size) || 1000;
  params.set("limit", String(limit));
  let features = [];
  let cursor = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    if (cursor) params.set("cursor", cursor);
    const fc = await api(`${path}?${params}`);
    features = features.concat(fc.features);
    cursor = fc.next_cursor;
    if (!cursor) break;
  }
  return { type: "FeatureCollection", features };
}

// --- map --------------------------------------------------------------------------

function mapStyle(config) {
  const style = {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#e8ecef" } }],
  };
  if (config.tile_url) {
    style.sources.tiles = {
      type: "raster",
      tiles: [config.tile_url],
      tileSize: 256,
      attribution: config.tile_attribution || "",
    };
    style.layers.push({ id: "tiles", type: "raster", source: "tiles" });
  }
  return style;
}

function emptyFC() {
  return { type: "FeatureCollection", features: [] };
}

function initMap(config) {
  if (!window.maplibregl) throw new Error("MapLibre GL is not loaded: run the set-up (npm run build --prefix web)");
  const map = new maplibregl.Map({
    container: "map",
    style: mapStyle(config),
    center: [36.5, 48.3],
    zoom: 5.5,
    attributionControl: config.tile_url ? {} : false,
    fadeDuration: 0,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
  cw.map = map;
  return new Promise((resolve) => map.on("load", () => resolve(map)));
}

function addDataLayers(map) {
  map.addSource("agreement", { type: "geojson", data: emptyFC() });
  map.addLayer({ id: "control-fill", type: "fill", source: "agreement", filter: ["==", ["get", "kind"], "control"], paint: { "fill-color": ["get", "_color"], "fill-opacity": 0.08 } });
  map.addLayer({ id: "band-fill", type: "fill", source: "agreement", filter: ["==", ["get", "kind"], "band"], paint: { "fill-color": ["get", "_color"], "fill-opacity": 0.22 } });
  map.addLayer({ id: "band-line", type: "line", source: "agreement", filter: ["==", ["get", "kind"], "band"], paint: { "line-color": ["get", "_color"], "line-width": 1 } });
  map.addLayer({ id: "sector-line", type: "line", source: "agreement", filter: ["==", ["get", "kind"], "sector"], paint: { "line-color": "#556", "line-width": 1, "line-dasharray": [2, 2] } });
  map.addLayer({ id: "contact-line", type: "line", source: "agreement", filter: ["==", ["get", "kind"], "line"], paint: { "line-color": "#b00020", "line-width": 2.5 } });

  const clusterPaint = (color) => ({
    "circle-color": color,
    "circle-opacity": 0.75,
    "circle-stroke-color": "#fff",
    "circle-stroke-width": 1.5,
    "circle-radius": ["step", ["get", "point_count"], 9, 10, 13, 50, 18, 200, 24],
  });
  for (const [name, color] of [["incidents", "#35607a"], ["violations", "#8c2d04"]]) {
    map.addSource(name, { type: "geojson", data: emptyFC(), cluster: true, clusterMaxZoom: 8, clusterRadius: 36 });
    map.addLayer({ id: `${name}-clusters`, type: "circle", source: name, filter: ["has", "point_count"], paint: clusterPaint(color) });
  }
  map.addLayer({
    id: "incidents-points", type: "circle", source: "incidents", filter: ["!", ["has", "point_count"]],
    paint: { "circle-color": "#35607a", "circle-radius": 4, "circle-stroke-color": "#fff", "circle-stroke-width": 1 },
  });
  map.addLayer({
    id: "violations-points", type: "circle", source: "violations", filter: ["!", ["has", "point_count"]],
    paint: {
      "circle-color": ["match", ["get", "status"], "detected", STATUS_COLORS.detected, "under_review", STATUS_COLORS.under_review, "confirmed", STATUS_COLORS.confirmed, "#7d8790"],
      "circle-radius": 6, "circle-stroke-color": "#fff", "circle-stroke-width": 1.5,
    },
  });

  for (const name of ["incidents", "violations"]) {
    map.on("click", `${name}-clusters`, async (e) => {
      const f = e.features[0];
      const zoom = await map.getSource(name).getClusterExpansionZoom(f.properties.cluster_id);
      map.easeTo({ center: f.geometry.coordinates, zoom });
    });
    map.on("click", `${name}-points`, (e) => openIncident(e.features[0].properties.incident_id));
    for (const layer of [`${name}-clusters`, `${name}-points`]) {
      map.on("mouseenter", layer, () => (map.getCanvas().style.cursor = "pointer"));
      map.on("mouseleave", layer, () => (map.getCanvas().style.cursor = ""));
    }
  }
}

function colorAgreement(fc) {
  const zones = fc.features.filter((f) => f.properties.kind === "band").map((f) => f.properties.zone);
  const order = [...zones].reverse(); // narrowest first gets the strongest colour
  const parties = [...new Set(fc.features.filter((f) => f.properties.kind === "control").map((f) => f.properties.party))];
  for (const f of fc.features) {
    if (f.properties.kind === "band") f.properties._color = BAND_COLORS[order.indexOf(f.properties.zone) % BAND_COLORS.length];
    if (f.properties.kind === "control") f.properties._color = PARTY_COLORS[parties.indexOf(f.properties.party) % PARTY_COLORS.length];
  }
  return fc;
}

function bboxOf(geometry) {
  const b = [180, 90, -180, -90];
  const walk = (c) => {
    if (typeof c[0] === "number") {
      b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]);
      b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]);
    } else c.forEach(walk);
  };
  walk(geometry.coordinates);
  return b;
}

function renderLegend(fc) {
  const bands = fc.features.filter((f) => f.properties.kind === "band").reverse();
  $("#legend").innerHTML =
    '<b>line of contact</b>' +
    bands.map((f) => `<span class="sw band" style="background:${f.properties._color}"></span>${esc(f.properties.zone)} ${f.properties.width_km} km`).join("") +
    "<br>" +
    Object.entries(STATUS_COLORS).map(([s, c]) => `<span class="sw" style="background:${c}"></span>${s.replace("_", " ")}`).join("") +
    '<span class="sw" style="background:#35607a"></span>incident' +
    '<br><span class="sw" style="background:#8c2d04"></span>violations, clustered' +
    '<span class="sw" style="background:#35607a"></span>incidents, clustered (click to zoom)';
}

// --- data -------------------------------------------------------------------------

async function loadAgreement() {
  const fc = colorAgreement(await api("/api/agreements/latest/geometry"));
  cw.state.agreement = fc;
  const agreements = await api("/api/agreements");
  const latest = agreements.agreements[agreements.agreements.length - 1];
  if (latest) $("#agreement-name").textContent = `${latest.name} · v${latest.version}`;
  if (cw.map) {
    cw.map.getSource("agreement").setData(fc);
    const line = fc.features.find((f) => f.properties.kind === "line");
    if (line) {
      const b = bboxOf(line.geometry);
      cw.map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 40, duration: 0 });
    }
  }
  renderLegend(fc);
}

async function reload() {
  setLoading(true);
  try {
    const w = timeWindow();
    $("#time-label").textContent = w.label || "";
    const showInc = $("#show-incidents").checked;
    const showVio = $("#show-violations").checked;
    const incParams = filterParams({ withStatus: false });
    const [violations, incidents] = await Promise.all([
      showVio ? fetchAll("/api/violations", filterParams()) : emptyFC(),
      showInc ? fetchAll("/api/incidents", incParams) : emptyFC(),
    ]);
    cw.state.violations = violations.features;
    cw.state.incidents = incidents.features;
    if (cw.map) {
      cw.map.getSource("violations").setData(violations);
      cw.map.getSource("incidents").setData(incidents);
    }
    $("#counts").textContent = `${incidents.features.length} incidents, ${violations.features.length} violations shown`;
    await Promise.all([loadChart(), loadCoverage(), loadQueue()]);
    cw.state.loads += 1;
  } catch (e) {
    toast(`loading failed: ${e.message}`, true);
  } finally {
    setLoading(false);
  }
}

async function loadChart() {
  const p = filterParams({ withTime: false });
  const data = await api(`/api/violations/daily-counts?${p}`);
  const byDay = new Map(cw.state.days.map((d) => [d, {}]));
  for (const r of data.counts) {
    const e = byDay.get(r.day) || {};
    e[r.status] = (e[r.status] || 0) + r.n;
    byDay.set(r.day, e);
  }
  const days = [...byDay.keys()].sort();
  const totals = days.map((d) => Object.values(byDay.get(d)).reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...totals);
  const W = 320, H = 100, bw = W / Math.max(1, days.length);
  const w = timeWindow();
  const inWin = (d) => (!w.since || d >= w.since.slice(0, 10)) && (!w.until || d < w.until.slice(0, 10));
  let bars = "";
  days.forEach((d, i) => {
    let y = H;
    for (const s of ["confirmed", "under_review", "detected", "dismissed"]) {
      const n = byDay.get(d)[s] || 0;
      if (!n) continue;
      const h = (n / max) * (H - 12);
      y -= h;
      bars += `<rect x="${(i * bw).toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${STATUS_COLORS[s]}" opacity="${inWin(d) ? 1 : 0.35}"><title>${d} ${s}: ${n}</title></rect>`;
    }
  });
  $("#daily-chart").innerHTML = `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" data-days="${days.length}">${bars}<text x="2" y="10" font-size="9" fill="#667">max ${max}/day</text></svg>`;
}

async function loadCoverage() {
  const w = timeWindow();
  const p = new URLSearchParams();
  if (w.since) p.set("since", w.since);
  if (w.until) p.set("until", w.until);
  const sector = $("#sector-filter").value;
  if (sector) p.set("sector", sector);
  const data = await api(`/api/coverage/received?${p}`);
  const perSource = new Map();
  for (const r of data.received) {
    const e = perSource.get(r.source) || { n: 0, days: new Set() };
    e.n += r.n_records;
    e.days.add(r.day);
    perSource.set(r.source, e);
  }
  const windowDays = w.since ? cw.state.days.filter((d) => d >= w.since.slice(0, 10) && d < w.until.slice(0, 10)) : cw.state.days.filter((d) => !w.until || d < w.until.slice(0, 10));
  let rows = "";
  for (const [src, e] of [...perSource.entries()].sort()) {
    const silent = windowDays.filter((d) => !e.days.has(d)).length;
    rows += `<tr><td>${esc(src)}</td><td>${e.n}</td><td>${silent ? `<span class="error">${silent} day(s) without records</span>` : "every day"}</td></tr>`;
  }
  let note = "";
  try {
    const cov = await api(`/api/coverage?${p}`);
    const unobserved = new Set();
    for (const r of cov.coverage) if (!r.observed) unobserved.add(`${r.sector} ${r.day}`);
    note = unobserved.size
      ? `<p class="error">${unobserved.size} sector-day(s) not observed by any source: not calm days, unknown ones.</p>`
      : '<p class="muted">Every sector was observed on every day of this window.</p>';
  } catch (e) {
    note = `<p class="muted">coverage per sector unavailable: ${esc(e.message)}</p>`;
  }
  $("#coverage").innerHTML = `<table><tr><th>source</th><th>records</th><th>days</th></tr>${rows || '<tr><td colspan="3">no records in this window</td></tr>'}</table>${note}`;
}

async function loadQueue() {
  const p = filterParams({ withTime: false, withStatus: false });
  p.set("status", "detected,under_review");
  p.set("limit", "50");
  const fc = await api(`/api/violations?${p}`);
  cw.state.queue = fc.features;
  $("#queue-count").textContent = `(${fc.features.length}${fc.next_cursor ? "+" : ""})`;
  const transitions = (cw.state.config && cw.state.config.transitions) || {};
  $("#review-queue").innerHTML = fc.features.map((f) => {
    const v = f.properties;
    const next = transitions[v.status] || [];
    return `<li class="queue-item" data-violation-id="${esc(v.violation_id)}" data-status="${esc(v.status)}">
      <div><span class="status ${esc(v.status)}">${esc(v.status.replace("_", " "))}</span>
        <b>${esc(v.violation_id)}</b> · ${esc(v.severity)}</div>
      <div class="muted">${esc(fmtTime(v.occurred_at))} · ${esc(v.category)} · ${esc(v.zone || "outside")}${v.sector ? " · " + esc(v.sector) : ""}</div>
      <div class="muted">${esc(v.rule)} · ${esc((v.sources || []).join(", "))}</div>
      <input class="comment" type="text" maxlength="4000" placeholder="comment (required)">
      <div class="actions">
        <button type="button" class="open-btn" data-incident-id="${esc(v.incident_id)}">Open incident</button>
        ${next.map((s) => `<button type="button" class="status-btn" data-status="${s}">${ACTION_LABELS[s] || s}</button>`).join("")}
      </div></li>`;
  }).join("") || '<li class="muted">nothing waiting for review</li>';
}

async function changeStatus(violationId, status, comment) {
  if (!comment.trim()) {
    toast("a comment is required to change a violation's status", true);
    return false;
  }
  try {
    await api(`/api/violations/${encodeURIComponent(violationId)}/status`, { method: "POST", body: { status, comment } });
  } catch (e) {
    toast(`${violationId}: ${e.message}`, true);
    return false;
  }
  toast(`${violationId} → ${status.replace("_", " ")}`);
  await reload();
  const open = $("#incident-panel").dataset.incidentId;
  if (open && !$("#incident-panel").hidden) await openIncident(open);
  return true;
}

async function openIncident(incidentId) {
  let inc;
  try {
    inc = await api(`/api/incidents/${encodeURIComponent(incidentId)}`);
  } catch (e) {
    toast(`incident ${incidentId}: ${e.message}`, true);
    return;
  }
  const panel = $("#incident-panel");
  panel.dataset.incidentId = incidentId;
  $("#incident-title").textContent = `Incident ${inc.incident_id}`;
  const facts = {
    when: `${fmtTime(inc.occurred_at)} (${inc.time_precision})`,
    where: `${inc.location_name || ""} ${inc.lat.toFixed(4)}, ${inc.lon.toFixed(4)} ±${Math.round(inc.geo_precision_m)} m`,
    category: (inc.categories || [inc.category]).join(", "),
    zone: `${inc.zone || "outside"}${inc.distance_to_line_km != null ? ` (${inc.distance_to_line_km.toFixed(1)} km from the line, side ${inc.side})` : ""}`,
    sector: inc.sector || "—",
    sources: `${inc.n_sources} independent: ${(inc.sources || []).join(", ")}`,
    confidence: inc.confidence != null ? inc.confidence.toFixed(2) : "—",
    "attributed to": inc.attributed_to || "not stated by the evidence",
  };
  $("#incident-facts").innerHTML = Object.entries(facts).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("");
  $("#incident-violations").innerHTML = inc.violations.map((v) =>
    `<li data-violation-id="${esc(v.violation_id)}"><span class="status ${esc(v.status)}">${esc(v.status.replace("_", " "))}</span> ${esc(v.violation_id)}: ${esc(v.rule)} · ${esc(v.severity)}${v.active ? "" : " (no longer holds)"}</li>`
  ).join("") || '<li class="muted">no violation</li>';
  $("#incident-events").innerHTML = inc.events.map((f) => {
    const e = f.properties;
    return `<li class="evidence" data-event-id="${esc(e.event_id)}"><span class="src">${esc(e.source)}</span> ${esc(e.source_event_id)}<br>
      <span class="muted">${esc(fmtTime(e.occurred_at))} · ${esc(e.category)}${e.weapon_class ? " · " + esc(e.weapon_class) : ""} · grade ${esc(e.reliability)}${esc(e.credibility)} · ±${Math.round(e.geo_precision_m)} m</span>
      ${e.notes ? `<br>${esc(e.notes)}` : ""}</li>`;
  }).join("");
  $("#incident-decisions").innerHTML = inc.decisions.map((d) => `<li>${esc(d.kind)} by ${esc(d.actor)}: ${esc(d.comment)}</li>`).join("") || '<li class="muted">none</li>';
  panel.hidden = false;
  if (cw.map) cw.map.easeTo({ center: [inc.lon, inc.lat], zoom: Math.max(cw.map.getZoom(), 9), duration: 300 });
}

// --- start ------------------------------------------------------------------------

async function loadGuarantees() {
  const data = await api("/api/guarantees");
  const rows = data.scorecard
    .map(
      (r) =>
        `<tr><td>${esc(r.guarantor)}</td><td>${esc(r.component)}</td><td>${r.n_commitments}</td>` +
        `<td>${r.n_delivered + r.n_deployed}</td><td>${r.n_overdue ? `<span class="error">${r.n_overdue}</span>` : 0}</td></tr>`,
    )
    .join("");
  $("#guarantee-count").textContent = data.overdue.length ? `(${data.overdue.length} overdue)` : "";
  $("#guarantees").innerHTML = rows
    ? `<table><tr><th>guarantor</th><th>component</th><th>committed</th><th>delivered</th><th>overdue</th></tr>${rows}</table>`
    : '<p class="muted">no commitments in the ledger</p>';
}

async function openGuaranteeReport() {
  // the report needs the token, so it is fetched here and shown from a local copy
  const r = await fetch("/api/guarantees/report", {
    headers: { Authorization: `Bearer ${cw.state.token}` },
  });
  if (!r.ok) {
    toast(`scorecard report: HTTP ${r.status}`, true);
    return;
  }
  const url = URL.createObjectURL(new Blob([await r.text()], { type: "text/html" }));
  window.open(url, "_blank");
}

async function start() {
  const config = await api("/api/config");
  cw.state.config = config;
  fillSelect("#zone-filter", config.zones);
  fillSelect("#sector-filter", config.sectors);
  fillSelect("#category-filter", config.categories);
  fillSelect("#status-filter", config.statuses);
  cw.state.days = buildDays(config);
  const slider = $("#time-slider");
  slider.max = String(Math.max(0, cw.state.days.length - 1));
  slider.value = slider.max;
  if (!cw.map) {
    try {
      const map = await initMap(config);
      addDataLayers(map);
    } catch (e) {
      $("#map").innerHTML = `<p class="error" style="padding:1em">The map cannot be shown: ${esc(e.message)}</p>`;
      cw.map = null;
    }
  }
  await loadAgreement();
  await reload();
  try {
    await loadGuarantees();
  } catch (e) {
    $("#guarantees").innerHTML = `<p class="muted">${esc(e.message)}</p>`;
  }
  document.body.dataset.ready = "1";
}

function wire() {
  $("#signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#signin-error").textContent = "";
    try {
      await signIn($("#token-input").value.trim());
      $("#token-input").value = "";
      await start();
    } catch (e) {
      $("#signin-error").textContent = e.message;
    }
  });
  $("#signout-btn").addEventListener("click", signOut);
  let timer = null;
  const debounced = () => {
    clearTimeout(timer);
    timer = setTimeout(reload, 150);
  };
  for (const id of ["#zone-filter", "#sector-filter", "#category-filter", "#status-filter", "#time-window", "#show-incidents", "#show-violations"]) {
    $(id).addEventListener("change", debounced);
  }
  $("#time-slider").addEventListener("input", () => {
    $("#time-label").textContent = timeWindow().label || "";
    debounced();
  });
  $("#incident-close").addEventListener("click", () => ($("#incident-panel").hidden = true));
  $("#guarantee-report-btn").addEventListener("click", () => openGuaranteeReport().catch((e) => toast(e.message, true)));
  $("#review-queue").addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button");
    if (!btn) return;
    const item = btn.closest(".queue-item");
    if (btn.classList.contains("open-btn")) return openIncident(btn.dataset.incidentId);
    if (btn.classList.contains("status-btn")) {
      btn.disabled = true;
      await changeStatus(item.dataset.violationId, btn.dataset.status, item.querySelector(".comment").value);
      btn.disabled = false;
    }
  });
}

cw.openIncident = openIncident;
cw.reload = reload;
cw.changeStatus = changeStatus;

wire();
if (cw.state.token) {
  signIn(cw.state.token).then(start).catch(() => signOut());
} else {
  $("#signin").hidden = false;
}
