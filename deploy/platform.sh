#!/usr/bin/env bash
# The distributed Citéla platform on one machine without Docker, as docker-compose.yml runs it:
# Kafka, PostgreSQL and Redis (deploy/infra.sh), the migrations, then under supervisord (PyPI's
# `supervisor`, the ops group of uv.lock), each restarted when it dies:
#   ingest, catalogue, feedback, analytics   each service's API, with its outbox relay and its
#                                            consumers in each worker process (as in compose)
#   web                                      the citizen portal and the authorities' dashboard
#   ingest-worker, analytics-worker          each service's Celery worker, on its own queue
#   platform-worker, beat                    the retention worker and the one beat (schedules)
#   queue-metrics                            the Celery queues' lengths, for Prometheus
#   prometheus                               Debian's package, scraping them all, with the alerts
#
#   deploy/platform.sh install    what is missing: Python packages, infra, Prometheus (apt)
#   deploy/platform.sh up         install, start the infra, migrate, start everything, wait
#   deploy/platform.sh start      the same without install
#   deploy/platform.sh config     only write the generated files (supervisord.conf, prometheus.yml)
#   deploy/platform.sh status     each process, and Prometheus' targets; exit 3 when one is down
#   deploy/platform.sh down       stop everything, the infra included
#   deploy/platform.sh env        `export` lines of the settings the processes get (for a shell)
#
# Settings (environment): CITELA_INFRA_DIR (<repo>/.local) holds the infra's data and, under
# platform/, the generated configuration, logs, pid files, the metrics folders and the secret key;
# the infra's ports (CITELA_PG_PORT, CITELA_REDIS_PORT, CITELA_KAFKA_PORT,
# CITELA_KAFKA_CONTROLLER_PORT: see deploy/infra.sh); CITELA_PLATFORM_PORT (8001: ingest, then
# catalogue +1, feedback +2, analytics +3, web +4, queue-metrics +5); CITELA_PROMETHEUS_PORT
# (9090); CITELA_PLATFORM_WORKERS (2: API worker processes of catalogue and feedback, the busiest);
# CITELA_PROMETHEUS_SCRAPE_INTERVAL (that of deploy/prometheus/prometheus.yml);
# CITELA_PLATFORM_WAIT_S (240: how long `up` waits for every process).
# CITELA_SECRET_KEY: taken when set; otherwise a random key is generated once into
# platform/secret_key (mode 0600) and kept: never the development default.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
abspath() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
INFRA_DIR=$(abspath "${CITELA_INFRA_DIR:-$REPO_ROOT/.local}")
export CITELA_INFRA_DIR=$INFRA_DIR
PLATFORM_DIR=$INFRA_DIR/platform
VENV=$REPO_ROOT/.venv

