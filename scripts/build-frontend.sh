#!/usr/bin/env bash
# Installs the Mini App's npm packages when needed and builds it into frontend/dist (with .br/.gz
# beside every text file for the server to send as they are, and the initial-JS budget checked:
# frontend/scripts/precompress.mjs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT/frontend" 2>/dev/null || { warn "no frontend/ folder; serving the API only"; exit 0; }
ensure_node
stamp="node_modules/.primerka-lock-hash"
hash="$(sha256sum package-lock.json 2>/dev/null | cut -d' ' -f1 || echo none)"
if [[ ! -d node_modules || "$(cat "$stamp" 2>/dev/null)" != "$hash" ]]; then
  log "installing the frontend's npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$hash" >"$stamp"
fi
log "building the Mini App"
npm run build --silent
