// Watch an area for kinds (a circle around my position), by SMS or e-mail: the notify
// route POST /report/api/watches (docs/alerts.md). Sensitive kinds are not offered (the
// server refuses them for watches too). Text is set with textContent only.
import { applyLang, pair } from "./i18n.js";
import { deviceId, randomId, setUp } from "./prefs.js";

const $ = (id) => document.getElementById(id);
let where = null;

async function loadKinds() {
  let kinds = [];
  try {
    kinds = (await (await fetch("/report/api/kinds")).json()).kinds;
  } catch {
    kinds = JSON.parse(localStorage.getItem("gridgov.report.kinds") || "[]");
  }
  const box = $("w-kinds");
  box.replaceChildren();
  for (const k of kinds.filter((kind) => !kind.sensitive)) {
    const row = document.createElement("div");
    row.className = "check";
    const box2 = document.createElement("input");
    box2.type = "checkbox";
    box2.id = `wk-${k.code}`;
    box2.value = k.code;
    const label = document.createElement("label");
    label.dataset.zh = `${k.icon} ${k.name_zh}`; // filled as text by applyLang
    label.dataset.en = k.name_en;
    label.htmlFor = box2.id;
    row.append(box2, label);
    box.append(row);
  }
  applyLang();
}

function locate() {
  if (!navigator.geolocation) {
    pair($("w-where"), "这部手机不能定位", "This phone cannot give its position");
    return;
  }
  pair($("w-where"), "正在定位…", "Finding your position…");
  navigator.geolocation.getCurrentPosition(
    (p) => {
      where = { lon: p.coords.longitude, lat: p.coords.latitude };
      pair($("w-where"), "已定位", "Position found");
    },
    () => pair($("w-where"), "没有定到位置：请允许定位后再试", "No position: allow location and try again"),
    { enableHighAccuracy: true, timeout: 20000 },
  );
}

async function send() {
  const contact = $("w-contact").value.trim();
  if (!where) return pair($("w-note"), "请先点“使用我的位置”", "First tap “Use my position”");
  if (!contact) return pair($("w-note"), "请填手机号或电子邮箱", "Give a mobile number or an e-mail address");
  const kinds = [...document.querySelectorAll("#w-kinds input:checked")].map((b) => b.value);
  const body = { ...where, radius_m: Number($("w-radius").value), kinds, client_id: randomId(12) };
  body[contact.includes("@") ? "email" : "phone"] = contact;
  let r;
  try {
    r = await fetch("/report/api/watches", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Device-Id": deviceId() },
      body: JSON.stringify(body),
    });
  } catch {
    return pair($("w-note"), "没有网络：请联网后再点一次", "No network: tap again when you are online");
  }
  if (r.ok) return pair($("w-note"), "好的：附近有新情况会通知您", "Done: we will tell you what happens nearby");
  if (r.status === 429) return pair($("w-note"), "请求太多，请稍后再试", "Too many requests: try again later");
  let why = "";
  try {
    const errors = await r.json();
    why = (Array.isArray(errors) ? errors[0]?.description : errors?.detail) || "";
  } catch {
    why = "";
  }
  pair($("w-note"), `没有成功：${why || "请检查号码或邮箱"}`, `Not done: ${why || "check the number or address"}`);
}

setUp(() => applyLang());
$("w-position").addEventListener("click", locate);
$("w-send").addEventListener("click", send);
applyLang();
loadKinds();
