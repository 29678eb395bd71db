// The field app's boot: device sign-in, the PIN that unlocks the device token, the API
// client. Everything else (map, tasks, report, outbox) is loaded after the first screen.
/* global idb */
import { h, clear, $ } from "/webapps/common/dom.js";
import { makeI18n, bilingual } from "/webapps/common/i18n.js";
import { BOOT_STRINGS } from "./strings_boot.js";

/** The app's text; app.js adds the labels past the first screens (strings.js). */
export const T = makeI18n({ ...BOOT_STRINGS });
const API = "/field/api";
const PIN_TRIES = 5;
const PBKDF2_ROUNDS = 200_000;

/** The signed-in session: the token lives in memory only (on disk it is PIN-wrapped). */
export const session = { token: null, me: null, deviceId: null, username: null };
const revokedHandlers = new Set();

/** An error answer of the API, with the server's stable code and both languages. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || `http_${status}`;
    this.zh = body.message_zh || "";
  }
}

/** Call the field API with the device token; JSON in, JSON out. */
export async function api(path, { method = "GET", body, query, token = session.token } = {}) {
  const url = new URL(API + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null) url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (r.status === 401 && token) revokedHandlers.forEach((fn) => fn());
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

/** Call ``fn`` when the server says the device token is no longer valid. */
export function onRevoked(fn) {
  revokedHandlers.add(fn);
}

// -- the device record: token wrapped by a key derived from the PIN (PBKDF2 → AES-GCM) --------
let deviceDb = null;
async function deviceStore() {
  deviceDb ??= await idb.openDB("gridgov-field-device", 1, {
    upgrade: (d) => d.createObjectStore("kv"),
  });
  return deviceDb;
}
export async function loadDevice() {
  return (await deviceStore()).get("kv", "device");
}
async function saveDevice(device) {
  await (await deviceStore()).put("kv", device, "device");
}

async function pinKey(pin, salt) {
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(pin), "PBKDF2", false, [
    "deriveKey",
  ]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", salt, iterations: PBKDF2_ROUNDS, hash: "SHA-256" },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

async function wrapToken(token, pin) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await pinKey(pin, salt);
  const wrapped = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new TextEncoder().encode(token));
  return { salt, iv, wrapped };
}

async function unwrapToken(device, pin) {
  const key = await pinKey(pin, device.salt);
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: device.iv }, key, device.wrapped);
  return new TextDecoder().decode(plain);
}

/** Forget the token (revoked, or too many wrong PINs); the user name stays for the outbox. */
export async function dropToken() {
  const device = await loadDevice();
  if (device) await saveDevice({ ...device, wrapped: null, salt: null, iv: null });
  session.token = null;
}

// -- screens ---------------------------------------------------------------------------------
const screen = () => $("#screen");

function field(key, input) {
  return h("label", { class: "field" }, T.label(key), input);
}

function message(el, key, vars) {
  clear(el, key ? T.label(key, vars) : "");
}

function serverMessage(el, err) {
  if (err instanceof ApiError) clear(el, err.zh ? bilingual(err.zh, err.message) : err.message);
  else message(el, "net_error");
}

function title(key) {
  return h("h1", { class: "screen-title" }, T.label(key));
}

/** The sign-in form; ``note`` is a message key shown above it (revoked, PIN wiped …). */
export function showSignIn({ note, vars, username } = {}) {
  const user = h("input", { name: "username", autocomplete: "username", required: true, value: username || "" });
  const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const label = h("input", { name: "device_label", value: deviceLabel(), maxlength: "100", required: true });
  const out = h("p", { class: "form-error", role: "alert" });
  const form = h(
    "form",
    { class: "card", id: "signin-form" },
    title("signin_title"),
    h("p", { class: "hint" }, T.label("signin_hint")),
    note ? h("p", { class: "notice", role: "alert" }, T.label(note, vars)) : null,
    field("username", user),
    field("password", pass),
    field("device_label", label),
    out,
    h("button", { class: "big primary", type: "submit" }, T.label("signin")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!navigator.onLine) return message(out, "signin_offline");
    try {
      const made = await api("/devices", {
        method: "POST",
        token: null,
        body: { username: user.value.trim(), password: pass.value, device_label: label.value.trim() },
      });
      showSetPin(made);
    } catch (err) {
      serverMessage(out, err);
    }
  });
  clear(screen(), form);
  document.body.dataset.screen = "signin";
}

function pinInput(name) {
  return h("input", {
    name,
    type: "password",
    inputmode: "numeric",
    autocomplete: "off",
    pattern: "[0-9]{4,8}",
    maxlength: "8",
    required: true,
    class: "pin",
  });
}

function showSetPin(made) {
  const pin = pinInput("pin");
  const again = pinInput("pin_again");
  const out = h("p", { class: "form-error", role: "alert" });
  const form = h(
    "form",
    { class: "card", id: "pin-form" },
    title("set_pin_title"),
    h("p", { class: "hint" }, T.label("set_pin_hint")),
    field("pin", pin),
    field("pin_again", again),
    out,
    h("button", { class: "big primary", type: "submit" }, T.label("save_pin")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!/^[0-9]{4,8}$/.test(pin.value)) return message(out, "pin_bad");
    if (pin.value !== again.value) return message(out, "pin_mismatch");
    const wrapped = await wrapToken(made.token, pin.value);
    await saveDevice({
      device_id: made.device_id,
      username: made.me.username,
      me: made.me,
      ...wrapped,
      tries_left: PIN_TRIES,
    });
    await enter(made.token, made.me, made.device_id);
  });
  clear(screen(), form);
  document.body.dataset.screen = "setpin";
  pin.focus();
}

function showUnlock(device) {
  const pin = pinInput("pin");
  const out = h("p", { class: "form-error", role: "alert" });
  const other = h("button", { class: "link", type: "button" }, T.label("other_user"));
  other.addEventListener("click", () => showSignIn());
  const form = h(
    "form",
    { class: "card", id: "unlock-form" },
    title("unlock_title"),
    h("p", { class: "who" }, device.me?.display_name || device.username),
    field("pin", pin),
    out,
    h("button", { class: "big primary", type: "submit" }, T.label("unlock")),
    other,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let token;
    try {
      token = await unwrapToken(device, pin.value);
    } catch {
      const left = (device.tries_left ?? PIN_TRIES) - 1;
      if (left <= 0) {
        await dropToken();
        return showSignIn({ note: "pin_wiped", username: device.username });
      }
      device.tries_left = left;
      await saveDevice(device);
      pin.value = "";
      return message(out, "pin_wrong", { n: left });
    }
    if (device.tries_left !== PIN_TRIES) await saveDevice({ ...device, tries_left: PIN_TRIES });
    await enter(token, device.me, device.device_id);
  });
  clear(screen(), form);
  document.body.dataset.screen = "unlock";
  pin.focus();
}

async function enter(token, me, deviceId) {
  Object.assign(session, { token, me, deviceId, username: me.username });
  const app = await import("./app.js");
  await app.start();
}

function deviceLabel() {
  const ua = navigator.userAgent;
  const m = ua.match(/\(([^;)]+)[;)]/);
  return `手机 Phone ${m ? m[1] : ""}`.trim().slice(0, 100);
}

async function boot() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/field/sw.js", { scope: "/field/" }).catch(() => {});
  }
  const device = await loadDevice().catch(() => null);
  if (device && device.wrapped) showUnlock(device);
  else showSignIn({ username: device?.username });
  document.body.dataset.ready = "1";
  performance.mark("field-ready");
}

boot();
