// The recording page: forms that build events in the interchange format, checked by the
// server (POST /v1/events?dry_run=true, the engine's own rules against the log as it
// stands) before anything is written, then appended as one batch. Every event gets its id
// here, before the first send, so a double click, a reload or a retry records it once.
// Text goes into the page through textContent only.
"use strict";
const $ = (id) => document.getElementById(id);
const PENDING = "shiftlog-pending";
const state = {
  token: localStorage.getItem("shiftlog-token") || "",
  who: null, place: null,
  snaps: {}, rosters: { session: { actors: [], relationships: [] }, one: { actors: [], relationships: [] } }, rosterAt: {}, names: {},
  events: [], correcting: null, epoch: 0,
};

// ---- Words for the format's vocabularies (one table each) ----
const KINDS = [["person", "A person"], ["organisation", "An organisation"], ["group", "A group"], ["network", "A network"]];
const SECTORS = [["public", "Public sector"], ["vcse", "Voluntary and community (VCSE)"], ["health", "Health"], ["community", "Community"],
  ["business", "Business"], ["academic", "Academic"], ["faith", "Faith"], ["funder", "Funder"]];
const REL_KINDS = [["collaboration", "Working together"], ["information", "Sharing information"], ["funding", "Funding"],
  ["trust", "Trust"], ["accountability", "Accountable to"]];
const AREAS = [["goals_paradigms_perspectives", "Goals, paradigms and perspectives"],
  ["structures_actors_networks", "System structures, actors and networks"],
  ["power_participation_relationships", "Power, participation and relationships"],
  ["learning_journey", "The learning journey"], ["roles_functions", "Roles and functions"]];
const CONDITIONS = [["policies", "Policies"], ["practices", "Practices"], ["resource_flows", "Resource flows"],
  ["relationships_connections", "Relationships and connections"], ["power_dynamics", "Power dynamics"], ["mental_models", "Mental models"]];
const POWER_FORMS = [["visible", "Visible"], ["hidden", "Hidden"], ["invisible", "Invisible"]];
const SPACES = [["closed", "Closed"], ["invited", "Invited"], ["claimed", "Claimed"]];
const EXPRESSIONS = [["power_over", "Power over"], ["power_with", "Power with"], ["power_to", "Power to"], ["power_within", "Power within"]];
const SIGNIFICANCE = [["high", "High"], ["medium", "Medium"], ["low", "Low"]];

// ---- What can be recorded one at a time, and each one's fields: the one table the
// single-record form, corrections and the timeline's words are built from. ----
// Field types: text, long (a text area), id (a new actor's id), actor (someone in the
// place on the date), actors (several), relationship (one active on the date: from, to
// and kind), choice (options; `other` lets people type their own), number (0 to 1),
// amount (> 0), list (comma separated), tags (checkboxes), power (domain=amount pairs),
// yes (a checkbox).
const RECORDS = {
  actor_joined: { label: "Someone joins the place", fields: [
    { name: "actor", label: "Short id for them (letters, numbers and dashes)", type: "id", required: true },
    { name: "name", label: "Name", type: "text" },
    { name: "kind", label: "What they are", type: "choice", options: KINDS, required: true },
    { name: "sector", label: "Sector", type: "choice", options: SECTORS, other: true },
    { name: "roles", label: "Roles (separate with commas)", type: "list" },
    { name: "power", label: "Power they start with (for example: budget=1, agenda_setting=0.5)", type: "power" }] },
  actor_updated: { label: "Someone's details change", fields: [
    { name: "actor", label: "Who", type: "actor", required: true },
    { name: "name", label: "New name", type: "text" },
    { name: "kind", label: "What they are now", type: "choice", options: KINDS },
    { name: "sector", label: "Sector now", type: "choice", options: SECTORS, other: true },
    { name: "roles", label: "Roles now (separate with commas)", type: "list" }] },
  actor_left: { label: "Someone leaves the place", fields: [
    { name: "actor", label: "Who", type: "actor", required: true }] },
  relationship_formed: { label: "A relationship forms", fields: [
    { name: "from", label: "From", type: "actor", required: true },
    { name: "to", label: "To", type: "actor", required: true },
    { name: "kind", label: "What kind of relationship", type: "choice", options: REL_KINDS, other: true, required: true },
    { name: "strength", label: "How strong, 0 to 1", type: "number" },
    { name: "trust", label: "Trust, 0 to 1", type: "number" },
    { name: "value", label: "Value, 0 to 1", type: "number" },
    { name: "directed", label: "It runs one way (from → to)", type: "yes", initial: true }] },
  relationship_changed: { label: "A relationship changes", fields: [
    { name: "relationship", label: "Which relationship", type: "relationship", required: true },
    { name: "strength", label: "How strong now, 0 to 1", type: "number" },
    { name: "trust", label: "Trust now, 0 to 1", type: "number" },
    { name: "value", label: "Value now, 0 to 1", type: "number" }] },
  relationship_ended: { label: "A relationship ends", fields: [
    { name: "relationship", label: "Which relationship", type: "relationship", required: true }] },
  power_shifted: { label: "Power shifts", fields: [
    { name: "from", label: "From (who gives it; leave empty if it comes from outside)", type: "actor" },
    { name: "to", label: "To (who gains it; leave empty if it leaves the place)", type: "actor" },
    { name: "domain", label: "Power over what (for example budget, agenda_setting)", type: "text", required: true },
    { name: "amount", label: "How much (more than 0)", type: "amount", required: true },
    { name: "form", label: "Form of power", type: "choice", options: POWER_FORMS },
    { name: "space", label: "Space", type: "choice", options: SPACES },
    { name: "expression", label: "Expression", type: "choice", options: EXPRESSIONS },
    { name: "evidence", label: "Evidence", type: "long" }] },
  outcome_harvested: { label: "An outcome is harvested", fields: [
    { name: "description", label: "What changed, in whose behaviour, relationships, policies or practice", type: "long", required: true },
    { name: "actors", label: "Who changed", type: "actors", required: true },
    { name: "significance", label: "How significant", type: "choice", options: SIGNIFICANCE },
    { name: "contribution", label: "How the programme contributed", type: "long" },
    { name: "condition", label: "Condition of systems change", type: "choice", options: CONDITIONS }] },
  learning_recorded: { label: "A learning note", fields: [
    { name: "text", label: "What was learned", type: "long", required: true },
    { name: "tags", label: "Inquiry areas", type: "tags", options: AREAS },
    { name: "actors", label: "Who it is about", type: "actors" }] },
};
const OTHER_TYPES = { place_registered: "The place is registered", session_held: "A session is held",
  event_retracted: "A record is retracted", actor_redacted: "Someone's personal data is erased" };
