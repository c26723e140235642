#!/usr/bin/env bash
# The test command (`make test`, called by .ci/run): installs everything the tests need,
# starts Kafka, PostgreSQL and Redis on loopback, runs linters and the whole suite, and
# stops the servers it started. CITELA_KEEP_INFRA=1 leaves them running (development).
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests run the transformers sentiment backend for real, on a tiny model built locally:
# they need the extra (they fail, never skip, without it).
deploy/bootstrap.sh --extra transformers
deploy/infra.sh up
# promtool (Debian's prometheus package): tests/deploy checks and unit-tests the alert rules,
# and the make up test runs Prometheus itself.
deploy/platform.sh install
if [ "${CITELA_KEEP_INFRA:-0}" != 1 ]; then
  trap 'deploy/infra.sh stop' EXIT
fi

echo "== lint: ruff, mypy" >&2
uv run --no-sync ruff check .
uv run --no-sync ruff format --check .
uv run --no-sync mypy services tests bench

echo "== tests" >&2
uv run --no-sync pytest "$@"
