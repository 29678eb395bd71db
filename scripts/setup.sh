#!/usr/bin/env bash
# Install what GridGov needs and is missing: system packages (PostgreSQL + PostGIS, Chromium,
# CJK fonts, npm), the Python environment from uv.lock, and the map's front-end assets.
# Safe to run again: each step does nothing when its work is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi

have_pg_server() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
have_postgis() {
  for bindir in /usr/lib/postgresql/*/bin; do
    v=$(basename "$(dirname "$bindir")")
    [ -f "/usr/share/postgresql/$v/extension/postgis.control" ] && return 0
  done
  return 1
}
have_chromium() { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; }
have_cjk_fonts() { fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; }

pick_pg_version() {
  # the version already installed, else the newest one whose PostGIS package apt knows
  for bindir in /usr/lib/postgresql/*/bin; do
    [ -x "$bindir/initdb" ] && { basename "$(dirname "$bindir")"; return; }
  done
  for v in 17 16 15; do
    if apt-cache show "postgresql-$v-postgis-3" >/dev/null 2>&1; then echo "$v"; return; fi
  done
  echo 15
}

install_system_packages() {
  local missing=()
  if [ "${GRIDGOV_SKIP_SYSTEM_PACKAGES:-0}" = 1 ]; then
    say "system packages: skipped (GRIDGOV_SKIP_SYSTEM_PACKAGES=1)"; return
  fi
  if have_pg_server && have_postgis && have_chromium && have_cjk_fonts && command -v npm >/dev/null; then
    say "system packages: PostgreSQL, PostGIS, Chromium, CJK fonts and npm are installed"
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    die "this system has no apt-get: install PostgreSQL >= 15 with PostGIS 3, Chromium, npm and \
Noto CJK fonts yourself (or set DATABASE_URL to an existing PostGIS), then run this again."
  fi
  if [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; then
    die "system packages are missing and this user cannot install them (not root, no sudo): \
ask an administrator for postgresql-15-postgis-3 chromium fonts-noto-cjk npm."
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  local v; v=$(pick_pg_version)
  have_pg_server || missing+=("postgresql-$v")
  have_postgis || missing+=("postgresql-$v-postgis-3")
  have_chromium || missing+=(chromium)
  have_cjk_fonts || missing+=(fonts-noto-cjk)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  say "system packages: installing ${missing[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts a system-wide cluster on install; GridGov runs its own and needs none.
}

install_python_env() {
  if ! command -v uv >/dev/null 2>&1; then
    say "python: installing uv"
    python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv \
      || die "could not install uv (python3 -m pip install uv)."
    export PATH="$HOME/.local/bin:$PATH"
  fi
  say "python: environment from uv.lock"
  uv sync --frozen --quiet
}

install_assets() {
  local stamp=static/vendor/.package-lock.sha
  local want; want=$(cat frontend/package-lock.json scripts/build_assets.sh | sha1sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    say "front-end assets: up to date"; return
  fi
  say "front-end assets: installing"
  scripts/build_assets.sh
  echo "$want" > "$stamp"
}

path_hint() {
  # uv installed by pip --user lands in ~/.local/bin, often not on the caller's PATH: then the
  # next documented command (`uv run gridgov db up`) would fail with "uv: command not found".
  local uv_bin; uv_bin=$(command -v uv || true)
  case ":${GRIDGOV_CALLER_PATH:-$PATH}:" in
    *":$(dirname "${uv_bin:-/nonexistent/uv}"):"*) ;;
    *) printf '\nuv is in %s, which is not on your PATH. Run this first (or add it to ~/.profile):\n  export PATH="%s:$PATH"\n' \
         "$(dirname "$uv_bin")" "$(dirname "$uv_bin")" ;;
  esac
}

install_system_packages
install_python_env
install_assets
say "set-up complete"
path_hint
