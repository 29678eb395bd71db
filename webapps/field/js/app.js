// The field app after unlock: header (who, network, outbox, position), tabs, cached data.
import { h, clear, $, toast, shortTime } from "/webapps/common/dom.js";
import { bilingual } from "/webapps/common/i18n.js";
import { openOutbox } from "/webapps/common/outbox.js";
import { T, api, session, onRevoked, dropToken, showSignIn } from "./main.js";
import { here, startWatch, stopWatch, screenKeptOn } from "./geo.js";
import { STRINGS } from "./strings.js";

T.extend(STRINGS);

/** What the app shows: the cached reference data, the outbox, the current tab. */
export const state = {
  started: false,
  outbox: null,
  data: { me: null, categories: [], grid: null, plan: null, queue: [], parts: null },
  dataAt: null,
  tab: null,
  views: {},
};
const listeners = new Set();
/** Call ``fn`` whenever the data or the outbox changed. */
export const onData = (fn) => listeners.add(fn);
const changed = () => {
  listeners.forEach((fn) => fn());
  // views that only show data are drawn again with the new data
  if (["map", "tasks", "plan"].includes(state.tab)) redraw(state.tab);
  renderStatus();
};

/** Open tab ``name`` again, unless it is the one shown and holds a form being filled in
 * (its view has ``data-form``): new data and a tap on its own tab leave the form alone. */
function redraw(name) {
  const view = document.getElementById(`view-${name}`);
  if (name === state.tab && view?.dataset.form) return;
  openTab(name);
}

const WORKER_TABS = ["map", "tasks", "plan", "report", "outbox"];
const HANDLER_TABS = ["tasks", "map", "outbox"];

export async function start() {
  state.outbox ??= await openOutbox({
    name: "gridgov-field",
    urls: {
      sync: "/field/api/sync",
      photo: (id) => `/field/api/photos/${encodeURIComponent(id)}`,
      fixes: "/field/api/fixes",
    },
    auth: async () => (session.token ? { Authorization: `Bearer ${session.token}` } : null),
    owner: () => session.username,
  });
  if (!state.started) {
    state.started = true;
    onRevoked(revoked);
    state.outbox.onChange(() => {
      renderStatus();
      if (state.outbox.status() === "auth" && session.token) revoked();
    });
    here.listeners.add(renderPosition);
    addEventListener("online", () => refresh());
    addEventListener("offline", renderStatus);
  }
  await loadCached();
  renderShell();
  const isWorker = session.me.role === "grid_worker";
  startWatch(isWorker ? (fix) => state.outbox.addFixes([fix]).then(scheduleFixes) : null);
  await refresh();
  syncNow();
}

let fixTimer = null;
function scheduleFixes() {
  clearTimeout(fixTimer);
  fixTimer = setTimeout(() => state.outbox.flush(), 20_000);
}

/** Send the outbox now; tell the user what came back. */
export async function syncNow() {
  const out = await state.outbox.flush();
  if (out.sent) toast(T.label("sent_toast", { n: out.sent }));
  if (out.refused) toast(T.label("refused_toast", { n: out.refused }), { kind: "warn", ms: 8000 });
  if (out.sent || out.refused) await refresh();
  renderStatus();
  return out;
}

let revoking = false;
async function revoked() {
  if (revoking) return;
  revoking = true;
  stopWatch();
  await dropToken();
  const c = await state.outbox.counts();
  showSignIn({ note: "revoked", vars: { n: c.pending + c.others }, username: session.username });
  revoking = false;
}

// -- data: fetched when online, kept in IndexedDB for offline use -------------------------------
async function loadCached() {
  const cached = await state.outbox.cache.get(`data:${session.username}`);
  if (cached) {
    state.data = cached.data;
    state.dataAt = cached.at;
  }
  state.data.me = session.me;
}

/** Fetch the reference data (when online) and cache it. */
export async function refresh() {
  if (!navigator.onLine) return changed();
  try {
    const p = here.pos;
    const near = p ? { lon: p.lon.toFixed(6), lat: p.lat.toFixed(6) } : {};
    const [me, categories, grid, plan, queue] = await Promise.all([
      api("/me"),
      api("/categories"),
      api("/grid"),
      session.me.role === "grid_worker" ? api("/plan") : Promise.resolve(null),
      api("/queue", { query: near }),
    ]);
    const bbox = bboxOf(grid);
    const parts = bbox ? await api("/parts", { query: { bbox: bbox.join(",") } }) : null;
    session.me = me;
    state.data = { me, categories, grid, plan, queue, parts };
    state.dataAt = new Date().toISOString();
    await state.outbox.cache.set(`data:${session.username}`, { data: state.data, at: state.dataAt });
  } catch (err) {
    if (err?.status !== 401) console.warn("refresh failed", err);
  }
  changed();
}

function bboxOf(fc) {
  const xs = [];
  const ys = [];
  const walk = (c) => (typeof c[0] === "number" ? (xs.push(c[0]), ys.push(c[1])) : c.forEach(walk));
  for (const f of fc?.features || []) if (f.geometry) walk(f.geometry.coordinates);
  if (!xs.length) return null;
  const pad = 0.001;
  let [x0, y0, x1, y1] = [Math.min(...xs) - pad, Math.min(...ys) - pad, Math.max(...xs) + pad, Math.max(...ys) + pad];
  // the API serves parts for at most 0.05° a side
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  if (x1 - x0 > 0.05) [x0, x1] = [cx - 0.0249, cx + 0.0249];
  if (y1 - y0 > 0.05) [y0, y1] = [cy - 0.0249, cy + 0.0249];
  return [x0, y0, x1, y1].map((v) => v.toFixed(6));
}

