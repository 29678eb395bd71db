// An offline outbox in IndexedDB (/vendor/idb): a write is kept until the server has
// answered it, and sent again when the network returns. Each item carries the client id
// the server stores it once by, so sending twice is harmless. Generic: url + JSON body.
/* global idb */

const DB = "gridgov-report";
const STORE = "outbox";

function open() {
  return idb.openDB(DB, 1, {
    upgrade(db) {
      db.createObjectStore(STORE, { keyPath: "client_id" });
    },
  });
}

/** Keep a write: {client_id, url, body, meta}. */
export async function keep(item) {
  const db = await open();
  await db.put(STORE, { ...item, kept_at: new Date().toISOString(), error: null });
  db.close();
}

export async function pending() {
  const db = await open();
  const all = await db.getAll(STORE);
  db.close();
  return all;
}

async function drop(clientId) {
  const db = await open();
  await db.delete(STORE, clientId);
  db.close();
}

async function mark(item, error) {
  const db = await open();
  await db.put(STORE, { ...item, error });
  db.close();
}

let flushing = null;

/**
 * Send every kept write. `onDone(item, answer)` is called for each one the server took
 * (2xx); a refusal (4xx but 429) stays kept with its error for the page to show; network
 * failures and 429/5xx stay for the next try.
 */
export function flush(headers, onDone) {
  if (flushing) return flushing;
  flushing = (async () => {
    for (const item of await pending()) {
      if (!navigator.onLine) break;
      let response;
      try {
        response = await fetch(item.url, {
          method: "POST",
          headers: { "Content-Type": "application/json", ...headers },
          body: JSON.stringify(item.body),
        });
      } catch {
        break; // offline after all: try again later
      }
      const answer = await response.json().catch(() => ({}));
      if (response.ok) {
        await drop(item.client_id);
        onDone?.(item, answer);
      } else if (response.status >= 400 && response.status < 500 && response.status !== 429) {
        const message = Array.isArray(answer) ? answer[0]?.description : String(response.status);
        await mark(item, message || String(response.status));
        onDone?.(item, null, message);
      } else {
        break;
      }
    }
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}

/** Flush now, whenever the network comes back, and every `everyMs`. */
export function keepFlushing(headers, onDone, everyMs = 15000) {
  window.addEventListener("online", () => flush(headers, onDone));
  setInterval(() => flush(headers, onDone), everyMs);
  return flush(headers, onDone);
}
