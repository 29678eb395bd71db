#!/usr/bin/env bash
# Install the pinned front-end packages (frontend/package-lock.json) and copy what the maps
# load into static/vendor/, which Streamlit serves at /app/static/vendor/. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is needed to install the map's front-end assets (apt-get install npm)." >&2
  exit 1
fi
npm ci --prefix frontend --no-audit --no-fund --loglevel=error
nm=frontend/node_modules
out=static/vendor
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
mkdir -p "$out.tmp"/{leaflet,leaflet.heat,markercluster,awesome-markers,jquery,fontawesome/css}
cp "$nm"/leaflet/dist/leaflet.js "$nm"/leaflet/dist/leaflet.css "$out.tmp"/leaflet/
cp -r "$nm"/leaflet/dist/images "$out.tmp"/leaflet/
cp "$nm"/leaflet.heat/dist/leaflet-heat.js "$out.tmp"/leaflet.heat/
cp "$nm"/leaflet.markercluster/dist/{leaflet.markercluster.js,MarkerCluster.css,MarkerCluster.Default.css} \
   "$out.tmp"/markercluster/
cp "$nm"/leaflet.awesome-markers/dist/leaflet.awesome-markers.{js,css} "$out.tmp"/awesome-markers/
cp -r "$nm"/leaflet.awesome-markers/dist/images "$out.tmp"/awesome-markers/
cp "$nm"/jquery/dist/jquery.min.js "$out.tmp"/jquery/
cp "$nm"/@fortawesome/fontawesome-free/css/all.min.css "$out.tmp"/fontawesome/css/
cp -r "$nm"/@fortawesome/fontawesome-free/webfonts "$out.tmp"/fontawesome/
# Swagger UI for the API's /docs (only when GRIDGOV_API_DOCS=1), served by the API itself
mkdir -p "$out.tmp"/swagger-ui
cp "$nm"/swagger-ui-dist/{swagger-ui-bundle.js,swagger-ui.css,favicon-32x32.png} "$out.tmp"/swagger-ui/
# The web apps' libraries (/field/, /report/ load them from the API's /vendor/), the vector-tile
# plugin of the maps, and axe-core (the accessibility tests inject it)
mkdir -p "$out.tmp"/{idb,vectorgrid,image-compression,axe-core}
cp "$nm"/idb/build/umd.js "$out.tmp"/idb/idb.umd.js
cp "$nm"/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js "$out.tmp"/vectorgrid/
cp "$nm"/browser-image-compression/dist/browser-image-compression.js "$out.tmp"/image-compression/
cp "$nm"/axe-core/axe.min.js "$out.tmp"/axe-core/
rm -rf "$out" && mv "$out.tmp" "$out"
echo "front-end assets ready in $out"
