// The residents' app's service worker: the shell is cached so the app opens with no
// network; the API (/report/api/) always goes to the network (the outbox keeps writes).
const CACHE = "gridgov-report-v2";
const SHELL = [
  "/report/",
  "/report/case.html",
  "/report/watch.html",
  "/report/watch.js",
  "/report/stats/",
  "/report/app.css",
  "/report/report.js",
  "/report/case.js",
  "/report/stats.js",
  "/report/i18n.js",
  "/report/prefs.js",
  "/report/outbox.js",
  "/report/photo.js",
  "/report/manifest.webmanifest",
  "/report/icons/icon-192.png",
  "/vendor/idb/idb.umd.js",
  "/vendor/image-compression/browser-image-compression.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin) return;
  if (url.pathname.startsWith("/report/api/")) return;
  // network first (fresh after an update), the cache when offline
  event.respondWith(
    fetch(event.request)
      .then((r) => {
        if (r.ok) {
          const copy = r.clone();
          caches.open(CACHE).then((c) => c.put(event.request, copy));
        }
        return r;
      })
      .catch(() => caches.match(event.request, { ignoreSearch: true })),
  );
});
