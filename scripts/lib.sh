#!/usr/bin/env bash
# Shared helpers for the project's scripts (sourced, not run).
set -euo pipefail

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PROJECT_ROOT

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33m!!\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31mxx\033[0m %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"
  elif have sudo; then sudo -n "$@"
  else die "need root to run: $* (install sudo or run as root)"
  fi
}

# Installs Debian packages that are missing (non-interactive, CI-safe).
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  have apt-get || die "apt-get not found; install by hand: ${missing[*]}"
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  }
}

# Loads KEY=VALUE lines from .env without overriding variables already set.
load_dotenv() {
  local file="${1:-$PROJECT_ROOT/.env}"
  [[ -f "$file" ]] || return 0
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^[[:space:]]*# || ! "$line" == *=* ]] && continue
    local key="${line%%=*}" value="${line#*=}"
    key="$(echo "$key" | tr -d '[:space:]')"
    [[ -z "$value" || -n "${!key:-}" ]] && continue
    export "$key=$value"
  done <"$file"
}

# Waits until a URL answers 2xx (seconds, default 60).
wait_http() {
  local url="$1" secs="${2:-60}"
  for _ in $(seq $((secs * 5))); do
    curl -fs "$url" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# Parses host/port/user/database out of a postgres:// URL into PG_HOST PG_PORT PG_USER PG_DB.
parse_database_url() {
  local url="$1" rest hostport
  rest="${url#*://}"
  if [[ "$rest" == *@* ]]; then PG_USER="${rest%%@*}"; PG_USER="${PG_USER%%:*}"; rest="${rest#*@}"; else PG_USER=postgres; fi
  hostport="${rest%%/*}"
  PG_DB="${rest#*/}"; PG_DB="${PG_DB%%\?*}"
  [[ "$PG_DB" == "$rest" ]] && PG_DB=postgres
  PG_HOST="${hostport%%:*}"
  if [[ "$hostport" == *:* ]]; then PG_PORT="${hostport##*:}"; else PG_PORT=5432; fi
  export PG_HOST PG_PORT PG_USER PG_DB
}

# Makes sure Node.js and npm are available (Debian's packages).
ensure_node() {
  have node && have npm && return 0
  apt_install nodejs npm
}

# Makes sure Debian's Chromium is installed for the browser tests.
ensure_chromium() {
  [[ -x /usr/bin/chromium ]] && return 0
  apt_install chromium
}
