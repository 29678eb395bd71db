// Position, track recording and the screen wake lock.
//
// While the app is open it watches the position (watchPosition) and keeps fixes of the
// worker's walk in the outbox: one when the worker moved MIN_MOVE_M or MIN_GAP_MS passed.
// A web page cannot record in the background: for that the worker runs Traccar Client,
// which sends to GridGov's /osmand endpoint (see docs/field_app.md).

export const MIN_GAP_MS = 10_000;
export const MIN_MOVE_M = 5;
const EARTH_M = 6_371_008.8;

/** Great-circle distance in metres between two {lon, lat}. */
export function distanceM(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const s =
    Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_M * Math.asin(Math.min(1, Math.sqrt(s)));
}

/** The current position ({lon, lat, accuracy, at}) and who wants to hear about changes. */
export const here = { pos: null, error: null, listeners: new Set() };

let watchId = null;
let lastFix = null;
let wakeLock = null;
let battery = null;

/** Start watching the position; ``record(fix)`` is called for each fix worth keeping. */
export function startWatch(record) {
  if (watchId !== null || !("geolocation" in navigator)) return;
  navigator.getBattery?.().then((b) => (battery = b)).catch(() => {});
  watchId = navigator.geolocation.watchPosition(
    (p) => {
      const pos = {
        lon: p.coords.longitude,
        lat: p.coords.latitude,
        accuracy: p.coords.accuracy,
        at: p.timestamp || Date.now(),
      };
      here.pos = pos;
      here.error = null;
      if (record && worthKeeping(pos)) {
        lastFix = pos;
        record(fixOf(p));
      }
      here.listeners.forEach((fn) => fn(pos));
    },
    (err) => {
      here.error = err.message || String(err.code);
      here.listeners.forEach((fn) => fn(null));
    },
    { enableHighAccuracy: true, maximumAge: 0, timeout: 60_000 },
  );
  keepScreenOn();
}

export function stopWatch() {
  if (watchId !== null) navigator.geolocation.clearWatch(watchId);
  watchId = null;
  wakeLock?.release().catch(() => {});
  wakeLock = null;
}

function worthKeeping(pos) {
  if (!lastFix) return true;
  return pos.at - lastFix.at >= MIN_GAP_MS || distanceM(lastFix, pos) >= MIN_MOVE_M;
}

function fixOf(p) {
  const c = p.coords;
  const fix = {
    t: new Date(p.timestamp || Date.now()).toISOString(),
    lon: c.longitude,
    lat: c.latitude,
    accuracy: c.accuracy,
  };
  if (Number.isFinite(c.speed)) fix.speed = c.speed;
  if (Number.isFinite(c.heading)) fix.bearing = c.heading;
  if (Number.isFinite(c.altitude)) fix.altitude = c.altitude;
  if (battery) fix.batt = Math.round(battery.level * 100);
  return fix;
}

/** Keep the screen on while recording (the Screen Wake Lock API, where the phone has it). */
async function keepScreenOn() {
  if (!("wakeLock" in navigator)) return;
  try {
    wakeLock = await navigator.wakeLock.request("screen");
  } catch {
    wakeLock = null; // refused (battery saver, not visible): the track records while it can
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && watchId !== null && !wakeLock) keepScreenOn();
});

/** Whether the screen wake lock is held. */
export const screenKeptOn = () => Boolean(wakeLock && !wakeLock.released);
