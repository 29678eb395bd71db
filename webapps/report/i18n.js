// Chinese first, English beside: a small generic text module (the lead may unify it with
// webapps/common later). Text is always set with textContent, never as HTML.

const KEY = "gridgov.report.lang";

export function lang() {
  return localStorage.getItem(KEY) === "en" ? "en" : "zh";
}

export function setLang(value) {
  localStorage.setItem(KEY, value === "en" ? "en" : "zh");
  applyLang();
}

/** Fill `el` with the pair [zh, en]: the chosen language first, the other beside it. */
export function pair(el, zh, en) {
  el.replaceChildren();
  const first = document.createElement("span");
  const second = document.createElement("span");
  const [a, b, la, lb] = lang() === "en" ? [en, zh, "en", "zh-CN"] : [zh, en, "zh-CN", "en"];
  first.textContent = a;
  first.lang = la;
  second.textContent = b;
  second.lang = lb;
  second.className = "second";
  el.append(first, " ", second);
  return el;
}

/** A new element `tag` holding the pair. */
export function make(tag, zh, en, className) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  return pair(el, zh, en);
}

/** Fill every [data-zh][data-en] element of the page with its pair. */
export function applyLang(root = document) {
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  for (const el of root.querySelectorAll("[data-zh]")) pair(el, el.dataset.zh, el.dataset.en);
  for (const el of root.querySelectorAll("[data-ph-zh]")) {
    el.placeholder =
      lang() === "en"
        ? `${el.dataset.phEn} / ${el.dataset.phZh}`
        : `${el.dataset.phZh} / ${el.dataset.phEn}`;
  }
  for (const el of root.querySelectorAll("[data-label-zh]")) {
    el.setAttribute(
      "aria-label",
      lang() === "en"
        ? `${el.dataset.labelEn} / ${el.dataset.labelZh}`
        : `${el.dataset.labelZh} / ${el.dataset.labelEn}`,
    );
  }
}

/** A time in the resident's own words: the local date and time. */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(lang() === "en" ? "en-GB" : "zh-CN", {
    year: "numeric", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}
