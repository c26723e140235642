#!/usr/bin/env bash
# Installs what the browser tests (tests/browser) need: Debian's Chromium, Node.js with npm,
# and the locked axe-core of tests/browser/package-lock.json (npm's cache stays in ~/.npm).
# Playwright drives this Chromium; it never downloads a browser of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# Without fonts Chromium draws text as boxes in the screenshots.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "browser-tools: installing ${missing[*]} (apt-get)" >&2
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "browser-tools: no apt-get here; install ${missing[*]} by hand" >&2
    exit 1
  fi
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  if ! { "${sudo[@]}" apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
           --no-install-recommends "${missing[@]}" >/dev/null; }; then
    echo "browser-tools: could not install ${missing[*]}; the browser tests need them" >&2
    exit 1
  fi
fi
chromium --version >&2

# npm ci: exactly the lock file; skipped when node_modules already matches it.
lock=tests/browser/package-lock.json
stamp=tests/browser/node_modules/.citela-lock
if [ ! -f "$stamp" ] || ! cmp -s "$lock" "$stamp"; then
  echo "browser-tools: npm ci in tests/browser" >&2
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
  cp "$lock" "$stamp"
fi
