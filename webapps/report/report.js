// The report flow: a kind, a place (my position or an address search: no map needed),
// a photo compressed on the phone, words; open cases of the same kind nearby are offered
// first ("follow it instead"); the write goes through the offline outbox.
import { applyLang, make, pair, when } from "./i18n.js";
import { flush, keep, keepFlushing, pending } from "./outbox.js";
import { compressPhoto } from "./photo.js";
import { deviceId, myCases, randomId, rememberCase, setUp } from "./prefs.js";

const $ = (id) => document.getElementById(id);
const state = { kind: null, kinds: [], lon: null, lat: null, place: null, photos: [] };
const headers = () => ({ "X-Device-Id": deviceId() });

function problem(zh, en) {
  if (zh) pair($("problem"), zh, en);
  else $("problem").replaceChildren();
}

function showNet() {
  if (navigator.onLine) pair($("net"), "已联网", "Online");
  else pair($("net"), "没有网络：反映会先存在手机里，联网后自动发送", "Offline: reports are kept on this phone and sent when the network returns");
}

async function loadKinds() {
  let kinds = [];
  try {
    const r = await fetch("/report/api/kinds");
    kinds = (await r.json()).kinds;
    localStorage.setItem("gridgov.report.kinds", JSON.stringify(kinds));
  } catch {
    kinds = JSON.parse(localStorage.getItem("gridgov.report.kinds") || "[]");
  }
  state.kinds = kinds;
  renderKinds();
}

function renderKinds() {
  const box = $("kinds");
  box.replaceChildren();
  for (const k of state.kinds) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.kind = k.code;
    b.setAttribute("aria-pressed", String(state.kind === k.code));
    const icon = document.createElement("span");
    icon.className = "icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = k.icon;
    b.append(icon, make("span", k.name_zh, k.name_en));
    b.addEventListener("click", () => {
      state.kind = k.code;
      renderKinds();
    });
    box.append(b);
  }
}

function showWhere() {
  if (state.lon === null) {
    $("where").replaceChildren();
    return;
  }
  const text = state.place
    ? [`已选：${state.place}`, `Chosen: ${state.place}`]
    : [`已定位（${state.lat.toFixed(5)}, ${state.lon.toFixed(5)}）`, `Position found (${state.lat.toFixed(5)}, ${state.lon.toFixed(5)})`];
  pair($("where"), text[0], text[1]);
}

function usePosition() {
  if (!navigator.geolocation) {
    problem("这部手机不能定位，请搜索地址", "This phone cannot find its position: search an address");
    return;
  }
  pair($("where"), "正在定位…", "Finding your position…");
  navigator.geolocation.getCurrentPosition(
    (p) => {
      state.lon = p.coords.longitude;
      state.lat = p.coords.latitude;
      state.place = null;
      problem();
      showWhere();
    },
    () => {
      $("where").replaceChildren();
      problem("没能定位：请允许定位，或搜索地址", "No position: allow location, or search an address");
    },
    { enableHighAccuracy: true, timeout: 15000 },
  );
}

async function searchPlaces() {
  const q = $("place-q").value.trim();
  const list = $("places");
  list.replaceChildren();
  if (!q) return;
  try {
    const r = await fetch(`/report/api/places?q=${encodeURIComponent(q)}`);
    const places = (await r.json()).places || [];
    if (!places.length) list.append(make("li", "没有找到这个地址", "No such address found"));
    for (const p of places) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = p.community_zh ? `${p.address}（${p.community_zh}）` : p.address;
      b.addEventListener("click", () => {
        state.lon = p.lon;
        state.lat = p.lat;
        state.place = p.address;
        list.replaceChildren();
        problem();
        showWhere();
      });
      li.append(b);
      list.append(li);
    }
  } catch {
    problem("没有网络时不能搜索地址，请用“使用我的位置”", "Searching needs the network: use “Use my position”");
  }
}

async function addPhoto() {
  const file = $("photo").files[0];
  if (!file) return;
  pair($("photo-note"), "正在压缩照片…", "Making the photo smaller…");
  try {
    const photo = await compressPhoto(file);
    state.photos = [photo];
    const kb = Math.round(photo.bytes / 1024);
    pair($("photo-note"), `照片已备好（${kb} KB）`, `Photo ready (${kb} KB)`);
  } catch {
    state.photos = [];
    pair($("photo-note"), "这张照片用不了，请换一张", "This photo cannot be used: choose another");
  }
}

function ready() {
  if (!state.kind) {
    problem("请先选择是什么问题", "Choose what is wrong first");
    return false;
  }
  if (state.lon === null) {
    problem("请告诉我们在哪里：使用我的位置或搜索地址", "Tell us where: use your position or search an address");
    return false;
  }
  problem();
  return true;
}

