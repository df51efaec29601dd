// The dashboard: a thin view over the HTTP API, with the caller's token. Every value
// shown comes from /v1 routes; text goes in through textContent, and network drawings
// are SVG the server built with every name escaped.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { token: localStorage.getItem("shiftlog-token") || "", place: null, steps: [], names: {}, timer: null, seq: 0 };

async function api(path, text) {
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const r = await fetch(path, { headers });
  const body = await r.text();
  if (!r.ok) {
    let msg = body;
    try { msg = JSON.parse(body).error || body; } catch (_) { /* not JSON */ }
    throw new Error(r.status + ": " + msg);
  }
  return text ? body : JSON.parse(body);
}

// A place's route. The place travels in the query string: a URL path cannot carry every
// id (the browser resolves `.` and `..` segments, even percent-encoded, before sending).
function placeUrl(place, route, query) {
  return `/v1/places/~/${route}?place=${encodeURIComponent(place)}` + (query ? "&" + query : "");
}

// The kinds ticked, as `kind=` parameters: none when every kind is (the whole network),
// so that the unfiltered view stays the default and its answers are the usual ones.
function kindQuery() {
  const boxes = [...document.querySelectorAll("#kind-boxes input")];
  const ticked = boxes.filter((b) => b.checked).map((b) => b.value);
  if (ticked.length === boxes.length) return "";
  return ticked.map((k) => "kind=" + encodeURIComponent(k)).join("&");
}
// "As known at" a day: only what was recorded by the end of it (empty: everything).
function knownQuery() {
  const d = $("known").value;
  return d ? "known_at=" + encodeURIComponent(d + "T23:59:59.999999999Z") : "";
}
const withKnown = (query) => [query, knownQuery()].filter(Boolean).join("&");
const withKinds = (query) => [query, kindQuery(), knownQuery()].filter(Boolean).join("&");

function status(msg) { $("status").textContent = msg || ""; }
const day = (at) => at.slice(0, 10);
const fmt = (v) => (typeof v === "number" && !Number.isInteger(v)) ? v.toFixed(3) : String(v);
function row(table, cells, head) {
  const tr = table.insertRow();
  for (const c of cells) {
    const cell = document.createElement(head ? "th" : "td");
    cell.textContent = fmt(c);
    if (!head && typeof c === "number") cell.className = "n";
    tr.appendChild(cell);
  }
  return tr;
}

async function connect(ev) {
  if (ev) ev.preventDefault();
  state.token = $("token").value.trim() || state.token;
  if (state.token) localStorage.setItem("shiftlog-token", state.token);
  try {
    const places = await api("/v1/places");
    const select = $("place");
    select.replaceChildren();
    for (const p of places) select.add(new Option(p.place, p.place));
    status(places.length ? "" : "No places yet: append events first.");
    if (places.length) await choose(places[0].place);
  } catch (e) { status(e.message); }
}

async function choose(place) {
  stop();
  state.place = place;
  $("place").value = place;
  const { kinds } = await api(placeUrl(place, "kinds", withKnown(""))).catch((e) => {
    if (knownQuery() && e.message.startsWith("404")) return { kinds: [] }; // not known yet then
    throw e;
  });
  const boxes = $("kind-boxes");
  boxes.replaceChildren();
  for (const k of kinds) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = k;
    box.checked = true;
    box.addEventListener("change", () => {
      if (!boxes.querySelector("input:checked")) {
        box.checked = true;
        return status("At least one kind of relationship stays counted.");
      }
      steps().catch((err) => status(err.message));
    });
    label.append(box, " " + k.replace(/_/g, " "));
    boxes.appendChild(label);
  }
  $("kinds").hidden = kinds.length < 2;
  await steps(true);
}

