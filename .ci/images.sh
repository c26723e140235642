#!/usr/bin/env bash
# Builds every image of deploy/docker/ from its Dockerfile where a Docker engine answers
# (`docker info`); says so and builds nothing where none does (a CI step, not a test skip:
# tests/architecture/test_images.py and tests/deploy/test_compose.py check the files anyway).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "== images: no Docker engine here (docker info fails): image build SKIPPED" >&2
  exit 0
fi
for dockerfile in deploy/docker/*.Dockerfile; do
  name="$(basename "$dockerfile" .Dockerfile)"
  echo "== images: citela/$name from $dockerfile" >&2
  DOCKER_BUILDKIT=1 docker build --file "$dockerfile" --tag "citela/$name:ci" .
done
if docker compose version >/dev/null 2>&1; then
  CITELA_SECRET_KEY=ci-only-not-a-secret-0123456789abcdef docker compose config --quiet
fi
