#!/usr/bin/env bash
# Install the programs some tests drive, as root on Debian; idempotent:
# Chromium (the report page is opened in a real headless browser) and
# Node.js with npm (the JavaScript project's own test runner), and redis-server
# (the GitHub App's Redis queue is tested against a real one; the tests start it), and PostgreSQL
# (the App's shared state; the tests make and start a cluster of their own).
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v redis-server >/dev/null || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "chromium: $(chromium --version 2>/dev/null | head -1); node: $(node --version); npm: $(npm --version);" \
  "$(redis-server --version | cut -d' ' -f1-3); $(ls /usr/lib/postgresql/*/bin/postgres | head -1)"
