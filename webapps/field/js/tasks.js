// My queue: cases to verify (核实) and check (核查) for a grid worker, dispatched cases for a
// department handler — sorted by deadline, then distance. Each action goes to the outbox with
// the case's version; the server (the same workflow as the command centre) decides.
import { h, clear, toast, shortTime } from "/webapps/common/dom.js";
import { bilingual } from "/webapps/common/i18n.js";
import { T } from "./main.js";
import { state, openTab, coords } from "./app.js";
import { here, distanceM } from "./geo.js";
import { photoPicker } from "./photos.js";

/** The on-site radius the server checks (GRIDGOV_FIELD_PROOF_RADIUS_M); shown as a hint. */
const PROOF_RADIUS_M = 100;

function field(key, input) {
  return h("label", { class: "field" }, T.label(key), input);
}

function sorted(queue) {
  const p = here.pos;
  const dist = (t) => (p ? distanceM(p, t) : t.distance_m ?? Infinity);
  return [...queue].sort((a, b) => {
    const da = a.deadline_at ? Date.parse(a.deadline_at) : Infinity;
    const db = b.deadline_at ? Date.parse(b.deadline_at) : Infinity;
    return da - db || dist(a) - dist(b);
  });
}

export async function render(box, _name, { focus } = {}) {
  const actions = await state.outbox.list();
  const waiting = new Set(actions.filter((a) => a.state === "pending" && a.case_id).map((a) => a.case_id));
  const queue = sorted(state.data.queue || []);
  if (!queue.length) return clear(box, h("p", { class: "empty" }, T.label("queue_empty")));
  const list = h("ul", { class: "tasks", id: "task-list" });
  for (const t of queue) list.append(taskCard(t, waiting.has(t.case_id), box));
  clear(box, list);
  if (focus) box.querySelector(`[data-case="${focus}"]`)?.scrollIntoView();
}

function taskCard(t, waiting, box) {
  const p = here.pos;
  const d = p ? distanceM(p, t) : t.distance_m;
  const buttons = h("div", { class: "actions" });
  const open = (kind) => () => {
    box.dataset.form = kind; // a form being filled in is not redrawn under the user
    clear(box, actionForm(t, kind));
  };
  const add = (key, kind) => {
    const b = h("button", { type: "button", class: "big", dataset: { action: kind } }, T.label(key));
    b.addEventListener("click", open(kind));
    buttons.append(b);
  };
  if (t.task === "verify") add("task_verify", "verify");
  else if (t.task === "check") add("task_check", "check");
  else {
    if (t.status === "dispatched") add("accept", "accept");
    add("feedback", "feedback");
    add("extension", "extension");
    add("return", "return");
  }
  return h(
    "li",
    { class: `task task-${t.task}`, dataset: { case: t.case_id, caseNo: t.case_no } },
    h("div", { class: "task-head" }, h("span", { class: `badge task-${t.task}` }, T.label(`task_${t.task}`)), h("strong", {}, t.case_no), h("span", { class: "status" }, T.label(`status_${t.status}`))),
    h("p", { class: "task-name" }, bilingual(t.name_zh, t.name_en)),
    h("p", { class: "task-meta" }, t.deadline_at ? T.label("deadline", { t: shortTime(t.deadline_at) }) : T.label("no_deadline"), " · ", d !== null && d !== undefined ? T.label("distance", { m: Math.round(d) }) : "", " · ", t.location_accuracy_m !== null && t.location_accuracy_m !== undefined ? T.label("reported_accuracy", { m: Math.round(t.location_accuracy_m) }) : T.label("reported_accuracy_unknown")),
    t.description ? h("p", { class: "task-desc" }, t.description) : null,
    waiting || t.pending_request ? h("p", { class: "notice" }, T.label("pending_here")) : null,
    buttons,
  );
}

const TITLES = { verify: "verify_title", check: "check_title", accept: "accept", feedback: "feedback", extension: "extension", return: "return" };

