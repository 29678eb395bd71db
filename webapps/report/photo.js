// A photo compressed on the phone (/vendor/image-compression) and read as base64.
/* global imageCompression */

function toBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",")[1]);
    reader.onerror = reject;
    reader.readAsDataURL(blob);
  });
}

/** {name, data (base64), bytes, before} of `file` made small: ≤ 0.5 MB, ≤ 1600 px, JPEG. */
export async function compressPhoto(file) {
  const small = await imageCompression(file, {
    maxSizeMB: 0.5,
    maxWidthOrHeight: 1600,
    useWebWorker: false, // its worker would load the library from a CDN
    fileType: "image/jpeg",
  });
  return {
    name: (file.name || "photo").replace(/\.[^.]+$/, "") + ".jpg",
    data: await toBase64(small),
    bytes: small.size,
    before: file.size,
  };
}