// -- the shell: header, tabs, views ---------------------------------------------------------------
function renderShell() {
  const tabs = session.me.role === "grid_worker" ? WORKER_TABS : HANDLER_TABS;
  const lock = h("button", { class: "small", type: "button", id: "lock" }, T.label("lock"));
  lock.addEventListener("click", () => location.reload());
  const sync = h("button", { class: "small", type: "button", id: "sync-now" }, T.label("sync_now"));
  sync.addEventListener("click", () => syncNow());
  // the header stays on screen in three one-line rows (a phone keeps most of its height for
  // the view): name, network and the buttons; the position; the outbox counts. What does not
  // fit a row scrolls sideways, and a row that scrolls is reached by the keyboard too
  // (tabindex: WCAG 2.1.1)
  const header = h(
    "header",
    { class: "app-header" },
    h(
      "div",
      { class: "who-row" },
      h("strong", { class: "who" }, session.me.display_name || session.me.username),
      h("span", { class: "role" }, T.label(`role_${session.me.role}`)),
      h("span", { id: "net", class: "badge" }),
      h("span", { class: "header-buttons" }, sync, lock),
    ),
    h("div", { id: "position", class: "position", "aria-live": "polite", tabindex: "0", "aria-label": T.str("position") }),
    h("div", { class: "status-row" }, h("span", { id: "outbox-status", tabindex: "0", "aria-label": T.str("tab_outbox") })),
  );
  const nav = h("nav", { class: "tabs", "aria-label": T.str("app_title") });
  for (const name of tabs) {
    const b = h("button", { type: "button", class: "tab", id: `tab-${name}`, dataset: { tab: name } }, T.label(`tab_${name}`));
    b.addEventListener("click", () => redraw(name));
    nav.append(b);
  }
  const views = h("div", { id: "views" });
  clear($("#screen"), header, views, nav);
  document.body.dataset.screen = "app";
  renderStatus();
  renderPosition();
  openTab(tabs[0]);
}

const VIEW_MODULES = {
  map: () => import("./mapview.js"),
  tasks: () => import("./tasks.js"),
  plan: () => import("./views.js"),
  report: () => import("./report.js"),
  outbox: () => import("./views.js"),
};

let opening = 0;
/** Switch to tab ``name`` (each view is a module with render(container, name, options));
 * when tabs are opened quickly one after the other, the last one opened is drawn. */
export async function openTab(name, options = {}) {
  const mine = ++opening;
  state.tab = name;
  for (const b of document.querySelectorAll(".tab")) b.setAttribute("aria-current", b.dataset.tab === name ? "page" : "false");
  const views = $("#views");
  const mod = await VIEW_MODULES[name]();
  if (mine !== opening) return; // another tab was opened meanwhile: it is the one drawn
  const box = h("section", { class: `view view-${name}`, id: `view-${name}` });
  clear(views, box);
  await mod.render(box, name, options);
  document.body.dataset.tab = name;
}

async function renderStatus() {
  const net = document.getElementById("net");
  if (!net || !state.outbox) return;
  const st = state.outbox.status();
  const busy = st === "busy" || st === "throttled"; // the outbox waits for the Retry-After
  const key = !navigator.onLine ? "offline" : st === "sending" ? "sending" : busy ? "busy" : "online";
  net.className = `badge net-${key}`;
  clear(net, T.label(key));
  const c = await state.outbox.counts();
  const box = document.getElementById("outbox-status");
  if (!box) return;
  clear(
    box,
    h("span", { class: "count", dataset: { pending: c.pending } }, T.label("outbox_n", { n: c.pending })),
    c.refused ? h("span", { class: "count warn", dataset: { refused: c.refused } }, T.label("refused_n", { n: c.refused })) : null,
    h("span", { class: "count", dataset: { fixes: c.fixes } }, T.label("fixes_n", { n: c.fixes })),
    state.dataAt ? h("span", { class: "count" }, T.label("data_at", { t: shortTime(state.dataAt) })) : T.label("data_none"),
  );
  document.body.dataset.pending = String(c.pending);
  document.body.dataset.fixes = String(c.fixes);
}

function renderPosition() {
  const el = document.getElementById("position");
  if (!el) return;
  const p = here.pos;
  if (!p) {
    clear(el, here.error ? T.label("gps_denied", { why: here.error }) : T.label("position_none"));
    return;
  }
  // numbers read the same in both languages: one line, units in both
  const poor = p.accuracy > 50;
  el.className = `position${poor ? " poor" : ""}`;
  clear(
    el,
    T.label("position"),
    " ",
    h(
      "span",
      { class: "coords" },
      h("span", { class: "coords-ll" }, `${coordsParts(p)[0]} `),
      coordsParts(p)[1],
    ),
    session.me.role === "grid_worker" ? h("span", { class: "tracking" }, T.label("tracking")) : null,
    screenKeptOn() ? h("span", { class: "tracking" }, T.label("wake_lock")) : null,
  );
}

/** ["lat, lon", "± n 米 m"] of a position. */
function coordsParts(p) {
  return [`${p.lat.toFixed(6)}, ${p.lon.toFixed(6)}`, `± ${Math.round(p.accuracy ?? 0)} 米 m`];
}

/** "lat, lon ± n 米 m" of a position. */
export function coords(p) {
  return coordsParts(p).join(" ");
}

/** The refusal text of a result: the server's reasons, both languages. */
export function reasonOf(result) {
  return bilingual(result.reason_zh || result.code || "", result.reason_en || "");
}