// The place's monthly steps in the current view of kinds; the slider keeps its date.
async function steps(first) {
  // Only the latest call goes on: ticking several kinds quickly starts several, and an
  // earlier one answering last must not redraw over the latest or clear what it said.
  const mine = state.stepsSeq = (state.stepsSeq || 0) + 1;
  const place = state.place;
  const keep = first ? null : (state.steps[Number($("slider").value)] || {}).at;
  let series;
  try {
    // One place: every measure, the communities included.
    series = await api(placeUrl(place, "evolution", withKinds("every=month&measures=all")));
  } catch (e) {
    // As known at a day before the place's first record, the log knows no such place.
    if (!(knownQuery() && e.message.startsWith("404"))) throw e;
    series = {};
  }
  if (place !== state.place || mine !== state.stepsSeq) return;
  state.steps = series[place] || [];
  const last = state.steps.length ? state.steps[state.steps.length - 1].at : null;
  state.names = {};
  state.start = null;
  if (last) {
    const snap = await api(placeUrl(place, "snapshot", withKnown(`at=${encodeURIComponent(last)}`)));
    for (const a of snap.actors) state.names[a.id] = a.redacted ? "(redacted)" : (a.name || a.id);
    state.start = await api(placeUrl(place, "snapshot", withKinds(`at=${encodeURIComponent(state.steps[0].at)}`)));
    if (mine !== state.stepsSeq) return;
  }
  drawChart();
  if (state.steps.length) showSynthesis().catch((e) => status(e.message));
  else $("synthesis").replaceChildren();
  if (!state.steps.length) {
    // Nothing to show in this view (an "as known at" before anything was recorded).
    for (const id of ["network", "metrics", "power", "compare"]) $(id).replaceChildren();
    $("date").textContent = "";
    status(knownQuery() ? "Nothing about this place had been recorded by then." : "Nothing recorded about this place yet.");
  }
  const slider = $("slider");
  slider.max = Math.max(0, state.steps.length - 1);
  const same = keep ? state.steps.findIndex((s) => s.at === keep) : -1;
  slider.value = same >= 0 ? same : slider.max;
  slider.disabled = $("play").disabled = state.steps.length === 0;
  for (const id of ["diff-from", "diff-to"]) {
    const s = $(id);
    s.replaceChildren();
    state.steps.forEach((st, i) => s.add(new Option(day(st.at), i)));
  }
  $("diff-from").value = 0;
  $("diff-to").value = slider.max;
  $("diff").replaceChildren();
  await show();
}

async function show() {
  const i = Number($("slider").value);
  const step = state.steps[i];
  if (!step) return;
  const seq = ++state.seq;
  $("date").textContent = day(step.at);
  const at = encodeURIComponent(step.at);
  try {
    const [svg, rows, snap] = await Promise.all([
      api(placeUrl(state.place, "network.svg", withKinds(`at=${at}`)), true),
      api("/v1/compare?" + withKinds(`at=${at}`)),
      api(placeUrl(state.place, "snapshot", withKinds(`at=${at}`))),
    ]);
    if (seq !== state.seq) return; // a later move of the slider won
    const net = $("network");
    net.innerHTML = svg;
    net.dataset.at = step.at;
    const m = $("metrics");
    m.replaceChildren();
    // The measures in the server's registry, in its order and words.
    if (!state.measures) state.measures = await api("/v1/measures");
    for (const x of state.measures) {
      const v = step.metrics[x.key];
      const tr = row(m, [x.label, v === null || v === undefined ? "—" : v]);
      tr.title = x.about;
    }
    for (const [d, g] of Object.entries(step.metrics.power_gini)) row(m, ["power gini: " + d.replace(/_/g, " "), g]);
    showPower(snap);
    if (!$("chart-pick").options.length) pickMeasures();
    $("compare-date").textContent = day(step.at);
    const c = $("compare");
    c.replaceChildren();
    row(c, ["place", "actors", "connected", "relationships", "density", "components", "max degree"], true);
    for (const [place, mm] of Object.entries(rows)) {
      const tr = row(c, [place, mm.actors, mm.connected_actors, mm.relationships, mm.density, mm.components, mm.max_degree]);
      if (place === state.place) tr.style.fontWeight = "bold";
    }
    status("");
  } catch (e) { status(e.message); }
}

