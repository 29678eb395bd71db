// A case through its private link (#no=…&t=…, never sent in a URL to the server): the
// plain-words timeline, the expected time, the after-photo; rate or say "not fixed".
import { compressPhoto } from "./photo.js";
import { applyLang, make, pair, when } from "./i18n.js";
import { flush, keep, keepFlushing } from "./outbox.js";
import { deviceId, randomId, setUp } from "./prefs.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.hash.slice(1));
const caseNo = params.get("no");
const token = params.get("t");
const headers = () => ({ "X-Device-Id": deviceId() });
let view = null;
let nfPhoto = null;
const photoUrls = new Map();

function problem(zh, en) {
  if (zh) pair($("problem"), zh, en);
  else $("problem").replaceChildren();
}

function showNet() {
  if (navigator.onLine) $("net").replaceChildren();
  else pair($("net"), "没有网络：显示的是上次的进度", "Offline: showing the progress as last seen");
}

async function load() {
  if (!caseNo || !token) {
    problem("链接不完整：请用提交后得到的私人链接打开", "The link is incomplete: open the private link you got when you sent it");
    return;
  }
  const key = `gridgov.report.view.${caseNo}`;
  try {
    const r = await fetch(`/report/api/cases/${encodeURIComponent(caseNo)}`, { headers: { "X-Case-Token": token } });
    if (r.status === 403 || r.status === 404) {
      problem("这个链接不对，看不到这件事", "This link is not right: the case cannot be shown");
      return;
    }
    view = await r.json();
    localStorage.setItem(key, JSON.stringify(view));
  } catch {
    view = JSON.parse(localStorage.getItem(key) || "null");
  }
  if (view) render();
}

async function photo(sha) {
  if (photoUrls.has(sha)) return photoUrls.get(sha);
  const r = await fetch(`/report/api/cases/${encodeURIComponent(caseNo)}/photos/${sha}`, { headers: { "X-Case-Token": token } });
  if (!r.ok) return null;
  const url = URL.createObjectURL(await r.blob());
  photoUrls.set(sha, url);
  return url;
}

function render() {
  $("case").hidden = false;
  pair($("h-case"), `案件 ${view.case_no}${view.kind ? "：" + view.kind.name_zh : ""}`, `Case ${view.case_no}${view.kind ? ": " + view.kind.name_en : ""}`);
  pair($("status"), `现在：${view.status_zh}`, `Now: ${view.status_en}`);
  if (view.expected_by && !view.summary.done) {
    pair($("expected"), `预计 ${when(view.expected_by)} 前办好`, `Expected by ${when(view.expected_by)}`);
  } else $("expected").replaceChildren();
  const dept = [view.department_zh || "责任部门", view.department_en || view.department_zh || "the department"];
  const steps = [
    ["received", "已收到", "Received"],
    ["assigned", `已交给${dept[0]}`, `Assigned to ${dept[1]}`],
    ["handling", "正在处理", "Being handled"],
    ["done", "已办好", "Done"],
  ];
  const list = $("steps");
  list.replaceChildren();
  for (const [key, zh, en] of steps) {
    const on = view.summary[key];
    const li = make("li", `${on ? "✓" : "○"} ${zh}`, `${en}${on ? "" : " (not yet)"}`);
    li.className = on ? "done" : "";
    li.dataset.step = key;
    list.append(li);
  }
  const tl = $("timeline");
  tl.replaceChildren();
  for (const s of view.timeline) {
    const li = document.createElement("li");
    li.dataset.action = s.action;
    const t = document.createElement("time");
    t.dateTime = s.at;
    t.textContent = when(s.at);
    li.append(t, make("span", s.zh, s.en));
    if (s.reason) {
      const p = document.createElement("p");
      p.textContent = s.reason; // masked by the server, shown as text only
      li.append(p);
    }
    for (const sha of s.photos) {
      const img = document.createElement("img");
      img.alt = s.action === "handle" ? "处理后的照片 / Photo after the fix" : "照片 / Photo";
      img.width = 320;
      photo(sha).then((url) => {
        if (url) img.src = url;
      });
      li.append(img);
    }
    tl.append(li);
  }
  $("follow").hidden = Boolean(view.summary.done);
  $("rate").hidden = !view.may_rate;
  $("notfixed").hidden = !view.may_say_not_fixed;
}

