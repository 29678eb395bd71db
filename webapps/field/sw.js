// The field app's service worker: keeps the app shell and its libraries so that the app
// opens with no network after the first visit. Pages and assets: answered from the cache at
// once and refreshed in the background (stale-while-revalidate). The API (/field/api/…) is
// never cached here: the app keeps its data and its outbox in IndexedDB.
const CACHE = "gridgov-field-v1";
const SHELL = [
  "/field/",
  "/field/manifest.webmanifest",
  "/field/icons/icon.svg",
  "/field/icons/icon-192.png",
  "/field/css/field.css",
  "/field/js/main.js",
  "/field/js/strings_boot.js",
  "/field/js/strings.js",
  "/field/js/app.js",
  "/field/js/geo.js",
  "/field/js/mapview.js",
  "/field/js/photos.js",
  "/field/js/report.js",
  "/field/js/tasks.js",
  "/field/js/views.js",
  "/webapps/common/dom.js",
  "/webapps/common/i18n.js",
  "/webapps/common/outbox.js",
  "/vendor/idb/idb.umd.js",
  "/vendor/leaflet/leaflet.js",
  "/vendor/leaflet/leaflet.css",
  "/vendor/image-compression/browser-image-compression.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "no-cache" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("gridgov-field-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== location.origin) return;
  if (url.pathname.startsWith("/field/api/") || url.pathname.startsWith("/osmand")) return;
  if (req.mode === "navigate" && url.pathname.startsWith("/field")) {
    event.respondWith(fromCache(new Request("/field/"), event));
    return;
  }
  if (url.pathname.startsWith("/field/") || url.pathname.startsWith("/webapps/common/") || url.pathname.startsWith("/vendor/")) {
    event.respondWith(fromCache(req, event));
  }
});

async function fromCache(req, event) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(req, { ignoreSearch: true });
  const refresh = fetch(req.url, { cache: "no-cache" })
    .then((res) => {
      if (res.ok) cache.put(req, res.clone());
      return res;
    })
    .catch(() => null);
  if (hit) {
    event.waitUntil(refresh);
    return hit;
  }
  const res = await refresh;
  return res || new Response("离线且未缓存 · offline and not cached", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
}