async function offerNearby() {
  if (!navigator.onLine) return false;
  try {
    const q = new URLSearchParams({ kind: state.kind, lon: state.lon, lat: state.lat });
    const r = await fetch(`/report/api/nearby?${q}`);
    if (!r.ok) return false;
    const cases = (await r.json()).cases || [];
    if (!cases.length) return false;
    const list = $("dupe-list");
    list.replaceChildren();
    for (const c of cases) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "follow";
      pair(
        b,
        `关注这一件：${c.name_zh}，${Math.round(c.distance_m)} 米外，${c.status_zh}（${when(c.reported_at)}）`,
        `Follow this one: ${c.name_en}, ${Math.round(c.distance_m)} m away, ${c.status_en}`,
      );
      b.addEventListener("click", () => followInstead(c.case_no));
      li.append(b);
      list.append(li);
    }
    $("dupes").hidden = false;
    $("send").hidden = true;
    return true;
  } catch {
    return false;
  }
}

function contact() {
  const anonymous = $("anonymous").checked;
  return {
    anonymous,
    name: anonymous ? null : $("name").value.trim() || null,
    phone: anonymous ? null : $("phone").value.trim() || null,
  };
}

async function followInstead(caseNo) {
  const c = contact();
  const item = {
    client_id: randomId(12),
    url: `/report/api/cases/${encodeURIComponent(caseNo)}/reporters`,
    body: { token: randomId(32), name: c.name, phone: c.phone },
    meta: { what: "follow", case_no: caseNo, kind: state.kind },
  };
  item.body.client_id = item.client_id;
  await keep(item);
  await sendNow();
}

async function send(force) {
  if (!ready()) return;
  if (!force && (await offerNearby())) return;
  const c = contact();
  const clientId = randomId(12);
  const body = {
    client_id: clientId,
    token: randomId(32),
    kind: state.kind,
    lon: state.lon,
    lat: state.lat,
    description: $("description").value.trim() || null,
    photos: state.photos.map((p) => ({ name: p.name, data: p.data })),
    ...c,
  };
  await keep({ client_id: clientId, url: "/report/api/reports", body, meta: { what: "report", kind: state.kind } });
  await sendNow();
}

async function sendNow() {
  $("dupes").hidden = true;
  $("send").hidden = false;
  await flush(headers(), done);
  const left = await pending();
  if (left.some((i) => !i.error)) {
    pair($("problem"), "已保存在手机里，联网后会自动发送", "Kept on this phone: it will be sent when the network returns");
  }
  renderMine();
}

function done(item, answer, error) {
  if (!answer) {
    problem(`没有提交成功：${error}`, `Not sent: ${error}`);
    renderMine();
    return;
  }
  const entry = { case_no: answer.case_no, token: item.body.token, kind: item.meta?.kind, relation: answer.relation, at: new Date().toISOString() };
  rememberCase(entry);
  $("done").hidden = false;
  const link = `/report/case.html#no=${encodeURIComponent(entry.case_no)}&t=${entry.token}`;
  $("done-link").href = link;
  pair(
    $("done-text"),
    `案件编号 ${entry.case_no}。请保存下面的私人链接，凭它查看进度和评价。`,
    `Case number ${entry.case_no}. Keep the private link below: it shows the progress and lets you rate.`,
  );
  problem();
  renderMine();
  $("done").scrollIntoView();
}

async function renderMine() {
  const list = $("mine");
  list.replaceChildren();
  for (const c of myCases()) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `/report/case.html#no=${encodeURIComponent(c.case_no)}&t=${c.token}`;
    const k = state.kinds.find((x) => x.code === c.kind);
    pair(a, `${c.case_no} ${k ? k.name_zh : ""}`, k ? k.name_en : "");
    li.append(a);
    list.append(li);
  }
  const waiting = $("waiting");
  waiting.replaceChildren();
  for (const item of await pending()) {
    const li = item.error
      ? make("li", `未能提交：${item.error}`, `Not sent: ${item.error}`)
      : make("li", "等待联网后发送", "Waiting for the network");
    li.className = "waiting";
    waiting.append(li);
  }
}

function reset() {
  Object.assign(state, { kind: null, lon: null, lat: null, place: null, photos: [] });
  $("description").value = "";
  $("photo").value = "";
  $("photo-note").replaceChildren();
  $("done").hidden = true;
  renderKinds();
  showWhere();
  window.scrollTo(0, 0);
}

function rerender() {
  applyLang();
  renderKinds();
  showWhere();
  showNet();
  renderMine();
}

setUp(rerender);
$("use-position").addEventListener("click", usePosition);
$("place-go").addEventListener("click", searchPlaces);
$("place-q").addEventListener("keydown", (e) => {
  if (e.key === "Enter") searchPlaces();
});
$("photo").addEventListener("change", addPhoto);
$("anonymous").addEventListener("change", () => {
  $("contact").hidden = $("anonymous").checked;
});
$("send").addEventListener("click", () => send(false));
$("send-anyway").addEventListener("click", () => send(true));
$("again").addEventListener("click", reset);
window.addEventListener("online", showNet);
window.addEventListener("offline", showNet);
showNet();
loadKinds().then(renderMine);
keepFlushing(headers(), done);