// Holdings per domain at the slider's date, largest first, with the change since the
// first step (actors who held something at either).
function showPower(snap) {
  const t = $("power");
  t.replaceChildren();
  const at = {}, before = {};
  for (const a of snap.actors) for (const [d, v] of Object.entries(a.power)) (at[d] = at[d] || {})[a.id] = v;
  for (const a of (state.start ? state.start.actors : [])) for (const [d, v] of Object.entries(a.power)) (before[d] = before[d] || {})[a.id] = v;
  const domains = [...new Set([...Object.keys(at), ...Object.keys(before)])].sort();
  if (!domains.length) { row(t, ["No power recorded in this place."]); return; }
  row(t, ["domain", "actor", "holding", "change"], true);
  for (const d of domains) {
    const ids = [...new Set([...Object.keys(at[d] || {}), ...Object.keys(before[d] || {})])];
    const now = (id) => (at[d] || {})[id] || 0, then = (id) => (before[d] || {})[id] || 0;
    ids.sort((a, b) => now(b) - now(a) || a.localeCompare(b));
    for (const id of ids.slice(0, 8)) {
      if (!now(id) && !then(id)) continue;
      const c = now(id) - then(id);
      const tr = row(t, [d.replace(/_/g, " "), state.names[id] || id, now(id), (c > 0 ? "+" : "") + c.toFixed(2)]);
      tr.dataset.domain = d;
      tr.dataset.actor = id;
    }
  }
}

// The registry's measures to choose from; trust and value charted first.
function pickMeasures() {
  const pick = $("chart-pick");
  for (const x of state.measures || []) {
    const o = new Option(x.label, x.key);
    o.selected = x.key === "trust_mean" || x.key === "value_mean";
    pick.add(o);
  }
  drawChart();
}

