// A photo picker: camera or gallery, compressed on the phone (browser-image-compression from
// /vendor/), kept in the outbox (IndexedDB) until uploaded, shown as thumbnails.
/* global imageCompression */
import { h, clear } from "/webapps/common/dom.js";
import { T } from "./main.js";
import { state } from "./app.js";

const MAX_MB = 10;
let compressor = null;

function loadCompressor() {
  compressor ??= new Promise((resolve) => {
    const s = h("script", { src: "/vendor/image-compression/browser-image-compression.js" });
    s.addEventListener("load", () => resolve(window.imageCompression));
    s.addEventListener("error", () => resolve(null));
    document.head.append(s);
  });
  return compressor;
}

/** Make the smaller of the photo and its compressed copy (never a worker: the page policy
 * allows no blob: workers, and the library would fetch itself from a CDN for one). */
async function compress(file) {
  const lib = await loadCompressor();
  if (!lib) return file;
  try {
    const out = await lib(file, {
      maxSizeMB: 1,
      maxWidthOrHeight: 1600,
      useWebWorker: false,
      fileType: "image/jpeg",
      initialQuality: 0.8,
    });
    return out.size < file.size ? out : file;
  } catch {
    return file;
  }
}

/**
 * A picker labelled ``key``; returns {el, ids()} — ids() are the stored photos' ids.
 */
export function photoPicker(key, { name = "photos" } = {}) {
  const ids = [];
  const thumbs = h("div", { class: "thumbs" });
  const note = h("p", { class: "form-error", role: "alert" });
  const input = h("input", { type: "file", accept: "image/*", capture: "environment", multiple: true, name, class: "file" });
  const button = h("label", { class: "big photo-button" }, T.label("add_photo"), input);
  input.addEventListener("change", async () => {
    clear(note);
    for (const file of [...input.files]) {
      if (!file.type.startsWith("image/")) {
        clear(note, T.label("photo_not_image"));
        continue;
      }
      clear(note, T.label("compressing"));
      const blob = await compress(file);
      clear(note);
      if (blob.size > MAX_MB * 1024 * 1024) {
        clear(note, T.label("error", { m: `> ${MAX_MB} MB` }));
        continue;
      }
      const id = await state.outbox.addPhoto(blob);
      ids.push(id);
      const url = URL.createObjectURL(blob);
      const remove = h("button", { type: "button", class: "small" }, T.label("remove"));
      const fig = h("figure", { class: "thumb", dataset: { photo: id } }, h("img", { src: url, alt: T.str(key) }), remove);
      remove.addEventListener("click", async () => {
        ids.splice(ids.indexOf(id), 1);
        await state.outbox.dropPhoto(id);
        URL.revokeObjectURL(url);
        fig.remove();
      });
      thumbs.append(fig);
    }
    input.value = "";
    el.dataset.count = String(ids.length);
  });
  const el = h("fieldset", { class: "photos", dataset: { count: "0", picker: name } }, h("legend", {}, T.label(key)), button, thumbs, note);
  return { el, ids: () => [...ids] };
}