const typeLabel = (t) => (RECORDS[t] ? RECORDS[t].label : OTHER_TYPES[t] || t);

// ---- The API ----
function headers(json) {
  const h = state.token ? { Authorization: "Bearer " + state.token } : {};
  if (json) h["Content-Type"] = "application/json";
  return h;
}
async function api(path) {
  const r = await fetch(path, { headers: headers(false) });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(r.status + ": " + (body.error || r.statusText));
  return body;
}
// A write: { ok, status, body } (never throws on a refusal; throws when the server
// cannot be reached, which is what a retry is for).
async function send(path, payload, type) {
  const r = await fetch(path, { method: "POST", headers: type ? { ...headers(false), "Content-Type": type } : headers(true),
    body: type ? payload : JSON.stringify(payload) });
  const body = await r.json().catch(() => ({}));
  return { ok: r.ok, status: r.status, body };
}
const placeUrl = (route, query) => `/v1/places/~/${route}?place=${encodeURIComponent(state.place)}` + (query ? "&" + query : "");

function status(msg) { $("status").textContent = msg || ""; }
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    e.setAttribute(k, v === true ? "" : v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}
const name = (id) => state.names[id] || id;
const now = () => new Date().toISOString().slice(0, 19) + "Z";
const today = () => now().slice(0, 10);
function newDraft() {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return "rec-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// ---- Connecting, the place, and who is in it on a date ----
// Each connection and each choice of place starts an epoch; an answer that arrives after
// a newer one began (a slow answer for the token before) is dropped, not shown.
const current = (epoch) => epoch === state.epoch;

async function connect(ev) {
  if (ev) ev.preventDefault();
  const epoch = ++state.epoch;
  state.token = $("token").value.trim() || state.token;
  if (state.token) localStorage.setItem("shiftlog-token", state.token);
  $("timeline").replaceChildren();
  try {
    const who = await api("/v1/whoami");
    if (!current(epoch)) return;
    state.who = who;
    const writes = state.who.role !== "funder";
    $("recording").hidden = !writes;
    $("recorder-wrap").hidden = !writes;
    $("readonly").hidden = writes;
    const places = await api("/v1/places");
    if (!current(epoch)) return;
    const select = $("place");
    select.replaceChildren();
    for (const p of places) {
      if (state.who.role !== "recorder" || state.who.places.includes(p.place)) select.add(new Option(p.place, p.place));
    }
    status(select.options.length ? "" : "No places this token may record in yet.");
    if (select.options.length) await choose(select.value);
    if (writes) await resendPending();
  } catch (e) { status(e.message); }
}

async function choose(place) {
  const epoch = ++state.epoch;
  state.place = place;
  state.snaps = {};
  state.rosterAt = {};
  // Names as the place knows them now, for the timeline's words.
  const latest = await api(placeUrl("snapshot", "at=" + encodeURIComponent(now())));
  if (!current(epoch)) return;
  state.names = {};
  const all = $("roster-all");
  all.replaceChildren();
  for (const a of latest.actors) {
    state.names[a.id] = a.redacted ? "(erased)" : (a.name || a.id);
    all.appendChild(el("option", { value: a.id }, state.names[a.id]));
  }
  await rostersAgain();
  await loadTimeline();
}

// Who is active in the place on a date, and the relationships active then: what the
// pickers offer. The session form and the single-record form each have their own date,
// so each has its own roster (`roster` and `roster-one`); snapshots are kept per date
// until something is recorded or another place is chosen.
const FORMS = { session: { date: "s-date", list: "roster" }, one: { date: "o-date", list: "roster-one" } };

async function snapAt(date) {
  if (!state.snaps[date]) {
    state.snaps[date] = api(placeUrl("snapshot", "at=" + encodeURIComponent(date)))
      .catch((e) => { delete state.snaps[date]; throw e; });
  }
  return state.snaps[date];
}

async function rosterFor(form) {
  const date = $(FORMS[form].date).value;
  if (!state.place || !date || state.rosterAt[form] === date) return;
  const epoch = state.epoch;
  const snap = await snapAt(date);
  if (!current(epoch) || $(FORMS[form].date).value !== date) return;
  state.rosters[form] = snap;
  for (const a of snap.actors) state.names[a.id] = a.redacted ? "(erased)" : (a.name || a.id);
  const list = $(FORMS[form].list);
  list.replaceChildren();
  for (const a of snap.actors) list.appendChild(el("option", { value: a.id }, name(a.id)));
  if (form === "one") for (const s of document.querySelectorAll("select[data-picks]")) fillPicker(s);
  state.rosterAt[form] = date;
}

// After a record, or for another place: every roster is read again.
async function rostersAgain() {
  state.snaps = {};
  state.rosterAt = {};
  await rosterFor("session");
  await rosterFor("one");
}

function fillPicker(select) {
  const keep = select.value;
  select.replaceChildren(new Option("—", ""));
  for (const r of state.rosters.one.relationships) {
    select.add(new Option(`${name(r.from)} → ${name(r.to)} (${r.kind})`, JSON.stringify([r.from, r.to, r.kind])));
  }
  select.value = keep;
  if (select.value !== keep) select.value = "";
}

// ---- Building fields from the table ----
function fieldControl(prefix, f, value) {
  const id = `${prefix}-${f.name}`;
  const wrap = el("div", { class: "row", "data-field": f.name });
  const err = el("span", { class: "error", id: id + "-error" });
  let control;
  if (f.type === "tags") {
    control = el("fieldset", { id, "aria-describedby": id + "-error" });
    control.appendChild(el("legend", {}, f.label));
    for (const [v, words] of f.options) {
      const l = el("label", { class: "check" });
      const c = el("input", { type: "checkbox", value: v, checked: (value || []).includes(v) });
      l.append(c, " " + words);
      control.appendChild(l);
    }
    wrap.append(control, err);
    return wrap;
  }
  const label = el("label", { for: id }, f.label + (f.required ? " (needed)" : ""));
  if (f.type === "relationship") {
    control = el("select", { id, "data-picks": f.type, "aria-describedby": id + "-error" });
    fillPicker(control);
  } else if (f.type === "actor") {
    // Type-ahead over who is in the place on the date; anything typed is checked by the
    // server, which names the field when someone has not joined by then.
    control = el("input", { id, list: prefix === "o" ? "roster-one" : "roster", autocomplete: "off", "aria-describedby": id + "-error", value });
  } else if (f.type === "choice") {
    control = el("select", { id, "aria-describedby": id + "-error" });
    control.add(new Option("—", ""));
    for (const [v, words] of f.options) control.add(new Option(words, v));
    if (f.other) control.add(new Option("Something else…", "__other"));
    const known = value === undefined || f.options.some(([v]) => v === value);
    control.value = known ? (value || "") : "__other";
    if (f.other) {
      const other = el("input", { id: id + "-other", "aria-label": f.label + ": something else", hidden: known, value: known ? undefined : value });
      control.addEventListener("change", () => { other.hidden = control.value !== "__other"; });
      wrap.append(label, control, other, err);
      return wrap;
    }
  } else if (f.type === "long") {
    control = el("textarea", { id, rows: 3, "aria-describedby": id + "-error" });
    control.value = value || "";
  } else if (f.type === "yes") {
    control = el("input", { id, type: "checkbox", checked: value === undefined ? f.initial : value });
  } else {
    const attrs = { id, "aria-describedby": id + "-error" };
    if (f.type === "number") Object.assign(attrs, { type: "number", min: 0, max: 1, step: "0.05", inputmode: "decimal" });
    if (f.type === "amount") Object.assign(attrs, { type: "number", min: 0, step: "any", inputmode: "decimal" });
    if (f.type === "actors") Object.assign(attrs, { list: prefix === "o" ? "roster-one" : "roster", placeholder: "ids, separated by commas" });
    control = el("input", attrs);
    if (value !== undefined) {
      control.value = f.type === "power" ? Object.entries(value).map(([d, n]) => `${d}=${n}`).join(", ")
        : Array.isArray(value) ? value.join(", ") : String(value);
    }
  }
  wrap.append(label, control, err);
  return wrap;
}

// A field's value for the event (undefined when left empty), or throws a message for it.
function fieldValue(prefix, f) {
  const c = $(`${prefix}-${f.name}`);
  let v;
  switch (f.type) {
    case "tags": v = [...c.querySelectorAll("input:checked")].map((i) => i.value); if (!v.length) v = undefined; break;
    case "yes": v = c.checked; break;
    case "choice": v = c.value === "__other" ? $(`${prefix}-${f.name}-other`).value.trim() : c.value; break;
    case "number": case "amount":
      if (c.value.trim() === "") break;
      v = Number(c.value);
      if (!Number.isFinite(v)) throw new Error("a number is needed here");
      break;
    case "list": case "actors": v = c.value.split(",").map((s) => s.trim()).filter(Boolean); if (!v.length) v = undefined; break;
    case "power": {
      if (!c.value.trim()) break;
      v = {};
      for (const part of c.value.split(",")) {
        const [d, n] = part.split("=").map((s) => s.trim());
        if (!d || n === undefined || !Number.isFinite(Number(n))) throw new Error(`"${part.trim()}" is not domain=amount`);
        v[d] = Number(n);
      }
      break;
    }
    default: v = c.value.trim();
  }
  if (v === "" || v === null) v = undefined;
  if (v === undefined && f.required) throw new Error("this is needed");
  return v;
}

// ---- Errors next to the fields they name ----
function clearErrors(form) {
  for (const e of form.querySelectorAll(".error")) e.textContent = "";
  for (const e of form.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
}
function fieldError(id, message) {
  const c = $(id), e = $(id + "-error");
  if (!e) return false;
  e.textContent = message;
  if (c) c.setAttribute("aria-invalid", "true");
  return true;
}
// A refusal: each rejection beside the field it names (targets[i] maps event i's field
// to an element id), the rest in the form's own error line.
function showRefusal(form, overall, body, targets) {
  const rest = [];
  for (const r of body.rejections || []) {
    const to = targets[r.index] && targets[r.index](r.field);
    // Beside its field, the message need not name the field again.
    if (!(to && fieldError(to, r.message.replace(/^field `[^`]*`: /, "")))) rest.push(r.message);
  }
  const first = form.querySelector("[aria-invalid]");
  if (first) first.focus();
  $(overall).textContent = (body.error || "Not recorded.") + (rest.length ? " " + rest.join("; ") : "");
}

// ---- Sending: checked, then written; kept until written ----
async function record(form, overall, batch, targets, done) {
  const button = form.querySelector("button[type=submit]");
  if (button.disabled) return;
  button.disabled = true;
  clearErrors(form);
  $(overall).textContent = "";
  localStorage.setItem(PENDING, JSON.stringify({ place: state.place, batch }));
  try {
    // The check, then the write: either can refuse (the log may have moved between).
    let r;
    for (const path of ["/v1/events?dry_run=true", "/v1/events"]) {
      r = await send(path, batch);
      if (!r.ok) {
        localStorage.removeItem(PENDING);
        showRefusal(form, overall, r.body, targets);
        status("Nothing was recorded: see the form.");
        return;
      }
    }
    localStorage.removeItem(PENDING);
    status(r.body.appended ? `Recorded (${r.body.appended} ${r.body.appended === 1 ? "entry" : "entries"}).`
      : "Already recorded: nothing new was written.");
    done();
    await rostersAgain();
    await loadTimeline();
  } catch (e) {
    // The server could not be reached: the batch, ids and all, is kept; pressing the
    // button again (or reloading) sends the same entries, which are recorded once.
    status("Could not reach the server: nothing is lost. Press the button again to send the same record.");
  } finally {
    button.disabled = false;
  }
}

// A batch that was being sent when the page closed is sent again (its ids make that safe).
async function resendPending() {
  const saved = localStorage.getItem(PENDING);
  if (!saved) return;
  let pending;
  try { pending = JSON.parse(saved); } catch (_) { localStorage.removeItem(PENDING); return; }
  try {
    const r = await send("/v1/events", pending.batch);
    localStorage.removeItem(PENDING);
    status(r.ok ? "A record that was being sent when the page closed is now recorded (once)."
      : "A record that was being sent when the page closed could not be recorded: " + (r.body.error || r.status));
    if (r.ok) await loadTimeline();
  } catch (_) { /* still offline: kept for next time */ }
}

const envelope = (type, date) => {
  const e = { type, id: null, occurred_at: date, place: state.place };
  const by = $("recorder").value.trim() || (state.who && state.who.token ? "token:" + state.who.token : "");
  if (by) e.recorded_by = by;
  return e;
};

// ---- A session in one go ----
const session = { participants: [], absents: [], notes: 0, rels: 0, powers: 0, draft: newDraft() };

function chip(listId, items, value, label) {
  items.push(value);
  const li = el("li", {}, label);
  const b = el("button", { type: "button", "aria-label": "Remove " + label }, "×");
  b.addEventListener("click", () => { items.splice(items.indexOf(value), 1); li.remove(); session.draft = newDraft(); });
  li.appendChild(b);
  $(listId).appendChild(li);
}

function addParticipant() {
  const input = $("s-participant");
  const v = input.value.trim();
  if (!v) return;
  $("s-participants-error").textContent = "";
  const a = state.rosters.session.actors.find((x) => x.id === v || name(x.id).toLowerCase() === v.toLowerCase());
  if (!a) {
    $("s-participants-error").textContent = `"${v}" is not part of the place on ${$("s-date").value || "that date"}: choose from the list, or record them joining first.`;
    input.setAttribute("aria-invalid", "true");
    return;
  }
  input.removeAttribute("aria-invalid");
  if (!session.participants.includes(a.id)) chip("s-participants", session.participants, a.id, name(a.id));
  input.value = "";
  input.focus();
}

function addAbsent() {
  const input = $("s-absent");
  const v = input.value.trim();
  if (v && !session.absents.includes(v)) chip("s-absents", session.absents, v, v);
  input.value = "";
  input.focus();
}

function addNote() {
  const i = session.notes++;
  const box = el("div", { class: "item", id: `s-note-${i}` });
  box.appendChild(el("h3", {}, `Learning note ${i + 1}`));
  box.appendChild(fieldControl(`s-note-${i}`, RECORDS.learning_recorded.fields[0]));
  box.appendChild(fieldControl(`s-note-${i}`, RECORDS.learning_recorded.fields[1]));
  $("s-notes").appendChild(box);
}

function addSessionRel() {
  const i = session.rels++;
  const box = el("div", { class: "item", id: `s-rel-${i}` });
  box.appendChild(el("h3", {}, `Relationship ${i + 1}`));
  const what = el("div", { class: "row" });
  what.append(el("label", { for: `s-rel-${i}-change` }, "What happened"));
  const sel = el("select", { id: `s-rel-${i}-change` });
  for (const t of ["relationship_formed", "relationship_changed", "relationship_ended"]) sel.add(new Option(RECORDS[t].label, t));
  what.appendChild(sel);
  box.appendChild(what);
  for (const f of RECORDS.relationship_formed.fields.slice(0, 4)) box.appendChild(fieldControl(`s-rel-${i}`, f));
  $("s-rels").appendChild(box);
}

function addSessionPower() {
  const i = session.powers++;
  const box = el("div", { class: "item", id: `s-power-${i}` });
  box.appendChild(el("h3", {}, `Power shift ${i + 1}`));
  for (const f of RECORDS.power_shifted.fields) box.appendChild(fieldControl(`s-power-${i}`, f));
  $("s-powers").appendChild(box);
}

function resetSession() {
  for (const id of ["s-title", "s-theme", "s-participant", "s-absent"]) $(id).value = "";
  for (const id of ["s-participants", "s-absents", "s-notes", "s-rels", "s-powers"]) $(id).replaceChildren();
  Object.assign(session, { participants: [], absents: [], notes: 0, rels: 0, powers: 0, draft: newDraft() });
  addNote();
}

function submitSession(ev) {
  ev.preventDefault();
  const form = $("session");
  clearErrors(form);
  const date = $("s-date").value;
  const problems = [];
  const need = (fn, id) => { try { return fn(); } catch (e) { fieldError(id, e.message); problems.push(id); return undefined; } };
  if (!date) { fieldError("s-date", "the session's date is needed"); problems.push("s-date"); }
  if (!session.participants.length) { fieldError("s-participants", "add who came"); problems.push("s-participants"); }
  const id = session.draft;
  const batch = [], targets = [];
  const sessionId = `session-${date}-${id.slice(4, 12)}`;
  const held = { ...envelope("session_held", date), session: sessionId, participants: session.participants.slice() };
  if ($("s-title").value.trim()) held.title = $("s-title").value.trim();
  if ($("s-theme").value.trim()) held.theme = $("s-theme").value.trim();
  if (session.absents.length) held.absent_voices = session.absents.slice();
  held.source = sessionId;
  batch.push(held);
  targets.push((f) => ({ participants: "s-participants", occurred_at: "s-date", title: "s-title" }[f] || "s-participants"));
  for (let i = 0; i < session.notes; i++) {
    const p = `s-note-${i}`;
    if (!$(p)) continue;
    const text = $(`${p}-text`).value.trim();
    if (!text) continue;
    const tags = need(() => fieldValue(p, RECORDS.learning_recorded.fields[1]), `${p}-tags`);
    const e = { ...envelope("learning_recorded", date), text, session: sessionId, source: sessionId };
    if (tags) e.tags = tags;
    if (session.participants.length) e.actors = session.participants.slice();
    batch.push(e);
    targets.push((f) => `${p}-${f === "tags" ? "tags" : "text"}`);
  }
  for (let i = 0; i < session.rels; i++) {
    const p = `s-rel-${i}`;
    if (!$(`${p}-from`).value && !$(`${p}-to`).value) continue;
    const type = $(`${p}-change`).value;
    const e = { ...envelope(type, date), session: sessionId, source: sessionId };
    for (const f of RECORDS.relationship_formed.fields.slice(0, 4)) {
      if (type === "relationship_ended" && f.name === "strength") continue;
      const v = need(() => fieldValue(p, f), `${p}-${f.name}`);
      if (v !== undefined) e[f.name] = v;
    }
    batch.push(e);
    targets.push((f) => `${p}-${f}`);
  }
  for (let i = 0; i < session.powers; i++) {
    const p = `s-power-${i}`;
    if (!$(`${p}-domain`).value.trim() && !$(`${p}-amount`).value) continue;
    const e = { ...envelope("power_shifted", date), session: sessionId, source: sessionId };
    for (const f of RECORDS.power_shifted.fields) {
      const v = need(() => fieldValue(p, f), `${p}-${f.name}`);
      if (v !== undefined) e[f.name] = v;
    }
    batch.push(e);
    targets.push((f) => `${p}-${f === "amount" || f === "domain" || f === "from" || f === "to" ? f : "domain"}`);
  }
  if (problems.length) { $(problems[0]) && $(problems[0]).focus(); $("s-error").textContent = "Some parts need attention (marked above)."; return; }
  batch.forEach((e, k) => { e.id = `${id}-${k}`; });
  record(form, "s-error", batch, targets, resetSession);
}

// ---- One thing at a time (and corrections) ----
const one = { draft: newDraft() };

function renderOne(type, values) {
  const box = $("o-fields");
  box.replaceChildren();
  for (const f of RECORDS[type].fields) {
    let v = values ? values[f.name] : undefined;
    if (values && f.type === "relationship") v = JSON.stringify([values.from, values.to, values.kind]);
    box.appendChild(fieldControl("o", f, v));
    if (f.type === "relationship" && v && ![...$("o-relationship").options].some((o) => o.value === v)) {
      $("o-relationship").add(new Option(`${name(values.from)} → ${name(values.to)} (${values.kind})`, v));
      $("o-relationship").value = v;
    }
  }
  if (type === "power_shifted") {
    const hint = el("p", { class: "hint", id: "o-holding", "aria-live": "polite" });
    box.appendChild(hint);
    const show = () => {
      const a = state.rosters.one.actors.find((x) => x.id === $("o-from").value);
      const d = $("o-domain").value.trim();
      const held = a ? Number((a.power[d] ?? 0).toFixed(3)) : 0;
      hint.textContent = a && d ? `${name(a.id)} holds ${held} of ${d} on ${state.rosterAt.one}.` : "";
    };
    $("o-from").addEventListener("input", show);
    $("o-domain").addEventListener("input", show);
  }
}

function submitOne(ev) {
  ev.preventDefault();
  const form = $("one");
  clearErrors(form);
  const type = $("o-type").value;
  const date = $("o-date").value;
  const e = envelope(type, date);
  let bad = !date && fieldError("o-date", "the date it happened is needed");
  for (const f of RECORDS[type].fields) {
    try {
      const v = fieldValue("o", f);
      if (v === undefined) continue;
      if (f.type === "relationship") [e.from, e.to, e.kind] = JSON.parse(v);
      else e[f.name] = v;
    } catch (err) { fieldError(`o-${f.name}`, err.message); bad = true; }
  }
  const field = (f) => {
    if (f === "occurred_at") return "o-date";
    if (RECORDS[type].fields.some((x) => x.name === f)) return `o-${f}`;
    if (["from", "to", "kind"].includes(f) && $("o-relationship")) return "o-relationship";
    return null;
  };
  const batch = [], targets = [];
  if (state.correcting) {
    const reason = $("o-reason").value.trim();
    if (!reason) { fieldError("o-reason", "say what was wrong with the record"); bad = true; }
    batch.push({ type: "event_retracted", id: null, occurred_at: now(), target: state.correcting.id,
      reason: "corrected: " + reason, ...(e.recorded_by ? { recorded_by: e.recorded_by } : {}) });
    targets.push((f) => (f === "reason" ? "o-reason" : null));
  }
  if (bad) { const first = form.querySelector("[aria-invalid]"); if (first) first.focus(); $("o-error").textContent = "Some parts need attention (marked above)."; return; }
  batch.push(e);
  targets.push(field);
  batch.forEach((x, k) => { x.id = `${one.draft}-${k}`; });
  record(form, "o-error", batch, targets, () => { stopCorrecting(); one.draft = newDraft(); renderOne($("o-type").value); });
}

function startCorrecting(e) {
  state.correcting = e;
  $("o-type").value = e.type;
  $("o-date").value = e.occurred_at.slice(0, 10);
  $("o-correcting").hidden = false;
  $("o-correcting-text").textContent = `Correcting: ${describe(e)} (${e.occurred_at.slice(0, 10)}). Recording will retract that entry and record this one instead, together.`;
  one.draft = newDraft();
  rosterFor("one").then(() => renderOne(e.type, e)).catch((err) => status(err.message));
  $("one").scrollIntoView();
  $("o-reason").focus();
}
function stopCorrecting() {
  state.correcting = null;
  $("o-correcting").hidden = true;
  $("o-reason").value = "";
}

// ---- A file ----
const FILE_TYPES = { csv: "text/csv", xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", json: "application/json" };
async function upload(dryRun) {
  const out = $("u-problems");
  out.replaceChildren();
  out.className = "problems";
  const file = $("u-file").files[0];
  const date = $("u-date").value;
  if (!file || !date) { out.appendChild(el("li", {}, "Choose a file and the date it shows.")); return; }
  const ending = (file.name.split(".").pop() || "").toLowerCase();
  if (!FILE_TYPES[ending]) { out.appendChild(el("li", {}, "The file must be .csv, .xlsx or (a Kumu map) .json.")); return; }
  const q = `at=${date}&source=${$("u-source").value}&name=${encodeURIComponent(file.name)}` + (dryRun ? "&dry_run=true" : "");
  try {
    const r = await send(placeUrl("import", q), file, FILE_TYPES[ending]);
    if (!r.ok) {
      out.appendChild(el("li", {}, r.body.error || String(r.status)));
      for (const p of r.body.problems || []) out.appendChild(el("li", {}, p.text || p.message));
      status("Nothing was recorded from the file.");
      return;
    }
    const counts = Object.entries(r.body.counts).map(([t, n]) => `${n} × ${typeLabel(t).toLowerCase()}`).join(", ");
    status(dryRun ? `The file is fine: it would record ${counts || "nothing new"}.`
      : `Recorded from the file: ${counts || "nothing new (already recorded)"}.`);
    out.className = "changes";
    for (const c of r.body.changes.slice(0, 20)) out.appendChild(el("li", {}, c));
    if (r.body.changes.length > 20) out.appendChild(el("li", {}, `and ${r.body.changes.length - 20} more`));
    if (!dryRun) { await rostersAgain(); await loadTimeline(); }
  } catch (e) { status("Could not reach the server: " + e.message); }
}

// ---- The timeline ----
function describe(e) {
  const rel = () => `${name(e.from)} → ${name(e.to)} (${e.kind})`;
  switch (e.type) {
    case "place_registered": return `The place is registered as ${e.name}`;
    case "actor_joined": return `${e.name || e.actor} joins`;
    case "actor_updated": return `${name(e.actor)}'s details change`;
    case "actor_left": return `${name(e.actor)} leaves`;
    case "relationship_formed": return `Relationship forms: ${rel()}`;
    case "relationship_changed": return `Relationship changes: ${rel()}`;
    case "relationship_ended": return `Relationship ends: ${rel()}`;
    case "power_shifted": return `${e.amount} of ${e.domain} moves from ${e.from ? name(e.from) : "outside"} to ${e.to ? name(e.to) : "outside"}`;
    case "session_held": return `Session${e.title ? " “" + e.title + "”" : ""}: ${(e.participants || []).length} came` +
      ((e.absent_voices || []).length ? `, still missing: ${e.absent_voices.join(", ")}` : "");
    case "learning_recorded": return `Learning: ${e.text}`;
    case "outcome_harvested": return `Outcome: ${e.description}`;
    case "event_retracted": return `Retracted an earlier record: ${e.reason}`;
    case "actor_redacted": return `${name(e.actor)}'s personal data is erased`;
    default: return e.type;
  }
}
const mentions = (e) => [e.actor, e.from, e.to, ...(e.participants || []), ...(e.actors || [])].filter(Boolean);

async function loadTimeline() {
  if (!state.who || state.who.role === "funder") { $("timeline").replaceChildren(el("li", {}, "The timeline of records is for recorders and administrators.")); return; }
  const events = [];
  const epoch = state.epoch;
  let from = 1;
  for (;;) {
    const page = await api(`/v1/events?place=${encodeURIComponent(state.place)}&from=${from}&limit=1000`);
    if (!current(epoch)) return;
    events.push(...page.events);
    if (!page.events.length || page.next_from <= from) break;
    from = page.next_from;
  }
  state.events = events;
  const types = $("t-type");
  const keep = types.value;
  types.replaceChildren(new Option("everything", ""));
  for (const t of [...new Set(events.map((e) => e.type))].sort()) types.add(new Option(typeLabel(t), t));
  types.value = keep;
  showTimeline();
}

function showTimeline() {
  const retracted = {};
  for (const e of state.events) if (e.type === "event_retracted") retracted[e.target] = e;
  const type = $("t-type").value, actor = $("t-actor").value.trim();
  const shown = state.events
    .filter((e) => (!type || e.type === type) && (!actor || mentions(e).includes(actor)))
    .sort((a, b) => (b.occurred_at.localeCompare(a.occurred_at)) || (b.position - a.position))
    .slice(0, 500);
  const list = $("timeline");
  list.replaceChildren();
  for (const e of shown) {
    const li = el("li", { "data-id": e.id, class: retracted[e.id] ? "retracted" : undefined });
    li.appendChild(el("time", { datetime: e.occurred_at }, e.occurred_at.slice(0, 10)));
    li.appendChild(el("span", { class: "what" }, describe(e)));
    const late = (Date.parse(e.recorded_at) - Date.parse(e.occurred_at)) / 86400000;
    const meta = `recorded ${e.recorded_at.slice(0, 10)}` + (e.recorded_by ? ` by ${e.recorded_by}` : "");
    li.appendChild(el("span", { class: "meta" }, meta));
    if (late > 7) li.appendChild(el("span", { class: "late" }, `recorded late: ${Math.round(late)} days after`));
    if (retracted[e.id]) li.appendChild(el("span", { class: "late" }, `retracted: ${retracted[e.id].reason}`));
    const fixable = RECORDS[e.type] && !retracted[e.id];
    if (e.type === "session_held" && !retracted[e.id]) li.appendChild(retractControls(e));
    else if (fixable) {
      li.appendChild(retractControls(e));
      const c = el("button", { type: "button", class: "correct" }, "Correct");
      c.setAttribute("aria-label", `Correct: ${describe(e)}`);
      c.addEventListener("click", () => startCorrecting(e));
      li.appendChild(c);
    }
    list.appendChild(li);
  }
  if (!shown.length) list.appendChild(el("li", {}, "Nothing recorded yet" + (type || actor ? " that matches." : ".")));
}

function retractControls(e) {
  const box = el("span", { class: "actions" });
  const b = el("button", { type: "button", class: "retract", "aria-label": `Retract: ${describe(e)}` }, "Retract");
  b.addEventListener("click", () => {
    const form = el("form", { class: "retract-form" });
    const id = `r-${e.id}`;
    form.append(el("label", { for: id }, "Why is it being retracted?"), el("input", { id, required: true, "aria-describedby": id + "-error" }),
      el("button", { type: "submit" }, "Retract it"), el("span", { class: "error", id: id + "-error" }));
    const draft = newDraft();
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const reason = $(id).value.trim();
      if (!reason) { fieldError(id, "a reason is needed"); return; }
      const batch = [{ type: "event_retracted", id: `${draft}-0`, occurred_at: now(), target: e.id, reason }];
      record(form, id + "-error", batch, [(f) => (f === "reason" ? id : null)], () => {});
    });
    b.replaceWith(form);
    $(id).focus();
  });
  box.appendChild(b);
  return box;
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", connect);
  $("place").addEventListener("change", (e) => choose(e.target.value).catch((err) => status(err.message)));
  $("recorder").value = localStorage.getItem("shiftlog-recorder") || "";
  $("recorder").addEventListener("change", () => localStorage.setItem("shiftlog-recorder", $("recorder").value.trim()));
  for (const d of ["s-date", "o-date", "u-date"]) $(d).value = today();
  for (const [form, { date }] of Object.entries(FORMS)) {
    $(date).addEventListener("change", () => rosterFor(form).catch((err) => status(err.message)));
  }
  // An edit makes a different record: new ids. Sending the same form again keeps them.
  $("session").addEventListener("input", () => { session.draft = newDraft(); });
  $("one").addEventListener("input", () => { one.draft = newDraft(); });
  $("s-participant-add").addEventListener("click", addParticipant);
  $("s-participant").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addParticipant(); } });
  $("s-absent-add").addEventListener("click", addAbsent);
  $("s-absent").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addAbsent(); } });
  $("s-note-add").addEventListener("click", addNote);
  $("s-rel-add").addEventListener("click", addSessionRel);
  $("s-power-add").addEventListener("click", addSessionPower);
  $("session").addEventListener("submit", submitSession);
  for (const [t, r] of Object.entries(RECORDS)) $("o-type").add(new Option(r.label, t));
  $("o-type").addEventListener("change", () => { stopCorrecting(); renderOne($("o-type").value); });
  $("o-cancel").addEventListener("click", () => { stopCorrecting(); renderOne($("o-type").value); });
  $("one").addEventListener("submit", submitOne);
  $("u-check").addEventListener("click", () => upload(true));
  $("upload").addEventListener("submit", (e) => { e.preventDefault(); upload(false); });
  $("t-type").addEventListener("change", showTimeline);
  $("t-actor").addEventListener("input", showTimeline);
  addNote();
  renderOne($("o-type").value);
  connect();
});
