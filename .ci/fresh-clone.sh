#!/usr/bin/env bash
# A fresh clone with nothing beside it collects the whole test suite: the committed tree is
# cloned into an empty temporary folder, installed from uv.lock, and `pytest --collect-only`
# runs there. A fixture, import or path that reaches outside the repository (a sibling
# folder, an absolute path of one machine) fails here instead of on a newcomer's machine.
set -euo pipefail
cd "$(dirname "$0")/.."

workdir="$(mktemp -d "${TMPDIR:-/tmp}/citela-fresh.XXXXXX")"
trap 'rm -rf "$workdir"' EXIT
clone="$workdir/citela"

echo "== fresh clone: $clone" >&2
git clone --quiet --no-hardlinks "$PWD" "$clone"
cd "$clone"
unset UV_PROJECT_ENVIRONMENT VIRTUAL_ENV
# The extra the tests need (deploy/test.sh installs it too); uv links from its cache.
uv sync --all-packages --frozen --quiet --extra transformers
uv run --no-sync pytest --collect-only -q -p no:cacheprovider > "$workdir/collected.txt" || {
  tail -n 40 "$workdir/collected.txt" >&2
  echo "fresh clone: the tests do not even collect outside this checkout" >&2
  exit 1
}
tail -n 1 "$workdir/collected.txt" >&2
