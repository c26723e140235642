#!/usr/bin/env bash
# Installs uv (if missing) and the locked Python dependencies of the whole workspace.
# Caches stay outside the clone (uv: ~/.cache/uv), so a second run is fast.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.9.30
if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv ${UV_VERSION} from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"
fi
# --frozen: install exactly what uv.lock pins; "$@" passes e.g. --no-dev or
# --extra transformers (the optional sentiment backend: torch, about 5 GB from the cache).
# --inexact: keep what another command installed (the demo does not uninstall the test tools).
# --compile-bytecode: every process (each `citela serve --workers N` worker) starts from .pyc
# instead of compiling the whole stack again (11 s per worker on a busy host).
uv sync --all-packages --frozen --inexact --compile-bytecode "$@"

# With the dev tools (the tests): Chromium, Node.js and axe-core for tests/browser.
case " $* " in
  *" --no-dev "*) ;;
  *) deploy/browser-tools.sh ;;
esac
