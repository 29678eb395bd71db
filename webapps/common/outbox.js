// The offline outbox of GridGov's web apps, on IndexedDB (the ``idb`` package, /vendor/idb).
//
// Every action the user takes is stored first, with a client-made id (a UUID), and sent when
// the network is there: in the order taken, photos uploaded before the actions that use them
// (PUT by photo id: the same id and bytes again is harmless), each action applied by the
// server exactly once (it answers a re-sent client id with the stored result). A refused action
// stays in the outbox with the server's reason until the user has seen it; nothing is dropped
// silently. A revoked token (401) keeps everything: it is sent after the next sign-in.
//
// Generic: the app passes its URLs, how to authenticate, and whose actions these are.

/* global idb */
const DB_VERSION = 1;

/** A new client id. */
export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((n) => n.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Milliseconds of a Retry-After header (seconds or an HTTP date); null when absent. */
export function retryAfterMs(header) {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.min(600_000, Math.max(0, seconds * 1000));
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.min(600_000, Math.max(0, at - Date.now()));
}

/** Why a whole send stopped (nothing is lost; the outbox tries again later). */
export class SendStopped extends Error {
  constructor(reason, status = 0) {
    super(reason);
    this.reason = reason; // "offline" | "auth" | "server" | "throttled" | "busy"
    this.status = status;
    this.retryAfterMs = null;
  }
}

/**
 * Open (or create) the outbox ``name``.
 *
 * options.urls: {sync, photo(id), fixes?}; options.auth(): headers to send, or null when
 * nobody is signed in; options.owner(): whose actions to send (a user name), or null.
 */
export async function openOutbox({ name, urls, auth, owner, batch = 200, fixBatch = 1000 }) {
  const db = await idb.openDB(name, DB_VERSION, {
    upgrade(d) {
      const actions = d.createObjectStore("actions", { keyPath: "seq", autoIncrement: true });
      actions.createIndex("client_id", "client_id", { unique: true });
      actions.createIndex("state", "state");
      d.createObjectStore("photos", { keyPath: "photo_id" });
      d.createObjectStore("fixes", { keyPath: "seq", autoIncrement: true });
      d.createObjectStore("kv");
    },
  });
  const listeners = new Set();
  let running = null;
  let status = "idle";
  let timer = null;
  let backoffMs = 0;

  const changed = () => listeners.forEach((fn) => fn(status));
  const setStatus = (s) => {
    status = s;
    changed();
  };

  async function addPhoto(blob) {
    const photo_id = newId();
    await db.put("photos", {
      photo_id,
      blob,
      type: blob.type,
      bytes: blob.size,
      owner: owner(),
      uploaded: false,
      created: new Date().toISOString(),
    });
    return photo_id;
  }

  /** Forget a photo that no action uses (the user removed it before saving). */
  async function dropPhoto(photo_id) {
    await db.delete("photos", photo_id);
  }

  async function photoBlob(photo_id) {
    const p = await db.get("photos", photo_id);
    return p ? p.blob : null;
  }

  /** Store one action; returns its client id. ``label`` is what the outbox list shows. */
  async function enqueue({ kind, case_id, expected_version, payload, label }) {
    const client_id = newId();
    const photo_ids = photoIdsOf(payload);
    await db.add("actions", {
      client_id,
      kind,
      at: new Date().toISOString(),
      case_id: case_id ?? null,
      expected_version: expected_version ?? null,
      payload,
      photo_ids,
      label: label ?? kind,
      owner: owner(),
      state: "pending",
      result: null,
    });
    changed();
    schedule(0);
    return client_id;
  }

  async function addFixes(fixes) {
    if (!fixes.length) return;
    const tx = db.transaction("fixes", "readwrite");
    const who = owner();
    for (const fix of fixes) tx.store.add({ ...fix, owner: who });
    await tx.done;
    changed();
  }

  async function list() {
    return (await db.getAll("actions")).reverse();
  }

  async function counts() {
    const all = await db.getAll("actions");
    const me = owner();
    const c = { pending: 0, refused: 0, done: 0, others: 0, fixes: 0 };
    for (const a of all) {
      if (a.state === "pending" && a.owner !== me) c.others += 1;
      else c[a.state] += 1;
    }
    c.fixes = await db.count("fixes");
    return c;
  }

  /** Forget a refused (or done) action once the user has seen it. */
  async function dismiss(client_id) {
    const a = await db.getFromIndex("actions", "client_id", client_id);
    if (a && a.state !== "pending") await db.delete("actions", a.seq);
    changed();
  }

  async function pendingActions() {
    const me = owner();
    const all = await db.getAllFromIndex("actions", "state", "pending");
    return all.filter((a) => a.owner === me).sort((a, b) => a.seq - b.seq);
  }

  async function request(url, init) {
    const headers = await auth();
    if (!headers) throw new SendStopped("auth");
    let r;
    try {
      r = await fetch(url, { ...init, headers: { ...headers, ...(init.headers || {}) } });
    } catch (err) {
      throw new SendStopped("offline");
    }
    if (r.status === 401) throw new SendStopped("auth", 401);
    if (r.status === 429 || r.status === 503) {
      // the server is busy (admission control) or throttling: nothing was done; send again
      // after its Retry-After (seconds), not sooner
      const stop = new SendStopped(r.status === 429 ? "throttled" : "busy", r.status);
      stop.retryAfterMs = retryAfterMs(r.headers.get("Retry-After"));
      throw stop;
    }
    if (r.status >= 500) throw new SendStopped("server", r.status);
    return r;
  }

  /** Upload one photo; returns null when stored, or a refusal {code, reason_zh, reason_en}. */
  async function upload(photo) {
    const r = await request(urls.photo(photo.photo_id), {
      method: "PUT",
      body: photo.blob,
      headers: { "Content-Type": photo.type || "application/octet-stream" },
    });
    if (r.status === 200 || r.status === 201) {
      await db.put("photos", { ...photo, uploaded: true });
      return null;
    }
    const body = await r.json().catch(() => ({}));
    return {
      code: body.code || `http_${r.status}`,
      reason_zh: body.message_zh || "照片被拒收",
      reason_en: body.message || `photo refused (HTTP ${r.status})`,
    };
  }

  async function refuseLocally(action, refusal) {
    await db.put("actions", { ...action, state: "refused", result: { ok: false, ...refusal } });
  }

  async function sendActions() {
    let queue = await pendingActions();
    let sent = 0;
    let refused = 0;
    while (queue.length) {
      const chunk = [];
      for (const action of queue.slice(0, batch)) {
        let refusal = null;
        for (const id of action.photo_ids) {
          const photo = await db.get("photos", id);
          if (!photo) {
            refusal = { code: "photo_missing", reason_zh: "照片已丢失", reason_en: "photo lost" };
          } else if (!photo.uploaded) {
            refusal = await upload(photo);
          }
          if (refusal) break;
        }
        if (refusal) {
          await refuseLocally(action, refusal);
          refused += 1;
        } else chunk.push(action);
      }
      if (chunk.length) {
        const r = await request(urls.sync, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({
            actions: chunk.map((a) => ({
              client_id: a.client_id,
              kind: a.kind,
              at: a.at,
              ...(a.case_id !== null ? { case_id: a.case_id } : {}),
              ...(a.expected_version !== null ? { expected_version: a.expected_version } : {}),
              payload: a.payload,
            })),
          }),
        });
        if (!r.ok) throw new SendStopped("server", r.status);
        const { results } = await r.json();
        const byId = new Map(results.map((x) => [x.client_id, x]));
        for (const a of chunk) {
          const result = byId.get(a.client_id);
          if (!result) continue; // not answered: stays pending, sent again
          await db.put("actions", { ...a, state: result.ok ? "done" : "refused", result });
          if (result.ok) {
            sent += 1;
            for (const id of a.photo_ids) await db.delete("photos", id);
          } else refused += 1;
        }
      }
      changed();
      queue = await pendingActions();
      if (queue.length && queue[0].seq <= chunk.at(-1)?.seq) break; // nothing moved
    }
    await prune();
    return { sent, refused };
  }

  async function sendFixes() {
    if (!urls.fixes) return 0;
    const me = owner();
    let stored = 0;
    for (;;) {
      const rows = (await db.getAll("fixes", null, fixBatch * 4)).filter((f) => f.owner === me);
      const chunk = rows.slice(0, fixBatch);
      if (!chunk.length) return stored;
      const r = await request(urls.fixes, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ fixes: chunk.map(({ seq, owner: _o, ...fix }) => fix) }),
      });
      if (r.status === 403) {
        // this user records no track (not a grid worker): drop their fixes, say so once
        await db.clear("fixes");
        return stored;
      }
      if (!r.ok) throw new SendStopped("server", r.status);
      const body = await r.json();
      stored += body.stored || 0;
      const tx = db.transaction("fixes", "readwrite");
      for (const f of chunk) tx.store.delete(f.seq);
      await tx.done;
      changed();
    }
  }

  async function prune(keep = 100) {
    const done = (await db.getAllFromIndex("actions", "state", "done")).sort(
      (a, b) => b.seq - a.seq,
    );
    for (const a of done.slice(keep)) await db.delete("actions", a.seq);
  }

  /** Send everything that is waiting; one send at a time. Resolves to a summary. */
  function flush() {
    if (running) return running;
    running = (async () => {
      if (!owner()) return { stopped: "auth" };
      if (!navigator.onLine) {
        setStatus("offline");
        return { stopped: "offline" };
      }
      setStatus("sending");
      try {
        const out = await sendActions();
        out.fixes = await sendFixes();
        backoffMs = 0;
        setStatus("idle");
        return out;
      } catch (err) {
        if (!(err instanceof SendStopped)) throw err;
        backoffMs = Math.min(60_000, Math.max(2_000, backoffMs * 2));
        setStatus(err.reason);
        // a busy server says when to come back (Retry-After); a little jitter spreads phones
        schedule(err.retryAfterMs ? err.retryAfterMs + Math.random() * 500 : backoffMs);
        return { stopped: err.reason };
      }
    })().finally(() => {
      running = null;
    });
    return running;
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(() => flush(), ms);
  }

  addEventListener("online", () => schedule(0));
  addEventListener("offline", () => setStatus("offline"));

  return {
    db,
    addPhoto,
    dropPhoto,
    photoBlob,
    enqueue,
    addFixes,
    list,
    counts,
    dismiss,
    flush,
    schedule,
    status: () => status,
    onChange: (fn) => listeners.add(fn),
    cache: {
      get: (key) => db.get("kv", key),
      set: (key, value) => db.put("kv", value, key),
      del: (key) => db.delete("kv", key),
    },
  };
}

/** Every photo id an action's payload names (photo_ids, before_photo_ids, after_photo_ids). */
export function photoIdsOf(payload) {
  const ids = [];
  for (const [key, value] of Object.entries(payload || {})) {
    if (key.endsWith("photo_ids") && Array.isArray(value)) ids.push(...value);
  }
  return [...new Set(ids)];
}
