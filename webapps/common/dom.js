// Small DOM helpers for GridGov's web apps. User text is only ever set as textContent:
// nothing here parses HTML (no innerHTML anywhere), so a description cannot run as code.

/** Create an element: h("button", {class: "big", onclick: f, dataset: {id: 1}}, "text", child). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append children: strings become text nodes, arrays are flattened, null is skipped. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Remove every child of ``el`` (and optionally put new ones in). */
export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** The first element matching ``selector`` (under ``root``); throws when there is none. */
export function $(selector, root = document) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`no element ${selector}`);
  return el;
}

/** Show or hide an element (the ``hidden`` attribute; the style sheet honours it). */
export function show(el, visible = true) {
  el.hidden = !visible;
  return el;
}

/** A short-lived message at the bottom of the screen (role=status, read by screen readers). */
export function toast(node, { ms = 4000, kind = "info" } = {}) {
  let box = document.getElementById("toasts");
  if (!box) {
    box = h("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const item = h("div", { class: `toast toast-${kind}` }, node);
  box.append(item);
  setTimeout(() => item.remove(), ms);
  return item;
}

/** Format a Date (or ISO string) as local "MM-DD HH:MM". */
export function shortTime(value) {
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
