# syntax=docker/dockerfile:1.7
# Citéla: the platform, the composition root: Celery beat (every service's schedule, sent to
# each service's queue), the worker of the platform's own queue (the retention purges of every
# service's tables) and the `citela migrate` one-shot job.
#
# Build from the repository root (docker compose does it):
#   docker build -f deploy/docker/platform.Dockerfile -t citela/platform .
#
# What gets installed: citela-platform, and so every service (its registry and its Celery app
# import them all), as pinned in uv.lock. The services themselves run from their own images
# (deploy/docker/<service>.Dockerfile), each holding only that service and citela-common.

ARG PYTHON_IMAGE=python:3.11-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.9.30

FROM ${UV_IMAGE} AS uv

# --- build: a virtual environment in /app/.venv, from the lock file only ------------------
FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# 1. third-party dependencies (this layer changes only when uv.lock does). uv needs the
#    pyproject.toml of every workspace member to read the workspace, not their sources.
COPY pyproject.toml uv.lock ./
COPY services/common/pyproject.toml services/common/pyproject.toml
COPY services/ingest/pyproject.toml services/ingest/pyproject.toml
COPY services/catalogue/pyproject.toml services/catalogue/pyproject.toml
COPY services/feedback/pyproject.toml services/feedback/pyproject.toml
COPY services/analytics/pyproject.toml services/analytics/pyproject.toml
COPY services/platform/pyproject.toml services/platform/pyproject.toml
COPY services/web/pyproject.toml services/web/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package citela-platform

# 2. the workspace packages, installed as regular wheels (not editable: no /src at run time)
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package citela-platform

# --- run: the interpreter, the virtual environment, an unprivileged user ------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 citela \
    && useradd --system --uid 10001 --gid citela --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin citela \
    && mkdir -p /app /data /tmp/prometheus \
    && chown citela:citela /data /tmp/prometheus
COPY --from=builder /app/.venv /app/.venv
# CITELA_DATA_DIR: the writable folder (the app folder is root-owned and read-only to us).
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CITELA_DATA_DIR=/data
WORKDIR /app
USER citela

# The same image runs the platform queue's Celery worker (default), Celery beat and the
# one-shot `citela migrate` (docker-compose.yml overrides the command; beat and migrate
# disable this health check, which asks the worker itself). It serves no port.
HEALTHCHECK --interval=30s --timeout=20s --start-period=30s --retries=3 \
    CMD celery -A citela_platform.celery_app inspect ping -d "celery@$HOSTNAME" --timeout 10 > /dev/null || exit 1
CMD ["celery", "-A", "citela_platform.celery_app", "worker", "--queues=platform", "--loglevel=INFO", "--concurrency=1", "--without-gossip", "--without-mingle"]