async function sendFeedback(body) {
  const clientId = randomId(12);
  await keep({
    client_id: clientId,
    url: `/report/api/cases/${encodeURIComponent(caseNo)}/feedback`,
    body: { client_id: clientId, token, ...body },
    meta: { what: "feedback", case_no: caseNo },
  });
  await flush(headers(), answered);
  if (!navigator.onLine) pair($("thanks"), "已保存，联网后发送", "Kept: it will be sent when the network returns");
}

function answered(item, answer, error) {
  if (!answer) {
    problem(`没有提交成功：${error}`, `Not sent: ${error}`);
    return;
  }
  if (answer.verdict === "not_fixed") pair($("thanks"), "已退回重新处理，谢谢您", "Sent back for rework: thank you");
  else pair($("thanks"), "谢谢您的评价", "Thank you for rating");
  load();
}

// Follow by mail or SMS: the notify routes (docs/alerts.md); the contact is only sent, never
// kept on the phone. A repeat answers "already", and a refusal names what is wrong.
async function follow() {
  const contact = $("f-contact").value.trim();
  if (!contact) {
    pair($("f-note"), "请填手机号或电子邮箱", "Give a mobile number or an e-mail address");
    return;
  }
  const body = { token, client_id: randomId(12) };
  body[contact.includes("@") ? "email" : "phone"] = contact;
  let r;
  try {
    r = await fetch(`/report/api/cases/${encodeURIComponent(caseNo)}/follow`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers() },
      body: JSON.stringify(body),
    });
  } catch {
    pair($("f-note"), "没有网络：请联网后再点一次", "No network: tap again when you are online");
    return;
  }
  if (r.ok) {
    const answer = await r.json();
    if (answer.created) pair($("f-note"), "好的：每有变化都会通知您", "Done: you will hear of every change");
    else pair($("f-note"), "您已经在关注这件事", "You already follow this case");
    return;
  }
  let why = "";
  try {
    const errors = await r.json();
    why = (Array.isArray(errors) ? errors[0]?.description : errors?.detail) || "";
  } catch {
    why = "";
  }
  if (r.status === 429) pair($("f-note"), "请求太多，请稍后再试", "Too many requests: try again later");
  else pair($("f-note"), `没有成功：${why || "请检查号码或邮箱"}`, `Not done: ${why || "check the number or address"}`);
}

setUp(() => {
  applyLang();
  showNet();
  if (view) render();
});
for (const b of document.querySelectorAll("[data-verdict]")) {
  b.addEventListener("click", () => sendFeedback({ verdict: b.dataset.verdict }));
}
$("f-send").addEventListener("click", follow);
$("nf-photo").addEventListener("change", async () => {
  const file = $("nf-photo").files[0];
  if (!file) return;
  try {
    nfPhoto = await compressPhoto(file);
    pair($("nf-note"), "照片已备好", "Photo ready");
  } catch {
    nfPhoto = null;
    pair($("nf-note"), "这张照片用不了，请换一张", "This photo cannot be used: choose another");
  }
});
$("nf-send").addEventListener("click", () => {
  const reason = $("nf-reason").value.trim();
  if (!reason) {
    problem("请说一说哪里还有问题", "Say what is still wrong");
    return;
  }
  problem();
  sendFeedback({ verdict: "not_fixed", reason, photo: nfPhoto ? { name: nfPhoto.name, data: nfPhoto.data } : null });
});
window.addEventListener("online", showNet);
window.addEventListener("offline", showNet);
showNet();
load();
keepFlushing(headers(), answered);