// A line per chosen measure over the place's steps, drawn here as SVG (no library, no
// request): steps where a measure is undefined break its line.
function drawChart() {
  const box = $("chart");
  box.replaceChildren();
  const keys = [...$("chart-pick").selectedOptions].map((o) => o.value);
  const steps = state.steps;
  if (!keys.length || steps.length < 1) return;
  const NS = "http://www.w3.org/2000/svg";
  const el = (name, attrs, text) => {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const W = 720, H = 240, L = 48, R = 170, T = 12, B = 28;
  const values = keys.flatMap((k) => steps.map((s) => s.metrics[k])).filter((v) => typeof v === "number");
  const lo = Math.min(0, ...values), hi = Math.max(lo + 1e-9, ...values);
  const x = (i) => L + (steps.length < 2 ? 0 : (i * (W - L - R)) / (steps.length - 1));
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Chosen measures over time" });
  svg.appendChild(el("line", { x1: L, y1: y(lo), x2: W - R, y2: y(lo), stroke: "#999" }));
  svg.appendChild(el("text", { x: L - 6, y: y(hi) + 4, "text-anchor": "end", "font-size": 11 }, fmt(hi)));
  svg.appendChild(el("text", { x: L - 6, y: y(lo) + 4, "text-anchor": "end", "font-size": 11 }, fmt(lo)));
  svg.appendChild(el("text", { x: L, y: H - 8, "font-size": 11 }, day(steps[0].at)));
  svg.appendChild(el("text", { x: W - R, y: H - 8, "text-anchor": "end", "font-size": 11 }, day(steps[steps.length - 1].at)));
  const colours = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"];
  keys.forEach((k, n) => {
    const colour = colours[n % colours.length];
    let d = "", open = false;
    steps.forEach((s, i) => {
      const v = s.metrics[k];
      if (typeof v !== "number") { open = false; return; }
      d += `${open ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      open = true;
    });
    const label = (state.measures.find((m) => m.key === k) || { label: k }).label;
    const line = el("path", { d: d || "M0,0", fill: "none", stroke: colour, "stroke-width": 2, "data-measure": k });
    line.appendChild(el("title", {}, label));
    svg.appendChild(line);
    svg.appendChild(el("line", { x1: W - R + 12, y1: T + 8 + n * 16, x2: W - R + 28, y2: T + 8 + n * 16, stroke: colour, "stroke-width": 2 }));
    svg.appendChild(el("text", { x: W - R + 32, y: T + 12 + n * 16, "font-size": 11 }, label));
  });
  box.appendChild(svg);
}

// The learning synthesis by quarter: counts for everyone, the texts by area for those the
// server sends them to (recorders and admins).
async function showSynthesis() {
  const place = state.place;
  const s = await api(`/v1/synthesis?place=${encodeURIComponent(place)}&every=quarter` + (knownQuery() ? "&" + knownQuery() : ""));
  if (place !== state.place) return;
  const out = $("synthesis");
  out.replaceChildren();
  const p = s.places[0];
  const used = (t) => Object.entries(t).filter(([, n]) => n > 0).map(([w, n]) => `${w.replace(/_/g, " ")} ${n}`).join(", ") || "—";
  const t = document.createElement("table");
  t.id = "synthesis-table";
  row(t, ["quarter ending", "sessions", "absent voices", "learning by area", "outcomes by condition", "power shifts by space", "by form", "by expression", "participation"], true);
  for (const x of p.periods) {
    const any = x.sessions || x.power.shifts || Object.values(x.learning).some(Boolean) || Object.values(x.outcomes).some(Boolean) || Object.values(x.participation).some(Boolean);
    if (!any) continue;
    row(t, [day(x.to), x.sessions, x.absent_voices, used(x.learning), used(x.outcomes), used(x.power.by_space), used(x.power.by_form), used(x.power.by_expression), used(x.participation)]);
  }
  out.appendChild(t);
  if (!s.with_texts || !p.texts) return;
  for (const [area, items] of Object.entries(p.texts)) {
    const d = document.createElement("details");
    const sum = document.createElement("summary");
    sum.textContent = `${area.replace(/_/g, " ")} (${items.length})`;
    d.appendChild(sum);
    const ul = document.createElement("ul");
    for (const it of items) {
      const li = document.createElement("li");
      li.textContent = `${day(it.at)}: ${it.text}` + (it.session_title || it.session ? ` (session: ${it.session_title || it.session})` : "");
      ul.appendChild(li);
    }
    d.appendChild(ul);
    d.className = "area";
    out.appendChild(d);
  }
}

async function showDiff() {
  const a = state.steps[Number($("diff-from").value)], b = state.steps[Number($("diff-to").value)];
  if (!a || !b) return;
  try {
    const d = await api(placeUrl(state.place, "diff", withKinds(`from=${encodeURIComponent(a.at)}&to=${encodeURIComponent(b.at)}`)));
    const name = (id) => state.names[id] || id;
    const out = $("diff");
    out.replaceChildren();
    const section = (title, items) => {
      const h = document.createElement("h3");
      h.textContent = `${title} (${items.length})`;
      out.appendChild(h);
      if (!items.length) return;
      const ul = document.createElement("ul");
      for (const t of items) { const li = document.createElement("li"); li.textContent = t; ul.appendChild(li); }
      out.appendChild(ul);
    };
    const rel = (r) => `${name(r.from)} → ${name(r.to)} (${r.kind})`;
    section("Joined", d.joined.map(name));
    section("Left", d.left.map(name));
    section("Relationships formed", d.formed.map(rel));
    section("Relationships ended", d.ended.map(rel));
    section("Strengthened", d.strengthened.map((c) => `${rel(c)} ${c.before.toFixed(2)} → ${c.after.toFixed(2)}`));
    section("Weakened", d.weakened.map((c) => `${rel(c)} ${c.before.toFixed(2)} → ${c.after.toFixed(2)}`));
    const power = [];
    for (const [domain, cs] of Object.entries(d.power_changes)) {
      for (const c of cs) power.push(`${domain.replace(/_/g, " ")}: ${name(c.actor)} ${c.before.toFixed(2)} → ${c.after.toFixed(2)}`);
    }
    section("Power", power);
    status("");
  } catch (e) { status(e.message); }
}

function stop() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
  $("play").textContent = "Play";
}

function play() {
  if (state.timer) return stop();
  const slider = $("slider");
  if (Number(slider.value) >= Number(slider.max)) slider.value = 0;
  $("play").textContent = "Pause";
  show();
  state.timer = setInterval(() => {
    if (Number(slider.value) >= Number(slider.max)) return stop();
    slider.value = Number(slider.value) + 1;
    show();
  }, 900);
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", connect);
  $("place").addEventListener("change", (e) => choose(e.target.value).catch((err) => status(err.message)));
  $("slider").addEventListener("input", () => { stop(); show(); });
  $("play").addEventListener("click", play);
  $("diff-show").addEventListener("click", showDiff);
  $("chart-pick").addEventListener("change", drawChart);
  // A new "as known at" keeps the slider's date; everything shown is read again.
  const rechoose = () => state.place && steps().catch((err) => status(err.message));
  $("known").addEventListener("change", rechoose);
  $("known-clear").addEventListener("click", () => { $("known").value = ""; rechoose(); });
  connect();
});
