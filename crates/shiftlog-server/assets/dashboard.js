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
const withKinds = (query) => [query, kindQuery()].filter(Boolean).join("&");

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
  const { kinds } = await api(placeUrl(place, "kinds"));
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
  const place = state.place;
  const keep = first ? null : (state.steps[Number($("slider").value)] || {}).at;
  const series = await api(placeUrl(place, "evolution", withKinds("every=month")));
  if (place !== state.place) return;
  state.steps = series[place] || [];
  const last = state.steps.length ? state.steps[state.steps.length - 1].at : null;
  state.names = {};
  if (last) {
    const snap = await api(placeUrl(place, "snapshot", `at=${encodeURIComponent(last)}`));
    for (const a of snap.actors) state.names[a.id] = a.redacted ? "(redacted)" : (a.name || a.id);
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
    const [svg, rows] = await Promise.all([
      api(placeUrl(state.place, "network.svg", withKinds(`at=${at}`)), true),
      api("/v1/compare?" + withKinds(`at=${at}`)),
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
  connect();
});
