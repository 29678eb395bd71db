// The public figures per department and per community, each with its sample size; a
// figure of too few cases is not shown.
import { applyLang, make, pair, when } from "./i18n.js";
import { setUp } from "./prefs.js";

const $ = (id) => document.getElementById(id);
let data = null;

const COLUMNS = [
  ["on_time_closure", "按时办结率", "Closed on time", "rate"],
  ["median_hours_to_fix", "修好用时（中位数）", "Median time to fix", "hours"],
  ["satisfaction", "满意率", "Satisfied", "rate"],
  ["reopen_rate", "返工重办率", "Reopened", "rate"],
];

function cell(figure, type) {
  const td = document.createElement("td");
  if (figure.hidden) {
    td.className = "na";
    pair(td, `样本不足（${figure.n} 件）`, `Too few cases (${figure.n})`);
    return td;
  }
  if (figure.value === null) {
    pair(td, `—（${figure.n} 件）`, `— (${figure.n})`);
    return td;
  }
  const v = type === "rate" ? `${(figure.value * 100).toFixed(1)}%` : `${figure.value.toFixed(1)}`;
  if (type === "rate") pair(td, `${v}（${figure.n} 件）`, `${v} of ${figure.n}`);
  else pair(td, `${v} 小时（${figure.n} 件）`, `${v} hours (${figure.n})`);
  td.dataset.value = String(figure.value);
  td.dataset.n = String(figure.n);
  return td;
}

function table(units, zh, en, id) {
  const t = document.createElement("table");
  t.id = id;
  const cap = make("caption", zh, en);
  const head = document.createElement("tr");
  head.append(make("th", "名称", "Name"));
  for (const [, czh, cen] of COLUMNS) head.append(make("th", czh, cen));
  for (const th of head.children) th.scope = "col";
  const thead = document.createElement("thead");
  thead.append(head);
  const body = document.createElement("tbody");
  for (const u of units) {
    const tr = document.createElement("tr");
    tr.dataset.code = u.code;
    const name = make("th", u.name_zh, u.name_en);
    name.scope = "row";
    tr.append(name);
    for (const [key, , , type] of COLUMNS) {
      const td = cell(u[key], type);
      td.dataset.figure = key;
      tr.append(td);
    }
    body.append(tr);
  }
  t.append(cap, thead, body);
  return t;
}

function render() {
  applyLang();
  if (!data) return;
  pair(
    $("about"),
    `统计最近一年上报的案件（${when(data.window_start)} 至 ${when(data.window_end)}）；少于 ${data.min_sample} 件的不显示。`,
    `Cases reported in the last year (${when(data.window_start)} to ${when(data.window_end)}); figures of fewer than ${data.min_sample} cases are not shown.`,
  );
  $("tables").replaceChildren(
    table(data.departments, "按部门", "By department", "departments"),
    table(data.communities, "按社区", "By community", "communities"),
  );
}

setUp(render);
fetch("/report/api/stats")
  .then((r) => r.json())
  .then((d) => {
    data = d;
    render();
  })
  .catch(() => pair($("problem"), "需要联网才能看统计", "The figures need the network"));
