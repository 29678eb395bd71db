// Language and large-text / high-contrast switches shared by every /report/ page.
import { applyLang, lang, setLang } from "./i18n.js";

const LARGE = "gridgov.report.large";

export function setUp(onChange) {
  if (localStorage.getItem(LARGE) === "1") document.documentElement.classList.add("large");
  applyLang();
  const langButton = document.getElementById("lang");
  const largeButton = document.getElementById("large");
  langButton?.addEventListener("click", () => {
    setLang(lang() === "en" ? "zh" : "en");
    onChange?.();
  });
  largeButton?.addEventListener("click", () => {
    const on = document.documentElement.classList.toggle("large");
    localStorage.setItem(LARGE, on ? "1" : "0");
    largeButton.setAttribute("aria-pressed", on ? "true" : "false");
  });
  largeButton?.setAttribute(
    "aria-pressed",
    document.documentElement.classList.contains("large") ? "true" : "false",
  );
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/report/sw.js", { scope: "/report/" }).catch(() => {});
  }
}

/** This phone's random device id (sent as X-Device-Id: the per-device rate limit). */
export function deviceId() {
  let id = localStorage.getItem("gridgov.report.device");
  if (!id) {
    id = randomId(16);
    localStorage.setItem("gridgov.report.device", id);
  }
  return id;
}

/** A random URL-safe id of `bytes` random bytes (client ids, private-link tokens). */
export function randomId(bytes) {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...raw)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The cases this phone reported or follows: [{case_no, token, kind, at}]. */
export function myCases() {
  try {
    return JSON.parse(localStorage.getItem("gridgov.report.cases") || "[]");
  } catch {
    return [];
  }
}

export function rememberCase(entry) {
  const list = myCases().filter((c) => c.case_no !== entry.case_no);
  list.unshift(entry);
  localStorage.setItem("gridgov.report.cases", JSON.stringify(list.slice(0, 50)));
}
