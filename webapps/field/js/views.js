// Two small views: today's patrol plan with progress, and the outbox with every action's fate.
import { h, clear, shortTime } from "/webapps/common/dom.js";
import { bilingual } from "/webapps/common/i18n.js";
import { T } from "./main.js";
import { state, syncNow, reasonOf, openTab } from "./app.js";

export async function render(box, name) {
  if (name === "plan") return renderPlan(box);
  return renderOutbox(box);
}

function renderPlan(box) {
  const plan = state.data.plan;
  if (!plan || !plan.stops?.length) return clear(box, h("p", { class: "empty" }, T.label("plan_empty")));
  const done = plan.stops.filter((s) => s.done).length;
  const bar = h("progress", { max: String(plan.stops.length), value: String(done), "aria-label": T.str("plan_progress", { done, total: plan.stops.length }) });
  const list = h(
    "ol",
    { class: "stops", id: "plan-stops" },
    plan.stops.map((s) =>
      h("li", { class: s.done ? "stop done" : "stop", dataset: { seq: s.seq } }, bilingual(s.label_zh, s.label_en), h("span", { class: "badge" }, T.label(s.done ? "stop_done" : "stop_todo"))),
    ),
  );
  const toMap = h("button", { type: "button", class: "big" }, T.label("tab_map"));
  toMap.addEventListener("click", () => openTab("map"));
  clear(box, h("h2", {}, T.label("tab_plan"), " ", plan.day), h("p", {}, T.label("plan_progress", { done, total: plan.stops.length })), bar, list, toMap);
}

async function renderOutbox(box) {
  const items = await state.outbox.list();
  const sync = h("button", { type: "button", class: "big primary", id: "outbox-sync" }, T.label("sync_now"));
  sync.addEventListener("click", async () => {
    await syncNow();
    if (box.isConnected) renderOutbox(box);
  });
  const list = h("ul", { class: "outbox", id: "outbox-list" });
  for (const a of items) {
    const result = a.result || {};
    const li = h(
      "li",
      { class: `item item-${a.state}`, dataset: { state: a.state, kind: a.kind, clientId: a.client_id } },
      h("div", { class: "task-head" }, h("span", { class: `badge state-${a.state}` }, T.label(`state_${a.state}`)), h("strong", {}, T.label(`kind_${a.kind}`)), h("span", { class: "time" }, shortTime(a.at))),
      h("p", {}, a.label),
      a.state === "done" && result.case_no ? h("p", { class: "case-no" }, result.case_no, " · ", result.status ? T.label(`status_${result.status}`) : "") : null,
      a.state === "refused" ? h("p", { class: "reason" }, reasonOf(result)) : null,
    );
    if (a.state !== "pending") {
      const b = h("button", { type: "button", class: "small" }, T.label("dismiss"));
      b.addEventListener("click", async () => {
        await state.outbox.dismiss(a.client_id);
        li.remove();
      });
      li.append(b);
    }
    list.append(li);
  }
  clear(box, h("h2", {}, T.label("outbox_title")), sync, items.length ? list : h("p", { class: "empty" }, T.label("outbox_empty")));
}
