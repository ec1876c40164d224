// The NOC page: live map, alert feed, incident view, sensor board, device health, training.
// Vanilla JS, no CDN. State comes from the REST API once, then from /ws (see docs/noc.md).
"use strict";

const noc = (() => {
  const ROLES = { viewer: 1, operator: 2, admin: 3 };
  const STALE_US = 5 * 60 * 1e6;
  const MAX_ALERTS = 500;
  const $ = (id) => document.getElementById(id);
  const state = {
    token: "", me: null, seq: 0, epoch: "", ws: null, retry: 500, selected: null,
    live: false, connects: 0, failures: 0, reconnect: null,
    sites: new Map(), guards: new Map(), names: new Map(), alerts: new Map(),
    training: new Map(), site: "", dirty: { map: true, alerts: true }, view: null, timers: [],
  };

  // -- helpers ---------------------------------------------------------------------------
  const text = (v) => (v === null || v === undefined ? "" : String(v));
  const when = (us) => (us ? new Date(us / 1000).toISOString().replace("T", " ").slice(0, 19) : "");
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    for (const child of children) node.append(child);
    return node;
  };
  const can = (role) => state.me && ROLES[state.me.role] >= ROLES[role];

  async function api(path, options = {}) {
    const response = await fetch(path, {
      ...options,
      headers: { Authorization: "Bearer " + state.token, "Content-Type": "application/json" },
    });
    if (response.status === 401) {
      signOut("the token was refused; sign in again");
      throw new Error("unauthorized");
    }
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  // -- sign in / out ---------------------------------------------------------------------
  async function signIn(token) {
    state.token = token.trim();
    try {
      state.me = await api("/api/me");
    } catch (err) {
      $("login-error").textContent = String(err.message || err);
      return;
    }
    localStorage.setItem("vigil-token", state.token);
    $("login").classList.add("hidden");
    $("who").textContent = `${state.me.user} · ${state.me.role} · tenant ${state.me.tenant}`;
    await load();
    connect();
    state.timers.push(setInterval(refreshDevices, 5000), setInterval(refreshSensors, 10000));
  }

  function signOut(reason) {
    localStorage.removeItem("vigil-token");
    state.token = "";
    state.me = null;
    if (state.ws) state.ws.close();
    state.ws = null;
    state.live = false;
    clearTimeout(state.reconnect);
    state.timers.forEach(clearInterval);
    state.timers = [];
    $("login-error").textContent = reason || "";
    $("login").classList.remove("hidden");
    $("status").textContent = "signed out";
  }

  // -- loading over REST -----------------------------------------------------------------
  async function load() {
    const [sites, guards, live, alerts] = await Promise.all([
      api("/api/sites"), api("/api/guards"), api("/api/live"), api("/api/alerts?limit=" + MAX_ALERTS),
    ]);
    state.sites = new Map(sites.map((s) => [s.id, s]));
    state.names = new Map(guards.map((g) => [g.id, g.name || g.id]));
    const select = $("site");
    select.replaceChildren(el("option", { value: "", textContent: "all sites" }),
      ...sites.map((s) => el("option", { value: s.id, textContent: s.name || s.id })));
    if (sites.length === 1) select.value = state.site = sites[0].id;
    for (const g of live.guards) setGuard(g.guard_id, g);
    state.alerts = new Map(alerts.map((a) => [a.alert_id, a]));
    state.seq = live.seq;
    state.epoch = live.epoch;
    state.view = null;
    state.dirty.map = state.dirty.alerts = true;
    refreshDevices();
    refreshSensors();
  }

  async function reloadAlerts() {
    const alerts = await api("/api/alerts?limit=" + MAX_ALERTS);
    state.alerts = new Map(alerts.map((a) => [a.alert_id, a]));
    state.dirty.alerts = state.dirty.map = true;
  }

  // -- the live feed ---------------------------------------------------------------------
  // A closed socket (the gateway or a replica restarted, the network dropped) is opened
  // again after a back-off that doubles up to RETRY_MAX_MS, jittered so that hundreds of
  // pages do not all knock at a restarted gateway in the same millisecond. It resumes
  // with the last seq and epoch seen: the server replays what was missed and sends every
  // guard's position again; a Hub that restarted (new epoch) or a replay that no longer
  // reaches back makes the page reload its alerts over REST.
  const RETRY_MS = 500, RETRY_MAX_MS = 10000;
  // After this many failed tries at the gateway, every other try is Serve's own /ws, so a
  // gateway that stays down costs speed, never the feed.
  const GATEWAY_TRIES = 2;

  function feedHost() {
    const gateway = state.me.ws_port && (state.failures < GATEWAY_TRIES || state.failures % 2 === 1);
    return gateway ? `${location.hostname}:${state.me.ws_port}` : location.host;
  }

  function connect() {
    if (!state.token) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = `token=${encodeURIComponent(state.token)}&since=${state.seq}&epoch=${state.epoch}&ack=1`;
    const ws = new WebSocket(`${scheme}://${feedHost()}/ws?${query}`);
    state.ws = ws;
    state.connects += 1;
    ws.onmessage = (event) => {
      for (const message of JSON.parse(event.data)) {
        handle(message);
        if (message.type === "positions") ws.send(JSON.stringify({ type: "ack", v: message.v }));
      }
    };
    ws.onclose = (event) => {
      if (state.ws !== ws) return;
      if (event.code === 4401) return signOut("the live feed refused the token");
      state.live = false;
      state.failures += 1;
      const wait = state.retry * (0.5 + Math.random() / 2);
      $("status").textContent = `reconnecting (${event.code})…`;
      clearTimeout(state.reconnect);
      state.reconnect = setTimeout(connect, wait);
      state.retry = Math.min(state.retry * 2, RETRY_MAX_MS);
    };
  }

  // The network came back: try now rather than at the end of a long back-off.
  window.addEventListener("online", () => {
    if (!state.token || state.live) return;
    clearTimeout(state.reconnect);
    state.retry = RETRY_MS;
    connect();
  });

  function handle(message) {
    if (message.seq) state.seq = Math.max(state.seq, message.seq);
    const data = message.data;
    switch (message.type) {
      case "hello":
        // The back-off starts over only once the server really served (its hello): one
        // that accepts and closes at once is not knocked at every half second.
        state.retry = RETRY_MS;
        state.failures = 0;
        state.live = true;
        if (data.epoch !== state.epoch || !data.complete) reloadAlerts();
        // A restarted Hub counts from 1 again: keep its seq, not the old Hub's higher one.
        if (data.epoch !== state.epoch && data.seq !== undefined) state.seq = data.seq;
        state.epoch = data.epoch;
        $("status").textContent = "live";
        break;
      case "positions":
        for (const row of data.rows) {
          const g = Object.fromEntries(data.fields.map((f, i) => [f, row[i]]));
          setGuard(g.guard_id, g);
        }
        state.dirty.map = true;
        break;
      case "alert":
        state.alerts.set(data.alert_id, { ...data, status: data.status || "open", count: 1 });
        state.dirty.alerts = state.dirty.map = true;
        break;
      case "alert_event": {
        const alert = state.alerts.get(data.alert_id);
        if (alert) {
          alert.status = data.status;
          alert.count = data.alert_count || alert.count;
          if (data.type === "acknowledged") alert.acknowledged_by = data.who;
          if (data.type === "assigned") alert.assignee = data.ref;
        } else if (data.type !== "raised") {
          api("/api/alerts/" + data.alert_id).then((a) => {
            state.alerts.set(a.alert_id, a);
            state.dirty.alerts = true;
          }).catch(() => {});
        }
        if (state.selected === data.alert_id) showDetail(data.alert_id);
        state.dirty.alerts = state.dirty.map = true;
        break;
      }
      default:
        if (message.type.startsWith("training")) setTraining(data);
    }
  }

  function setGuard(id, g) {
    const inside = Array.isArray(g.inside) ? g.inside
      : Object.entries(g.zones || {}).filter(([, yes]) => yes).map(([z]) => z);
    state.guards.set(id, { id, client_id: g.client_id, site_id: g.site_id, lat: g.lat, lon: g.lon, ts: g.ts, inside });
  }

  // -- the map ---------------------------------------------------------------------------
  const canvas = $("map");
  const ctx = canvas.getContext("2d");

  function zonesShown() {
    const sites = state.site ? [state.sites.get(state.site)].filter(Boolean) : [...state.sites.values()];
    return sites.flatMap((s) => s.zones || []);
  }

  function guardsShown() {
    return [...state.guards.values()].filter((g) => !state.site || g.site_id === state.site);
  }

  function computeView() {
    const pts = [];
    for (const z of zonesShown()) {
      const c = z.geometry.coordinates;
      if (z.geometry.type === "Point") {
        const d = (z.radius_m || 0) / 111320;
        pts.push([c[0] - d, c[1] - d], [c[0] + d, c[1] + d]);
      } else for (const ring of c) pts.push(...ring);
    }
    if (!pts.length) for (const g of guardsShown()) pts.push([g.lon, g.lat]);
    if (!pts.length) pts.push([77.59, 12.97]);
    const lons = pts.map((p) => p[0]), lats = pts.map((p) => p[1]);
    let [w, e, s, n] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
    const padLon = Math.max((e - w) * 0.15, 0.001), padLat = Math.max((n - s) * 0.15, 0.001);
    return { w: w - padLon, e: e + padLon, s: s - padLat, n: n + padLat, k: Math.cos(((s + n) / 2) * Math.PI / 180) };
  }

  function project(lon, lat) {
    const v = state.view, W = canvas.clientWidth, H = canvas.clientHeight;
    const scale = Math.min(W / ((v.e - v.w) * v.k), H / (v.n - v.s));
    const x0 = (W - (v.e - v.w) * v.k * scale) / 2, y0 = (H - (v.n - v.s) * scale) / 2;
    return [x0 + (lon - v.w) * v.k * scale, y0 + (v.n - lat) * scale, scale];
  }

  function alarmed() {
    const found = new Set();
    for (const a of state.alerts.values()) {
      if (a.status === "open" && a.severity === "critical") found.add(a.entity_id);
    }
    return found;
  }

  function colour(g, alarms, now) {
    if (alarms.has(g.id)) return "#ff4d4d";
    if (now - g.ts > STALE_US) return "#5d6b78";
    return g.inside.length ? "#3ddc84" : "#ffae42";
  }

  function drawMap() {
    const ratio = window.devicePixelRatio || 1;
    const W = canvas.clientWidth, H = canvas.clientHeight;
    if (canvas.width !== W * ratio || canvas.height !== H * ratio) {
      canvas.width = W * ratio;
      canvas.height = H * ratio;
    }
    if (!state.view) state.view = computeView();
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, W, H);
    ctx.lineWidth = 1.5;
    for (const z of zonesShown()) {
      ctx.strokeStyle = "#3b8eea";
      ctx.fillStyle = "rgba(59, 142, 234, 0.08)";
      ctx.beginPath();
      if (z.geometry.type === "Point") {
        const [x, y, scale] = project(...z.geometry.coordinates);
        ctx.arc(x, y, Math.max(((z.radius_m || 0) / 111320) * scale, 2), 0, 2 * Math.PI);
      } else {
        for (const ring of z.geometry.coordinates) {
          ring.forEach(([lon, lat], i) => {
            const [x, y] = project(lon, lat);
            if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
          });
          ctx.closePath();
        }
      }
      ctx.fill();
      ctx.stroke();
    }
    const alarms = alarmed(), now = Date.now() * 1000;
    const shown = guardsShown();
    for (const g of shown) {
      const [x, y] = project(g.lon, g.lat);
      ctx.fillStyle = colour(g, alarms, now);
      ctx.beginPath();
      ctx.arc(x, y, alarms.has(g.id) ? 6 : 4, 0, 2 * Math.PI);
      ctx.fill();
    }
    $("guard-count").textContent = `(${shown.length} guards)`;
  }

  function marker(id) {
    const g = state.guards.get(id);
    if (!g || !state.view) return null;
    const [x, y] = project(g.lon, g.lat);
    return { x, y, lat: g.lat, lon: g.lon, ts: g.ts, colour: colour(g, alarmed(), Date.now() * 1000) };
  }

  canvas.addEventListener("mousemove", (event) => {
    if (!state.view) return;
    let best = null, bestD = 64;
    for (const g of guardsShown()) {
      const [x, y] = project(g.lon, g.lat);
      const d = (x - event.offsetX) ** 2 + (y - event.offsetY) ** 2;
      if (d < bestD) [best, bestD] = [g, d];
    }
    $("hover").textContent = best ? `${state.names.get(best.id) || best.id} · ${when(best.ts)} · ${best.inside.join(", ") || "outside zones"}` : "";
  });

  // -- alerts ----------------------------------------------------------------------------
  function drawAlerts() {
    const showResolved = $("show-resolved").checked;
    const list = [...state.alerts.values()]
      .filter((a) => showResolved || a.status !== "resolved")
      .sort((a, b) => b.ts - a.ts).slice(0, 300);
    $("alerts").replaceChildren(...list.map(alertItem));
    const open = [...state.alerts.values()].filter((a) => a.status === "open").length;
    $("alert-count").textContent = `(${open} open)`;
  }

  function alertItem(a) {
    const act = (label, step, enabled) => {
      const b = el("button", { type: "button", textContent: label, disabled: !enabled });
      b.dataset.action = step;
      b.addEventListener("click", (event) => { event.stopPropagation(); step === "assign" ? assign(a) : stepAlert(a, step); });
      return b;
    };
    const operator = can("operator");
    const li = el("li", { className: `${a.severity} ${a.status}` + (state.selected === a.alert_id ? " selected" : "") },
      el("span", { className: "what", textContent: `${a.kind} · ${state.names.get(a.entity_id) || a.entity_id}` + (a.count > 1 ? ` ×${a.count}` : "") }),
      el("span", { className: "actions" },
        el("span", { className: `status ${a.status}`, textContent: a.status }),
        act("ack", "acknowledge", operator && a.status === "open"),
        act("resolve", "resolve", operator && a.status !== "resolved"),
        act("assign", "assign", operator && a.status !== "resolved")),
      el("span", { className: "meta", textContent: `${when(a.ts)} · ${a.site_id || ""} · ${a.detail || ""}` + (a.assignee ? ` · → ${a.assignee}` : "") }));
    li.dataset.alertId = a.alert_id;
    li.addEventListener("click", () => showDetail(a.alert_id));
    return li;
  }

  async function stepAlert(a, step) {
    try {
      const updated = await api(`/api/alerts/${a.alert_id}/${step}`, { method: "POST", body: "{}" });
      state.alerts.set(updated.alert_id, updated);
      state.dirty.alerts = state.dirty.map = true;
      if (state.selected === a.alert_id) showDetail(a.alert_id);
    } catch (err) {
      $("status").textContent = `${step} failed: ${err.message}`;
    }
  }

  async function assign(a) {
    const operator = prompt("Assign to (operator id):", state.me.user);
    if (!operator) return;
    const updated = await api(`/api/alerts/${a.alert_id}/assign`, { method: "POST", body: JSON.stringify({ operator }) });
    state.alerts.set(updated.alert_id, updated);
    state.dirty.alerts = true;
  }

  async function showDetail(alertId) {
    state.selected = alertId;
    state.dirty.alerts = true;
    document.querySelector("main").classList.add("with-detail");
    const a = await api("/api/alerts/" + alertId);
    const rows = [
      ["alert", `${a.kind} (${a.severity})`], ["who", state.names.get(a.entity_id) || a.entity_id],
      ["site", a.site_id], ["raised", when(a.ts)], ["status", a.status], ["count", a.count],
      ["acknowledged", a.acknowledged_by ? `${a.acknowledged_by} at ${when(a.acknowledged_at)}` : ""],
      ["resolved", a.resolved_by ? `${a.resolved_by} at ${when(a.resolved_at)}` : ""],
      ["assignee", a.assignee], ["incident", a.incident_id],
    ];
    const table = el("table", {}, ...rows.filter(([, v]) => v !== "" && v !== null && v !== undefined)
      .map(([k, v]) => el("tr", {}, el("th", { textContent: k }), el("td", { textContent: text(v) }))));
    const timeline = el("ul", { className: "timeline" }, ...(a.timeline || []).map((e) =>
      el("li", { textContent: `${when(e.ts)} ${e.type}${e.who ? " by " + e.who : ""}${e.note ? " — " + e.note : ""}` })));
    const parts = [table, el("h2", { textContent: "Timeline" }), timeline];
    if (a.incident_id) {
      const incidents = await api("/api/incidents?limit=50");
      const incident = incidents.find((i) => i.incident_id === a.incident_id);
      if (incident && incident.alerts.length > 1) {
        parts.push(el("h2", { textContent: `Incident: ${incident.alerts.length} alerts, ${incident.status}` }),
          el("ul", { className: "timeline" }, ...incident.timeline.map((e) =>
            el("li", { textContent: `${when(e.ts)} ${e.kind} ${e.type}${e.who ? " by " + e.who : ""}` }))));
      }
    }
    $("detail").replaceChildren(...parts);
    $("detail").classList.remove("muted");
  }

  // -- sensors, devices, training --------------------------------------------------------
  async function refreshSensors() {
    if (!state.token) return;
    const sensors = (await api("/api/sensors")).filter((s) => !state.site || s.site_id === state.site);
    const latest = await Promise.all(sensors.slice(0, 60).map((s) =>
      api(`/api/history/sensors/${encodeURIComponent(s.id)}/readings?limit=1&order=desc&start=${Date.now() / 1000 - 7 * 86400}`)
        .then((r) => r.readings[0]).catch(() => null)));
    $("sensors").replaceChildren(...sensors.slice(0, 60).map((s, i) => {
      const r = latest[i];
      const value = r ? (r.value_text ?? r.value) : "—";
      return el("tr", {}, el("td", { textContent: s.site_id }), el("td", { textContent: s.name || s.id }),
        el("td", { textContent: s.kind }), el("td", { textContent: text(value) }), el("td", { textContent: r ? when(r.ts) : "" }));
    }));
  }

  async function refreshDevices() {
    if (!state.token) return;
    const devices = await api("/api/live/devices");
    devices.sort((a, b) => (a.online === false) - (b.online === false) || a.device_id.localeCompare(b.device_id)).reverse();
    $("devices").replaceChildren(...devices.slice(0, 400).map((d) => {
      const t = d.telemetry || {};
      const stateText = d.online === null || d.online === undefined ? "not heard" : d.online ? "online" : "OFFLINE";
      return el("tr", {}, el("td", { textContent: d.device_id }), el("td", { textContent: state.names.get(d.guard_id) || text(d.guard_id) }),
        el("td", { textContent: stateText, className: d.online === false ? "off" : d.online ? "on" : "" }),
        el("td", { textContent: t.battery != null ? `${Math.round(t.battery)}%` : "", className: d.battery_low ? "bad" : "" }),
        el("td", { textContent: t.signal != null ? String(t.signal) : "", className: d.signal_weak ? "bad" : "" }),
        el("td", { textContent: when(d.last_seen || t.ts) }));
    }));
  }

  function setTraining(data) {
    const id = data.run_id || "run";
    state.training.set(id, { ...state.training.get(id), ...data });
    $("training").replaceChildren(...[...state.training.values()].map((run) => {
      const pct = Math.round(100 * Math.min(Math.max(run.progress || 0, 0), 1));
      const metrics = Object.entries(run.metrics || {}).map(([k, v]) => `${k} ${typeof v === "number" ? v.toFixed(3) : v}`).join(" · ");
      return el("li", {}, `${run.run_id || "run"} `, el("span", { className: "bar" }, el("span", { style: `width:${pct}%` })),
        ` ${pct}% ${run.status || ""} ${metrics}`);
    }));
  }

  // -- wiring ----------------------------------------------------------------------------
  function frame() {
    if (state.dirty.map) { state.dirty.map = false; drawMap(); }
    if (state.dirty.alerts) { state.dirty.alerts = false; drawAlerts(); }
    requestAnimationFrame(frame);
  }

  $("login-form").addEventListener("submit", (event) => { event.preventDefault(); signIn($("token").value); });
  $("logout").addEventListener("click", () => signOut(""));
  $("site").addEventListener("change", (event) => {
    state.site = event.target.value;
    state.view = null;
    state.dirty.map = true;
    refreshSensors();
  });
  $("show-resolved").addEventListener("change", () => { state.dirty.alerts = true; });
  window.addEventListener("resize", () => { state.dirty.map = true; });
  setInterval(() => { state.dirty.map = true; }, 10000);  // stale markers turn grey
  for (const button of document.querySelectorAll("#tabs-panel nav button")) {
    button.addEventListener("click", () => {
      for (const b of document.querySelectorAll("#tabs-panel nav button")) b.classList.toggle("active", b === button);
      for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("hidden", tab.id !== "tab-" + button.dataset.tab);
    });
  }
  requestAnimationFrame(frame);
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) history.replaceState(null, "", location.pathname);
  const saved = fromHash || localStorage.getItem("vigil-token");
  if (saved) { $("token").value = saved; signIn(saved); }

  return { state, marker, signIn, alert: (id) => state.alerts.get(id) };
})();
