// Report a case, or report-and-fix it on the spot (即知即改): category (search, recent, by
// class), photos, the GPS position with its accuracy or a tap on the map, a nearby part for a
// part fault, a description, and a hint of open cases of the same kind nearby.
import { h, clear, toast } from "/webapps/common/dom.js";
import { bilingual } from "/webapps/common/i18n.js";
import { T, api, session } from "./main.js";
import { state, openTab, coords } from "./app.js";
import { here, distanceM } from "./geo.js";
import { photoPicker } from "./photos.js";
import { makeMap } from "./mapview.js";

const RECENT_KEY = "recent-categories";
const PART_RADIUS_M = 100;

function field(key, input) {
  return h("label", { class: "field" }, T.label(key), input);
}

export async function render(box, _name, { mode = "report" } = {}) {
  box.dataset.form = "report"; // a report being filled in is not redrawn under the user
  const form = h("form", { class: "card report-form", id: "report-form", novalidate: true });
  const picked = { category: null, location: null, source: null, part: null };
  let fix = mode === "fix";

  // mode: report / fixed on the spot
  const modeReport = h("button", { type: "button", class: "seg", id: "mode-report" }, T.label("mode_report"));
  const modeFix = h("button", { type: "button", class: "seg", id: "mode-fix" }, T.label("mode_fix"));
  const fixHint = h("p", { class: "hint" }, T.label("fix_hint"));
  const setMode = (isFix) => {
    fix = isFix;
    modeReport.setAttribute("aria-pressed", String(!fix));
    modeFix.setAttribute("aria-pressed", String(fix));
    fixHint.hidden = !fix;
    photos.el.hidden = fix;
    before.el.hidden = !fix;
    after.el.hidden = !fix;
    clear(submit, T.label(fix ? "submit_fix" : "submit_report"));
  };
  modeReport.addEventListener("click", () => setMode(false));
  modeFix.addEventListener("click", () => setMode(true));

  // category: search, recent, grouped by major class
  const search = h("input", { type: "search", id: "category-search", placeholder: T.str("category_search"), "aria-label": T.str("category_search") });
  const chosen = h("p", { class: "chosen", id: "category-chosen" }, T.label("category_pick"));
  const recentBox = h("div", { class: "chips", id: "category-recent" });
  const results = h("div", { class: "cat-list", id: "category-list" });
  const recent = (await state.outbox.cache.get(RECENT_KEY)) || [];
  const cats = state.data.categories || [];
  const byCode = new Map(cats.map((c) => [c.service_code, c]));

  const choose = async (c) => {
    picked.category = c;
    clear(chosen, catLabel(c));
    chosen.dataset.code = c.service_code;
    clear(results);
    search.value = "";
    partBox.hidden = c.kind !== "part";
    renderParts();
    const list = [c.service_code, ...recent.filter((x) => x !== c.service_code)].slice(0, 6);
    await state.outbox.cache.set(RECENT_KEY, list);
    duplicates();
  };
  const catButton = (c) => {
    const b = h("button", { type: "button", class: "cat", dataset: { code: c.service_code } }, catLabel(c));
    b.addEventListener("click", () => choose(c));
    return b;
  };
  for (const code of recent) if (byCode.has(code)) recentBox.append(catButton(byCode.get(code)));
  const majors = [...new Map(cats.map((c) => [`${c.kind}:${c.major_zh}`, c])).values()];
  const showMajors = () =>
    clear(
      results,
      majors.map((m) => {
        const b = h("button", { type: "button", class: "major" }, icon(m), bilingual(m.major_zh, m.major_en));
        b.addEventListener("click", () => clear(results, cats.filter((c) => c.kind === m.kind && c.major_zh === m.major_zh).map(catButton)));
        return b;
      }),
    );
  search.addEventListener("input", () => {
    const q = search.value.trim().toLowerCase();
    if (!q) return showMajors();
    const hits = cats.filter((c) => `${c.name_zh} ${c.name_en} ${c.service_code} ${c.major_zh} ${c.major_en}`.toLowerCase().includes(q));
    clear(results, hits.slice(0, 40).map(catButton));
  });
  showMajors();

  // location: GPS (with accuracy) or a tap on the map; a part picked on the map
  const where = h("p", { class: "where", id: "report-where", "aria-live": "polite" });
  const useGps = h("button", { type: "button", class: "seg", id: "use-gps", "aria-pressed": "true" }, T.label("use_gps"));
  const useMap = h("button", { type: "button", class: "seg", id: "use-map", "aria-pressed": "false" }, T.label("use_map"));
  const mapEl = h("div", { class: "map mini", id: "report-map" });
  const partBox = h("div", { class: "parts", hidden: true });
  const partSelect = h("select", { id: "part-select", name: "part" });
  partBox.append(field("part_pick", partSelect));
  let tapMode = false;
  const renderWhere = () => {
    const loc = tapMode ? picked.location : here.pos;
    if (!tapMode) {
      picked.location = here.pos ? { ...here.pos } : null;
      picked.source = here.pos ? "gps" : null;
    }
    if (!loc) return clear(where, T.label(tapMode ? "map_tap_hint" : "location_needed"));
    clear(where, coords(loc), " · ", T.label(picked.source === "map" ? "use_map" : "use_gps"));
  };
  useGps.addEventListener("click", () => {
    tapMode = false;
    useGps.setAttribute("aria-pressed", "true");
    useMap.setAttribute("aria-pressed", "false");
    renderWhere();
    renderParts();
  });
  useMap.addEventListener("click", () => {
    tapMode = true;
    useGps.setAttribute("aria-pressed", "false");
    useMap.setAttribute("aria-pressed", "true");
    picked.location = null;
    renderWhere();
  });
  const partsNear = () => {
    const loc = picked.location;
    const fs = state.data.parts?.features || [];
    if (!loc || !picked.category) return [];
    return fs
      .map((f) => ({ p: f.properties, d: distanceM(loc, { lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1] }) }))
      .filter((x) => x.d <= PART_RADIUS_M)
      .sort((a, b) => (a.p.service_code === picked.category.service_code ? -1 : 0) - (b.p.service_code === picked.category.service_code ? -1 : 0) || a.d - b.d)
      .slice(0, 30);
  };
  function renderParts() {
    const keep = picked.part?.part_id;
    clear(partSelect, h("option", { value: "" }, T.str("part_none")));
    for (const { p, d } of partsNear()) {
      partSelect.append(h("option", { value: String(p.part_id), selected: p.part_id === keep }, `${p.name_zh} ${p.name_en} · ${p.code} · ${Math.round(d)} m`));
    }
    if (picked.part && ![...partSelect.options].some((o) => o.value === String(picked.part.part_id))) {
      partSelect.append(h("option", { value: String(picked.part.part_id), selected: true }, `${picked.part.name_zh} ${picked.part.name_en} · ${picked.part.code}`));
    }
  }
  partSelect.addEventListener("change", () => {
    const id = Number(partSelect.value);
    const f = (state.data.parts?.features || []).find((x) => x.properties.part_id === id);
    picked.part = f ? f.properties : null;
  });

  // duplicates: open cases of this kind nearby (needs the network)
  const dupBox = h("div", { class: "dups", id: "duplicates", "aria-live": "polite" });
  async function duplicates() {
    if (!picked.category || !picked.location) return clear(dupBox);
    if (!navigator.onLine) return clear(dupBox, h("p", { class: "hint" }, T.label("duplicates_offline")));
    try {
      const near = await api("/nearby", { query: { lon: picked.location.lon.toFixed(6), lat: picked.location.lat.toFixed(6), service_code: picked.category.service_code } });
      if (!near.length) return clear(dupBox, h("p", { class: "hint" }, T.label("duplicates_none")));
      clear(
        dupBox,
        h("p", { class: "notice" }, T.label("duplicates")),
        h("ul", {}, near.slice(0, 5).map((c) => h("li", {}, `${c.case_no} · ${c.name_zh} ${c.name_en} · ${Math.round(c.distance_m)} m`))),
      );
    } catch {
      clear(dupBox, h("p", { class: "hint" }, T.label("duplicates_offline")));
    }
  }

  const photos = photoPicker("photos", { name: "photos" });
  const before = photoPicker("photos_before", { name: "before" });
  const after = photoPicker("photos_after", { name: "after" });
  const desc = h("textarea", { id: "description", name: "description", rows: "3", maxlength: "4000", placeholder: T.str("description_ph") });
  const out = h("p", { class: "form-error", role: "alert", id: "report-error" });
  const submit = h("button", { type: "submit", class: "big primary", id: "report-submit" });

  clear(
    form,
    h("h2", {}, T.label("report_title")),
    h("div", { class: "segs" }, modeReport, modeFix),
    fixHint,
    h("fieldset", {}, h("legend", {}, T.label("category")), chosen, search, recent.length ? [h("p", { class: "sub" }, T.label("category_recent")), recentBox] : null, results),
    h("fieldset", {}, h("legend", {}, T.label("location")), h("div", { class: "segs" }, useGps, useMap), where, mapEl, partBox, dupBox),
    photos.el,
    before.el,
    after.el,
    field("description", desc),
    out,
    submit,
  );
  clear(box, form);
  setMode(fix);
  renderWhere();

  const onMove = () => {
    if (!form.isConnected) return here.listeners.delete(onMove);
    if (!tapMode) {
      renderWhere();
      renderParts();
    }
  };
  here.listeners.add(onMove);
  makeMap(mapEl, {
    tasks: false,
    plan: false,
    onPart: (p, [lon, lat]) => {
      picked.part = p;
      if (tapMode) {
        picked.location = { lon, lat, accuracy: 0 };
        picked.source = "map";
        renderWhere();
      }
      renderParts();
    },
  }).then(({ map }) => {
    map.on("click", (ev) => {
      if (!tapMode) return;
      picked.location = { lon: ev.latlng.lng, lat: ev.latlng.lat, accuracy: 0 };
      picked.source = "map";
      renderWhere();
      renderParts();
      duplicates();
    });
    requestAnimationFrame(() => map.invalidateSize());
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(out);
    const fail = (key) => (clear(out, T.label(key)), null);
    if (!picked.category) return fail("category_pick");
    if (!picked.location) return fail("location_needed");
    if (!desc.value.trim()) return fail("description_needed");
    const payload = {
      service_code: picked.category.service_code,
      lon: Number(picked.location.lon.toFixed(7)),
      lat: Number(picked.location.lat.toFixed(7)),
      accuracy_m: Math.round((picked.location.accuracy ?? 0) * 10) / 10,
      location_source: picked.source,
      description: desc.value.trim(),
    };
    if (picked.part && picked.category.kind === "part") payload.part_id = picked.part.part_id;
    if (fix) {
      if (!before.ids().length || !after.ids().length) return fail("photo_needed");
      Object.assign(payload, { before_photo_ids: before.ids(), after_photo_ids: after.ids(), photo_ids: [] });
    } else {
      if (!photos.ids().length) return fail("photo_needed");
      payload.photo_ids = photos.ids();
    }
    await state.outbox.enqueue({
      kind: fix ? "fix_on_spot" : "report",
      payload,
      label: `${picked.category.name_zh} ${picked.category.name_en}`,
    });
    toast(T.label("saved_outbox"));
    openTab("report", { mode: fix ? "fix" : "report" });
  });
}

function catLabel(c) {
  return [icon(c), bilingual(c.name_zh, c.name_en), h("span", { class: "code" }, c.service_code)];
}

/** A small badge: the class's first character, coloured by kind (part / event). */
function icon(c) {
  return h("span", { class: `icon icon-${c.kind}`, "aria-hidden": "true" }, (c.major_zh || "?").slice(0, 1));
}