function actionForm(t, kind) {
  const form = h("form", { class: "card action-form", id: `form-${kind}`, novalidate: true });
  const out = h("p", { class: "form-error", role: "alert" });
  const cancel = h("button", { type: "button", class: "big" }, T.label("cancel"));
  cancel.addEventListener("click", () => openTab("tasks"));
  const parts = [h("h2", {}, T.label(TITLES[kind])), h("p", { class: "task-name" }, t.case_no, " · ", bilingual(t.name_zh, t.name_en))];
  let collect;
  if (kind === "verify" || kind === "check") collect = proofFields(t, kind, parts);
  else if (kind === "feedback") {
    const text = h("textarea", { name: "text", rows: "3", maxlength: "4000" });
    const photos = photoPicker("photos");
    parts.push(field("feedback_text", text), photos.el);
    collect = () => {
      if (!text.value.trim()) return "description_needed";
      if (!photos.ids().length) return "photo_needed";
      return { text: text.value.trim(), photo_ids: photos.ids() };
    };
  } else if (kind === "extension") {
    const hours = h("input", { name: "hours", type: "number", min: "1", max: "720", value: "24", inputmode: "numeric" });
    const reason = h("textarea", { name: "reason", rows: "2", maxlength: "1000" });
    parts.push(field("hours", hours), field("reason", reason));
    collect = () => {
      const n = Number(hours.value);
      if (!Number.isInteger(n) || n < 1 || n > 720) return "hours_bad";
      if (reason.value.trim().length < 2) return "reason_needed";
      return { hours: n, reason: reason.value.trim() };
    };
  } else if (kind === "return") {
    const reason = h("textarea", { name: "reason", rows: "2", maxlength: "1000" });
    parts.push(field("reason", reason));
    collect = () => (reason.value.trim().length < 2 ? "reason_needed" : { reason: reason.value.trim() });
  } else collect = () => ({});
  const submit = h("button", { type: "submit", class: "big primary" }, T.label("submit"));
  clear(form, parts, out, h("div", { class: "actions" }, submit, cancel));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const payload = collect();
    if (typeof payload === "string") return clear(out, T.label(payload));
    await state.outbox.enqueue({
      kind,
      case_id: t.case_id,
      expected_version: t.version,
      payload,
      label: `${t.case_no} ${T.str(`kind_${kind}`)}`,
    });
    toast(T.label("saved_outbox"));
    openTab("tasks");
  });
  return form;
}

/** Outcome, photo, position and distance to the case; a reason when not on site. */
function proofFields(t, kind, parts) {
  const outcomes = kind === "verify" ? ["confirmed", "not_found"] : ["pass", "fail"];
  let outcome = outcomes[0];
  const segs = h("div", { class: "segs", role: "radiogroup", "aria-label": T.str("outcome") });
  for (const o of outcomes) {
    const b = h("button", { type: "button", class: "seg", role: "radio", dataset: { outcome: o }, "aria-checked": String(o === outcome) }, T.label(o));
    b.addEventListener("click", () => {
      outcome = o;
      for (const x of segs.children) x.setAttribute("aria-checked", String(x.dataset.outcome === o));
    });
    segs.append(b);
  }
  const photos = photoPicker("photos");
  const where = h("p", { class: "where", "aria-live": "polite" });
  const reason = h("textarea", { name: "no_gps_reason", rows: "2", maxlength: "500" });
  const reasonField = field("no_gps_reason", reason);
  const note = h("textarea", { name: "note", rows: "2", maxlength: "1000" });
  const onSite = () => {
    const p = here.pos;
    if (!p) return false;
    return distanceM(p, t) <= PROOF_RADIUS_M && p.accuracy <= PROOF_RADIUS_M;
  };
  const show = () => {
    if (!where.isConnected && where.dataset.shown) return here.listeners.delete(show);
    where.dataset.shown = "1";
    const p = here.pos;
    if (!p) clear(where, T.label("position_none"));
    else {
      const m = Math.round(distanceM(p, t));
      clear(
        where,
        coords(p),
        h("br"),
        T.label(onSite() ? "on_site" : "off_site", { m, r: PROOF_RADIUS_M }),
      );
    }
    where.className = `where ${onSite() ? "ok" : "poor"}`;
  };
  here.listeners.add(show);
  show();
  parts.push(field("outcome", segs), photos.el, h("div", { class: "field" }, T.label("location"), where), reasonField, field("note", note));
  return () => {
    if (!photos.ids().length) return "photo_needed";
    const p = here.pos;
    if (!onSite() && reason.value.trim().length < 2) return "no_gps_needed";
    if (outcome === "fail" && !note.value.trim()) return "note_needed_fail";
    const payload = { outcome, photo_ids: photos.ids() };
    if (p) Object.assign(payload, { lon: Number(p.lon.toFixed(7)), lat: Number(p.lat.toFixed(7)), accuracy_m: Math.round(p.accuracy * 10) / 10 });
    if (!onSite()) payload.no_gps_reason = reason.value.trim();
    if (note.value.trim()) payload.note = note.value.trim();
    return payload;
  };
}

