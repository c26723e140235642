# syntax=docker/dockerfile:1.7
# Citéla: the analytics service (sentiment, PMA, dashboard API), `python -m citela_analytics` on port 8000.
# The same image runs its Celery worker (`celery -A citela_analytics.worker worker`).
#
# Build from the repository root (docker compose does it):
#   docker build -f deploy/docker/analytics.Dockerfile -t citela/analytics .
#
# What gets installed: citela-analytics and citela-common, nothing of the other services, with
# exactly the third-party versions uv.lock pins for them (uv sync --package citela-analytics).
# tests/architecture/test_images.py checks that list.

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
    uv sync --frozen --no-dev --no-install-workspace --package citela-analytics

# 2. the service and common, installed as regular wheels (not editable: no /src at run time)
COPY services/common/ services/common/
COPY services/analytics/ services/analytics/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package citela-analytics

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

ENV CITELA_HOST=0.0.0.0 \
    CITELA_PORT=8000
EXPOSE 8000
# No curl in python:3.11-slim: the image's own Python asks the liveness endpoint.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["python", "-m", "citela_analytics", "serve", "--host", "0.0.0.0", "--port", "8000"]
