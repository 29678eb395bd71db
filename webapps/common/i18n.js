// Chinese first, English beside it: every label of GridGov's web apps is a pair.
// An app gives its own dictionary {key: [zh, en]}; placeholders look like {name}.
import { h } from "./dom.js";

/** Make the text helpers of one app from its dictionary. */
export function makeI18n(dict) {
  const pair = (key, vars = {}) => {
    const entry = dict[key];
    if (!entry) return [key, key];
    return entry.map((s) => s.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? "")));
  };
  return {
    /** [zh, en] of ``key``. */
    pair,
    /** "中文 English" as one string (for attributes: aria-label, placeholder, title). */
    str: (key, vars) => pair(key, vars).join(" "),
    /** A <span> with the Chinese and, beside it, the English in a smaller span. */
    label: (key, vars) => bilingual(...pair(key, vars)),
    /** Add more labels (an app may load the labels of later screens later). */
    extend: (more) => Object.assign(dict, more),
  };
}

/** A <span class="bi"> holding Chinese text first and the English beside it. */
export function bilingual(zh, en) {
  return h(
    "span",
    { class: "bi" },
    h("span", { lang: "zh-CN", class: "zh" }, zh),
    en ? h("span", { lang: "en", class: "en" }, en) : null,
  );
}