BASE_PORT=${CITELA_PLATFORM_PORT:-8001}
PROMETHEUS_PORT=${CITELA_PROMETHEUS_PORT:-9090}
API_WORKERS=${CITELA_PLATFORM_WORKERS:-2}
WAIT_S=${CITELA_PLATFORM_WAIT_S:-240}
# The APIs, in port order from CITELA_PLATFORM_PORT (the order of docker-compose.yml's 8001..8005).
APIS=(ingest catalogue feedback analytics web)
QUEUE_METRICS_PORT=$((BASE_PORT + ${#APIS[@]}))

say() { printf 'platform: %s\n' "$*" >&2; }
die() { printf 'platform: error: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%01d s' $((ms / 1000)) $((ms % 1000 / 100)); }

api_port() {  # api_port NAME
    local i
    for i in "${!APIS[@]}"; do [ "${APIS[i]}" != "$1" ] || { echo $((BASE_PORT + i)); return 0; }; done
    return 1
}

# ---------------------------------------------------------------------------------------------------
# install

prometheus_install() {
    command -v prometheus >/dev/null && command -v promtool >/dev/null && return 0
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    say "apt-get install prometheus (the server and promtool)"
    "${sudo[@]}" apt-get update -q >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        prometheus >/dev/null || die "could not install Prometheus"
    # On a machine booted with systemd the package starts its own server on :9090: ours runs
    # under supervisord with our configuration.
    if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
        say "stopping and disabling the package's own prometheus.service"
        "${sudo[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
}

cmd_install() {
    # The locked Python packages (supervisor among them), only when something is missing.
    if ! (cd "$REPO_ROOT" && uv sync --all-packages --frozen --inexact --no-dev --check >/dev/null 2>&1); then
        "$SCRIPT_DIR/bootstrap.sh" --no-dev
    fi
    "$SCRIPT_DIR/infra.sh" install
    prometheus_install
}

# ---------------------------------------------------------------------------------------------------
# generated configuration

secret_key() {
    if [ -n "${CITELA_SECRET_KEY:-}" ]; then
        printf '%s' "$CITELA_SECRET_KEY"
        return 0
    fi
    local file=$PLATFORM_DIR/secret_key
    if [ ! -s "$file" ]; then
        (umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n/+=' >"$file.tmp")
        mv "$file.tmp" "$file"
        say "generated the secret key into $file"
    fi
    chmod 600 "$file"
    cat "$file"
}

# The settings of docker-compose.yml's x-citela-env, x-citela-api-env and the web's, with this
# machine's addresses (tests/deploy/test_platform.py keeps them equal).
write_env() {
    local secret
    secret=$(secret_key)
    eval "$("$SCRIPT_DIR/infra.sh" env)"
    cat >"$PLATFORM_DIR/env" <<EOF
CITELA_ENVIRONMENT=production
CITELA_DATABASE_URL=$CITELA_DATABASE_URL
CITELA_KAFKA_BOOTSTRAP=$CITELA_KAFKA_BOOTSTRAP
CITELA_REDIS_URL=$CITELA_REDIS_URL
CITELA_SECRET_KEY=$secret
CITELA_LOG_LEVEL=${CITELA_LOG_LEVEL:-INFO}
CITELA_LOG_JSON=true
CITELA_PORTAL_PUBLIC_URL=${CITELA_PORTAL_PUBLIC_URL:-http://localhost:$(api_port web)}
EOF
    chmod 600 "$PLATFORM_DIR/env"
}

# supervisord's environment= syntax: KEY="value",... (values hold no quote).
supervisor_env() {
    local line out=""
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        out+="${out:+,}${line%%=*}=\"${line#*=}\""
    done
    printf '%s' "$out"
}

program() {  # program NAME COMMAND [EXTRA_ENV]: one [program:NAME] section
    local name=$1 command=$2 extra=${3:-}
    cat <<EOF

[program:$name]
command=$command
directory=$PLATFORM_DIR
autostart=true
autorestart=true
startsecs=5
startretries=1000
stopsignal=TERM
stopwaitsecs=30
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=$PLATFORM_DIR/logs/$name.log
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=2
EOF
    [ -z "$extra" ] || echo "environment=$extra"
}

# Runs a program whose processes write prometheus_client's files into PROMETHEUS_MULTIPROC_DIR,
# after deleting the files of processes that are gone (a worker killed, restarted): they would
# be summed for ever (a consumer's last lag, say), while the live ones' stay (the API and the
# Celery worker of a service share their folder).
write_metrics_wrapper() {
    cat >"$PLATFORM_DIR/with-metrics" <<'EOF'
#!/bin/sh
# Written by deploy/platform.sh.
dir=${PROMETHEUS_MULTIPROC_DIR:?}
mkdir -p "$dir"
for file in "$dir"/*.db; do
    [ -e "$file" ] || continue
    pid=${file##*_}; pid=${pid%.db}
    kill -0 "$pid" 2>/dev/null || rm -f "$file"
done
exec "$@"
EOF
    chmod 755 "$PLATFORM_DIR/with-metrics"
}

write_supervisor_conf() {
    local conf=$PLATFORM_DIR/supervisord.conf name port workers env
    env=$(supervisor_env <"$PLATFORM_DIR/env")
    {
        cat <<EOF
; Written by deploy/platform.sh: do not edit (edit the script).
[supervisord]
logfile=$PLATFORM_DIR/logs/supervisord.log
pidfile=$PLATFORM_DIR/supervisord.pid
childlogdir=$PLATFORM_DIR/logs
nodaemon=false
minfds=4096
environment=$env

[unix_http_server]
file=$PLATFORM_DIR/supervisor.sock
chmod=0700

[supervisorctl]
serverurl=unix://$PLATFORM_DIR/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory=supervisor.rpcinterface:make_main_rpcinterface
EOF
        for name in "${APIS[@]}"; do
            port=$(api_port "$name")
            workers=1
            case $name in catalogue | feedback) workers=$API_WORKERS ;; esac
            local metrics=$PLATFORM_DIR/metrics/$name
            local extra="PROMETHEUS_MULTIPROC_DIR=\"$metrics\""
            if [ "$name" = web ]; then
                local api
                for api in ingest catalogue feedback analytics; do
                    extra+=",CITELA_WEB_${api^^}_URL=\"http://127.0.0.1:$(api_port "$api")\""
                done
                extra+=",CITELA_WEB_SECURE_COOKIES=\"${CITELA_WEB_SECURE_COOKIES:-false}\""
            elif [ "$name" = analytics ]; then
                extra+=",CITELA_ANALYTICS_FEEDBACK_URL=\"http://127.0.0.1:$(api_port feedback)\""
            fi
            program "$name" "$PLATFORM_DIR/with-metrics $VENV/bin/python -m citela_$name serve --host 127.0.0.1 --port $port --workers $workers" "$extra"
        done
        # The Celery workers of ingest and analytics write their metrics (runs, scoring) into
        # their service's folder: its API's /metrics serves them with its own.
        program ingest-worker "$PLATFORM_DIR/with-metrics $VENV/bin/celery -A citela_ingest.worker worker --loglevel=INFO --concurrency=2 --without-gossip --without-mingle --hostname=ingest@%%h" "PROMETHEUS_MULTIPROC_DIR=\"$PLATFORM_DIR/metrics/ingest\""
        program analytics-worker "$PLATFORM_DIR/with-metrics $VENV/bin/celery -A citela_analytics.worker worker --loglevel=INFO --concurrency=2 --without-gossip --without-mingle --hostname=analytics@%%h" "PROMETHEUS_MULTIPROC_DIR=\"$PLATFORM_DIR/metrics/analytics\""
        program platform-worker "$VENV/bin/celery -A citela_platform.celery_app worker --queues=platform --loglevel=INFO --concurrency=1 --without-gossip --without-mingle --hostname=platform@%%h"
        program beat "$VENV/bin/celery -A citela_platform.celery_app beat --loglevel=INFO --schedule=$PLATFORM_DIR/celerybeat-schedule"
        program queue-metrics "$VENV/bin/python -m citela_platform.queue_metrics --host 127.0.0.1 --port $QUEUE_METRICS_PORT"
        program prometheus "$(command -v prometheus || echo /usr/bin/prometheus) --config.file=$PLATFORM_DIR/prometheus.yml --storage.tsdb.path=$PLATFORM_DIR/prometheus-data --storage.tsdb.retention.time=15d --web.enable-lifecycle --web.listen-address=127.0.0.1:$PROMETHEUS_PORT"
    } >"$conf.tmp"
    chmod 600 "$conf.tmp"
    mv "$conf.tmp" "$conf"
}

# deploy/prometheus/prometheus.yml with this machine's addresses: "<name>:8000" targets become
# 127.0.0.1:<port>, the rule files their path in the repository.
write_prometheus_conf() {
    local name args=()
    for name in "${APIS[@]}"; do
        args+=(-e "s|^\( *- \)$name:8000\$|\1127.0.0.1:$(api_port "$name")|")
    done
    args+=(-e "s|^\( *- \)queue-metrics:8000\$|\1127.0.0.1:$QUEUE_METRICS_PORT|")
    args+=(-e "s|^\( *- \)localhost:9090\$|\1127.0.0.1:$PROMETHEUS_PORT|")
    args+=(-e "s|^\( *- \)/etc/prometheus/|\1$SCRIPT_DIR/prometheus/|")
    if [ -n "${CITELA_PROMETHEUS_SCRAPE_INTERVAL:-}" ]; then
        args+=(-e "s|^\(  scrape_interval: \).*|\1$CITELA_PROMETHEUS_SCRAPE_INTERVAL|")
        args+=(-e "s|^\(  evaluation_interval: \).*|\1$CITELA_PROMETHEUS_SCRAPE_INTERVAL|")
        args+=(-e "s|^\(  scrape_timeout: \).*|\1$CITELA_PROMETHEUS_SCRAPE_INTERVAL|")
    fi
    sed "${args[@]}" "$SCRIPT_DIR/prometheus/prometheus.yml" >"$PLATFORM_DIR/prometheus.yml"
    if grep -qE '^ *- [a-z-]+:8000$' "$PLATFORM_DIR/prometheus.yml"; then
        die "deploy/prometheus/prometheus.yml has a target platform.sh does not know: $(grep -E '^ *- [a-z-]+:8000$' "$PLATFORM_DIR/prometheus.yml" | tr -d ' ')"
    fi
    if command -v promtool >/dev/null; then
        promtool check config "$PLATFORM_DIR/prometheus.yml" >"$PLATFORM_DIR/logs/promtool.log" 2>&1 ||
            { cat "$PLATFORM_DIR/logs/promtool.log" >&2; die "promtool refuses the generated prometheus.yml"; }
    fi
}

cmd_config() {
    mkdir -p "$PLATFORM_DIR/logs" "$PLATFORM_DIR/metrics"
    chmod 700 "$PLATFORM_DIR"
    write_env
    write_metrics_wrapper
    write_supervisor_conf
    write_prometheus_conf
}

# ---------------------------------------------------------------------------------------------------
# running

ctl() { "$VENV/bin/supervisorctl" -c "$PLATFORM_DIR/supervisord.conf" "$@"; }

supervisord_pid() {
    local pid
    [ -s "$PLATFORM_DIR/supervisord.pid" ] || return 1
    pid=$(tr -dc '0-9' <"$PLATFORM_DIR/supervisord.pid")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q supervisord "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

http_ok() {  # http_ok URL: a 2xx within 3 s
    "$VENV/bin/python" - "$1" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
        sys.exit(0 if 200 <= r.status < 300 else 1)
except Exception:
    sys.exit(1)
EOF
}

cmd_start() {
    local t0; t0=$(now_ms)
    [ -x "$VENV/bin/supervisord" ] || die "supervisor is not installed: run deploy/platform.sh install"
    command -v prometheus >/dev/null || die "Prometheus is not installed: run deploy/platform.sh install"
    "$SCRIPT_DIR/infra.sh" start >/dev/null
    cmd_config
    say "migrations"
    (set -a && . "$PLATFORM_DIR/env" && set +a && "$VENV/bin/citela" migrate >/dev/null)
    if supervisord_pid >/dev/null; then
        say "supervisord already running: rereading the configuration"
        ctl update >/dev/null
        ctl start all >/dev/null || true
    else
        say "starting supervisord ($PLATFORM_DIR/supervisord.conf)"
        (cd "$PLATFORM_DIR" && "$VENV/bin/supervisord" -c "$PLATFORM_DIR/supervisord.conf")
    fi
    say "waiting for every process (at most ${WAIT_S} s)"
    local deadline=$(( $(date +%s) + WAIT_S )) name pending
    while :; do
        pending=()
        for name in "${APIS[@]}"; do
            http_ok "http://127.0.0.1:$(api_port "$name")/healthz" || pending+=("$name")
        done
        http_ok "http://127.0.0.1:$QUEUE_METRICS_PORT/metrics" || pending+=(queue-metrics)
        http_ok "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" || pending+=(prometheus)
        [ ${#pending[@]} -gt 0 ] || break
        if [ "$(date +%s)" -ge "$deadline" ]; then
            ctl status >&2 || true
            die "not answering after ${WAIT_S} s: ${pending[*]} (logs: $PLATFORM_DIR/logs/)"
        fi
        sleep 1
    done
    say "up ($(since "$t0")): APIs from http://127.0.0.1:$BASE_PORT/, web http://127.0.0.1:$(api_port web)/, Prometheus http://127.0.0.1:$PROMETHEUS_PORT/"
}

# Prometheus' view of its targets: one line each; fails when one is not up.
prometheus_targets() {
    "$VENV/bin/python" - "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/targets?state=active" <<'EOF'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        targets = json.load(r)["data"]["activeTargets"]
except Exception as exc:
    print(f"prometheus injoignable : {exc}")
    sys.exit(3)
down = 0
for t in sorted(targets, key=lambda t: (t["labels"]["job"], t["labels"]["instance"])):
    health = t["health"]
    down += health != "up"
    error = f"  {t['lastError']}" if t.get("lastError") else ""
    print(f"  {t['labels']['job']:<14} {t['labels']['instance']:<16} {health:<8} {t['scrapeUrl']}{error}")
sys.exit(3 if down or not targets else 0)
EOF
}

cmd_status() {
    local rc=0
    if ! supervisord_pid >/dev/null; then
        echo "supervisord : arrêté ($PLATFORM_DIR)"
        "$SCRIPT_DIR/infra.sh" status || true
        return 3
    fi
    echo "Processus (supervisord) :"
    ctl status || rc=3
    echo "Infrastructure :"
    "$SCRIPT_DIR/infra.sh" status || rc=3
    echo "Cibles de Prometheus (http://127.0.0.1:$PROMETHEUS_PORT/targets) :"
    prometheus_targets || rc=3
    return $rc
}

cmd_down() {
    local pid
    if pid=$(supervisord_pid); then
        say "stopping every process and supervisord (pid $pid)"
        ctl shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
        local deadline=$(( $(date +%s) + 90 ))
        while kill -0 "$pid" 2>/dev/null; do
            [ "$(date +%s)" -lt "$deadline" ] || { kill -KILL "$pid" 2>/dev/null || true; break; }
            sleep 0.2
        done
    else
        say "supervisord: not running"
    fi
    "$SCRIPT_DIR/infra.sh" stop
}

cmd_env() {
    [ -s "$PLATFORM_DIR/env" ] || die "no $PLATFORM_DIR/env: run deploy/platform.sh up first"
    sed 's/^/export /' "$PLATFORM_DIR/env"
    # for `citela analytics reconcile` run from this shell
    echo "export CITELA_ANALYTICS_FEEDBACK_URL=http://127.0.0.1:$(api_port feedback)"
}

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

case ${1:-} in
    install) cmd_install ;;
    up) cmd_install; cmd_start ;;
    start) cmd_start ;;
    config) cmd_config ;;
    status) cmd_status ;;
    down | stop) cmd_down ;;
    env) cmd_env ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
esac
