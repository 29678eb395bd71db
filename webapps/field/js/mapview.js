// The map: my grid, today's route and stops, parts, my tasks and my position, drawn with
// Leaflet (/vendor/leaflet) on a plain background — no tile server is needed or asked.
/* global L */
import { h, clear } from "/webapps/common/dom.js";
import { T, session } from "./main.js";
import { state, openTab } from "./app.js";
import { here } from "./geo.js";

let leaflet = null;

/** Load Leaflet's script and style once (from this server's /vendor/). */
export function loadLeaflet() {
  leaflet ??= new Promise((resolve, reject) => {
    document.head.append(h("link", { rel: "stylesheet", href: "/vendor/leaflet/leaflet.css" }));
    const s = h("script", { src: "/vendor/leaflet/leaflet.js" });
    s.addEventListener("load", () => resolve(window.L));
    s.addEventListener("error", reject);
    document.head.append(s);
  });
  return leaflet;
}

/** A Leaflet map in ``el`` showing the cached layers; returns {map, setPosition, layers}. */
export async function makeMap(el, { parts = true, tasks = true, plan = true, onPart } = {}) {
  await loadLeaflet();
  // SVG for the few shapes (grid, route, tasks); parts (up to 2,000) on one canvas
  const map = L.map(el, { zoomControl: true, attributionControl: false });
  const canvas = L.canvas({ padding: 0.2 });
  const d = state.data;
  const grid = L.geoJSON(d.grid || { type: "FeatureCollection", features: [] }, {
    style: { color: "#1565c0", weight: 3, fillColor: "#bbdefb", fillOpacity: 0.25 },
  });
  // the view first: Leaflet cannot draw a layer on a map that has none yet
  const bounds = grid.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
  else if (here.pos) map.setView([here.pos.lat, here.pos.lon], 17);
  else map.setView([0, 0], 2);
  grid.addTo(map);
  if (plan && d.plan?.route) L.geoJSON(d.plan.route, { style: { color: "#ef6c00", weight: 4, dashArray: "6 6" } }).addTo(map);
  if (plan) {
    for (const stop of d.plan?.stops || []) {
      L.circleMarker([stop.lat, stop.lon], {
        radius: 9,
        color: "#ef6c00",
        fillColor: stop.done ? "#ef6c00" : "#fff",
        fillOpacity: 1,
      })
        .bindTooltip(`${stop.seq}. ${stop.label_zh} ${stop.label_en}`)
        .addTo(map);
    }
  }
  if (parts && d.parts) {
    L.geoJSON(d.parts, {
      pointToLayer: (f, ll) => L.circleMarker(ll, { renderer: canvas, radius: 5, color: "#6a1b9a", weight: 1, fillOpacity: 0.7 }),
      onEachFeature: (f, layer) => {
        const p = f.properties;
        layer.bindTooltip(`${p.name_zh} ${p.name_en} · ${p.code}`);
        if (onPart) layer.on("click", (ev) => {
          L.DomEvent.stopPropagation(ev);
          onPart(p, f.geometry.coordinates);
        });
      },
    }).addTo(map);
  }
  if (tasks) {
    for (const t of d.queue || []) {
      L.circleMarker([t.lat, t.lon], { radius: 8, color: "#c62828", weight: 2, fillColor: "#ffcdd2", fillOpacity: 0.9 })
        .bindTooltip(`${t.case_no} ${t.name_zh} ${t.name_en}`)
        .on("click", () => openTab("tasks", { focus: t.case_id }))
        .addTo(map);
    }
  }
  const me = L.circleMarker([0, 0], { radius: 8, color: "#fff", weight: 3, fillColor: "#1e88e5", fillOpacity: 1 });
  const ring = L.circle([0, 0], { radius: 1, color: "#1e88e5", weight: 1, fillOpacity: 0.12 });
  const setPosition = (p) => {
    if (!p) return;
    me.setLatLng([p.lat, p.lon]).addTo(map);
    ring.setLatLng([p.lat, p.lon]).setRadius(Math.max(1, p.accuracy)).addTo(map);
  };
  setPosition(here.pos);
  return { map, setPosition };
}

export async function render(box) {
  const holder = h("div", { class: "map", id: "main-map", role: "region", "aria-label": T.str("tab_map") });
  const legend = h(
    "p",
    { class: "legend" },
    h("span", { class: "key key-grid" }), T.label("my_grid"), " ",
    h("span", { class: "key key-task" }), T.label("tab_tasks"), " ",
    h("span", { class: "key key-part" }), T.label("part"), " ",
    session.me.role === "grid_worker" ? [h("span", { class: "key key-plan" }), T.label("tab_plan")] : null,
  );
  clear(box, holder, legend);
  const { map, setPosition } = await makeMap(holder);
  const follow = (p) => (holder.isConnected ? setPosition(p) : here.listeners.delete(follow));
  here.listeners.add(follow);
  // Leaflet measures its box: do it again once the view is laid out
  requestAnimationFrame(() => map.invalidateSize());
  box.dataset.drawn = "1";
}
