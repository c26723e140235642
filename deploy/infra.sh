#!/usr/bin/env bash
# Local infrastructure for Citéla without Docker: PostgreSQL, Redis and a single-node Kafka (KRaft),
# each a private instance on 127.0.0.1 whose data, logs and pid files live in the instance folder
# (CITELA_INFRA_DIR, default <repo>/.local/, git-ignored). Works as root on a fresh Debian 12 (CI)
# and on a developer machine. Another folder and other ports make a second, independent instance
# (a fault test's own servers, which it may stop and kill): the installed programs are shared
# (the apt packages, and the Kafka jars whose classpath lives in CITELA_INFRA_CACHE_DIR).
#
#   deploy/infra.sh install            install what is missing (apt packages, Kafka jars via Maven,
#                                      wrk for the benchmarks)
#   deploy/infra.sh start [SERVICE..]  start (or reuse) and wait until each answers; prints the URLs
#   deploy/infra.sh stop [SERVICE..]   stop what this script started (pid files), cleanly
#   deploy/infra.sh restart [SERVICE..]
#   deploy/infra.sh status [SERVICE..] one line each; exit 3 when one is down
#   deploy/infra.sh up                 install + start
#   deploy/infra.sh env                `export CITELA_...=` lines, for  eval "$(deploy/infra.sh env)"
#   deploy/infra.sh purge              stop this instance and delete its folder, data included
# SERVICE: postgres (pg), redis, kafka. Every subcommand is idempotent.
#
# Settings (environment): CITELA_INFRA_DIR (<repo>/.local: data, logs, pid files of this instance),
# CITELA_INFRA_CACHE_DIR (<repo>/.local/cache: the Kafka classpath, shared by every instance),
# CITELA_PG_PORT (5432), CITELA_REDIS_PORT (6379), CITELA_KAFKA_PORT (9092),
# CITELA_KAFKA_CONTROLLER_PORT (9093), CITELA_KAFKA_VERSION (the pom's), CITELA_KAFKA_HEAP (768m),
# CITELA_INFRA_WAIT_S (120: how long start waits for a service), CITELA_PG_SHARED_BUFFERS (512MB).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# Absolute paths: the servers run from other working directories.
abspath() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
LOCAL_DIR=$(abspath "${CITELA_INFRA_DIR:-$REPO_ROOT/.local}")
CACHE_DIR=$(abspath "${CITELA_INFRA_CACHE_DIR:-$REPO_ROOT/.local/cache}")

PG_PORT=${CITELA_PG_PORT:-5432}
PG_ROLE=citela
PG_PASSWORD=citela
PG_DATABASES=(citela citela_test)
REDIS_PORT=${CITELA_REDIS_PORT:-6379}
KAFKA_PORT=${CITELA_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${CITELA_KAFKA_CONTROLLER_PORT:-9093}
KAFKA_VERSION=${CITELA_KAFKA_VERSION:-}
KAFKA_HEAP=${CITELA_KAFKA_HEAP:-768m}
WAIT_S=${CITELA_INFRA_WAIT_S:-120}
PG_SHARED_BUFFERS=${CITELA_PG_SHARED_BUFFERS:-512MB}

PG_URL="postgresql+psycopg://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/citela"
PG_TEST_URL="postgresql+psycopg://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/citela_test"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"

KAFKA_DIR=$LOCAL_DIR/kafka
REDIS_DIR=$LOCAL_DIR/redis
# .local/postgres may be a symlink (see pg_prepare_home): PG_HOME is the resolved path, the one
# handed to the postgres user (who may not be able to walk the symlink's own path).
PG_LINK=$LOCAL_DIR/postgres
PG_HOME=$PG_LINK
[ ! -L "$PG_LINK" ] || PG_HOME=$(readlink -f "$PG_LINK")

# ---------------------------------------------------------------------------------------------------
# helpers

# Progress goes to stderr so that stdout carries only what callers parse (URLs, env lines).
say() { printf 'infra: %s\n' "$*" >&2; }
die() { printf 'infra: error: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%01d s' $((ms / 1000)) $((ms % 1000 / 100)); }

# True when something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp: no nc needed).
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# The pid in file $1 when that process is alive and its command line contains $2, else fail.
# (The command check guards against a stale pid file whose pid was reused by another process.)
live_pid() {
    local pid cmd
    [ -s "$1" ] || return 1
    pid=$(tr -dc '0-9' <"$1")
    [ -n "$pid" ] && proc_running "$pid" || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$2"* ]] || return 1
    echo "$pid"
}

# True while process $1 runs. A zombie counts as gone: our daemons are re-parented to PID 1 once
# this script exits, and some inits reap late (seen here: ~1 s after a 0.5 s Kafka shutdown).
proc_running() {
    kill -0 "$1" 2>/dev/null || return 1
    [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d ' ' -f 1)" != Z ]
}

# Wait until process $1 has exited, at most $2 seconds; fail if it is still there.
wait_exit() {
    local deadline=$(( $(date +%s) + $2 ))
    while proc_running "$1"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
APT_UPDATED=
# apt/dpkg chatter goes to .local/apt.log; its tail is shown when a step fails.
apt_install() {
    [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null || die "need root (or sudo) to apt-get install $*"
    mkdir -p "$LOCAL_DIR"
    if [ -z "$APT_UPDATED" ]; then
        say "apt-get update"
        "${SUDO[@]}" apt-get update -q >>"$LOCAL_DIR/apt.log" 2>&1 ||
            { tail -n 20 "$LOCAL_DIR/apt.log" >&2; die "apt-get update failed"; }
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
        >>"$LOCAL_DIR/apt.log" 2>&1 || { tail -n 20 "$LOCAL_DIR/apt.log" >&2; say "apt-get install $* failed"; return 1; }
}

# ---------------------------------------------------------------------------------------------------
# PostgreSQL

# Debian keeps the server binaries under /usr/lib/postgresql/<major>/bin, off PATH
# (/usr/local/bin/initdb and pg_ctl on some machines are only symlinks into it).
# An existing data dir pins the major version it was created with.
pg_bindir() {
    local d=""
    if [ -f "$PG_HOME/data/PG_VERSION" ]; then
        d=/usr/lib/postgresql/$(cat "$PG_HOME/data/PG_VERSION")/bin
        [ -x "$d/postgres" ] || d=""
    fi
    [ -n "$d" ] || d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/psql" ]; then
        echo "$d"
    elif command -v initdb >/dev/null && command -v postgres >/dev/null && command -v psql >/dev/null; then
        dirname "$(readlink -f "$(command -v initdb)")"
    else
        return 1
    fi
}

# PostgreSQL refuses to run as root: as root the server runs as the `postgres` system user.
PG_USER=$(id -un)
[ "$(id -u)" -ne 0 ] || PG_USER=postgres
pg_as() {
    if [ "$PG_USER" = "$(id -un)" ]; then "$@"; else (cd / && runuser -u "$PG_USER" -- "$@"); fi
}

pg_install() {
    if pg_bindir >/dev/null; then return 0; fi
    # Only the binaries are wanted: stop the package from creating (and on some systems starting)
    # the default cluster on 5432, which would then sit on our port without the citela role.
    if [ ! -e /etc/postgresql-common/createcluster.d/citela.conf ]; then
        "${SUDO[@]}" mkdir -p /etc/postgresql-common/createcluster.d
        echo 'create_main_cluster = false' |
            "${SUDO[@]}" tee /etc/postgresql-common/createcluster.d/citela.conf >/dev/null
    fi
    apt_install postgresql || die "could not install PostgreSQL"
    pg_bindir >/dev/null || die "postgresql installed but no initdb/postgres found"
}

# Make <instance>/postgres a directory the server's user can write. A checkout under /root (mode
# 700), or an instance folder under a private temporary folder, is out of that user's reach: then
# the data lives under /var/lib/citela/<hash of the instance folder's path>/ and <instance>/postgres
# is a symlink to it (`purge` deletes both).
pg_prepare_home() {
    mkdir -p "$LOCAL_DIR"
    if [ -L "$PG_LINK" ]; then
        mkdir -p "$(readlink "$PG_LINK")"  # the fallback below, perhaps wiped since
    elif [ ! -e "$PG_LINK" ]; then
        mkdir "$PG_LINK"
    fi
    PG_HOME=$(readlink -f "$PG_LINK")
    if [ "$PG_USER" != "$(id -un)" ]; then
        id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
        chown "$PG_USER": "$PG_HOME"
        if ! pg_as test -w "$PG_HOME/."; then
            local alt
            alt=$(pg_fallback_home)
            say "postgres: $PG_USER cannot reach $PG_LINK; keeping the data in $alt (symlinked)"
            mkdir -p "$alt"
            chown "$PG_USER": "$alt"
            rmdir "$PG_LINK" 2>/dev/null || die "$PG_LINK is not empty and $PG_USER cannot reach it"
            ln -s "$alt" "$PG_LINK"
            PG_HOME=$alt
        fi
    fi
}

pg_fallback_home() { echo "/var/lib/citela/$(printf '%s' "$LOCAL_DIR" | sha1sum | cut -c1-12)/postgres"; }

pg_psql() {  # pg_psql DB SQL: one query as the citela role over TCP; prints unaligned rows
    PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -h 127.0.0.1 -p "$PG_PORT" \
        -U "$PG_ROLE" -d "$1" -v ON_ERROR_STOP=1 -Atqc "$2"
}

pg_ours_running() { pg_as "$PG_BIN/pg_ctl" status -D "$PG_HOME/data" >/dev/null 2>&1; }

pg_ensure_databases() {
    local db
    for db in "${PG_DATABASES[@]}"; do
        if [ "$(pg_psql postgres "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
            say "postgres: creating database $db"
            pg_psql postgres "CREATE DATABASE \"$db\" OWNER \"$PG_ROLE\" ENCODING 'UTF8' TEMPLATE template0" >/dev/null
        fi
    done
}

pg_start() {
    PG_BIN=$(pg_bindir) || die "PostgreSQL is not installed: run deploy/infra.sh install"
    local t0; t0=$(now_ms)
    pg_prepare_home
    if ! pg_ours_running && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
        # Someone else's server (a system cluster, a container): fine if our role can log in.
        pg_psql postgres 'SELECT 1' >/dev/null 2>&1 ||
            die "postgres: a server on port $PG_PORT does not accept $PG_ROLE/$PG_PASSWORD; stop it or set CITELA_PG_PORT"
        say "postgres: reusing the server already on port $PG_PORT"
        pg_ensure_databases
        return 0
    fi
    if [ ! -f "$PG_HOME/data/PG_VERSION" ]; then
        say "postgres: initdb in $PG_HOME/data"
        # The bootstrap superuser is the citela role itself: one credential, created with the cluster.
        local pw="$PG_HOME/.pwfile"
        printf '%s\n' "$PG_PASSWORD" >"$pw"
        chown "$PG_USER": "$pw" 2>/dev/null || true
        chmod 600 "$pw"
        pg_as "$PG_BIN/initdb" -D "$PG_HOME/data" -U "$PG_ROLE" --pwfile="$pw" --auth=scram-sha-256 \
            -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_HOME/initdb.log" 2>&1 ||
            { rm -f "$pw"; cat "$PG_HOME/initdb.log" >&2; die "postgres: initdb failed"; }
        rm -f "$pw"
        echo "include_if_exists = 'citela.conf'" >>"$PG_HOME/data/postgresql.conf"
    fi
    # Rewritten at each start so that a changed port takes effect.
    # TCP on loopback only, no unix socket (none can clash with a system cluster's socket);
    # synchronous_commit=off: a crash may lose the last few ms of commits, never corrupts; faster tests.
    # shared_buffers: PostgreSQL's 128 MB default holds less than a 100,000-entry catalogue and its
    # indexes (~230 MB): searches then read from the page cache through the kernel at every miss.
    cat >"$PG_HOME/data/citela.conf" <<EOF
# Written by deploy/infra.sh at each start.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
synchronous_commit = off
shared_buffers = $PG_SHARED_BUFFERS
EOF
    chown "$PG_USER": "$PG_HOME/data/citela.conf" 2>/dev/null || true
    if ! pg_ours_running; then
        say "postgres: starting on 127.0.0.1:$PG_PORT"
        touch "$PG_HOME/postgres.log"
        chown "$PG_USER": "$PG_HOME/postgres.log" 2>/dev/null || true
        pg_as "$PG_BIN/pg_ctl" start -D "$PG_HOME/data" -l "$PG_HOME/postgres.log" -w -t "$WAIT_S" >/dev/null ||
            { tail -n 30 "$PG_HOME/postgres.log" >&2; die "postgres: did not start"; }
    fi
    local deadline=$(( $(date +%s) + WAIT_S ))
    until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; do
        [ "$(date +%s)" -lt "$deadline" ] || { tail -n 30 "$PG_HOME/postgres.log" >&2; die "postgres: not ready"; }
        sleep 0.2
    done
    pg_ensure_databases
    say "postgres: ready ($(since "$t0"))"
}

pg_stop() {
    PG_BIN=$(pg_bindir) || return 0
    [ -f "$PG_HOME/data/PG_VERSION" ] && pg_ours_running || { say "postgres: not running (ours)"; return 0; }
    say "postgres: stopping"
    pg_as "$PG_BIN/pg_ctl" stop -D "$PG_HOME/data" -m fast -w -t 60 >/dev/null
}

pg_status() {
    local bin
    if bin=$(pg_bindir) && [ -f "$PG_HOME/data/PG_VERSION" ] &&
        PG_BIN=$bin pg_ours_running; then
        echo "postgres  running (pid $(head -n 1 "$PG_HOME/data/postmaster.pid"))  $PG_URL"
    elif port_open "$PG_PORT"; then
        echo "postgres  running (not started by infra.sh)  $PG_URL"
    else
        echo "postgres  stopped"; return 3
    fi
}

# ---------------------------------------------------------------------------------------------------
# Redis

REDIS_PIDFILE=$REDIS_DIR/redis.pid

redis_install() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
        apt_install redis-server || die "could not install Redis"
}

redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_start() {
    command -v redis-server >/dev/null || die "Redis is not installed: run deploy/infra.sh install"
    local t0; t0=$(now_ms)
    if ! live_pid "$REDIS_PIDFILE" redis-server >/dev/null; then
        if redis_ping; then
            say "redis: reusing the server already on port $REDIS_PORT"
            return 0
        fi
        mkdir -p "$REDIS_DIR"
        # Loopback only; persistent as in docker-compose.yml (--appendonly yes): the Celery
        # queues and their unacknowledged tasks survive a restart. The append-only file is
        # fsynced every second, as there; no RDB snapshots (the AOF alone is reloaded).
        cat >"$REDIS_DIR/redis.conf" <<EOF
# Written by deploy/infra.sh at each start.
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile $REDIS_PIDFILE
logfile $REDIS_DIR/redis.log
dir $REDIS_DIR
save ""
appendonly yes
appendfsync everysec
EOF
        say "redis: starting on 127.0.0.1:$REDIS_PORT"
        redis-server "$REDIS_DIR/redis.conf" || { tail -n 20 "$REDIS_DIR/redis.log" >&2; die "redis: did not start"; }
    fi
    local deadline=$(( $(date +%s) + WAIT_S ))
    until redis_ping; do
        [ "$(date +%s)" -lt "$deadline" ] || { tail -n 20 "$REDIS_DIR/redis.log" >&2; die "redis: not answering PING"; }
        sleep 0.1
    done
    say "redis: ready ($(since "$t0"))"
}

redis_stop() {
    local pid
    pid=$(live_pid "$REDIS_PIDFILE" redis-server) || { say "redis: not running (ours)"; rm -f "$REDIS_PIDFILE"; return 0; }
    say "redis: stopping"
    # SHUTDOWN flushes the append-only file before exiting.
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    wait_exit "$pid" 30 || { kill -KILL "$pid" 2>/dev/null || true; }
    rm -f "$REDIS_PIDFILE"
}

redis_status() {
    local pid
    if pid=$(live_pid "$REDIS_PIDFILE" redis-server); then
        echo "redis     running (pid $pid)  $REDIS_URL"
    elif port_open "$REDIS_PORT"; then
        echo "redis     running (not started by infra.sh)  $REDIS_URL"
    else
        echo "redis     stopped"; return 3
    fi
}

# ---------------------------------------------------------------------------------------------------
# Kafka: the broker's jars come from Maven Central (deploy/kafka/pom.xml) and stay in ~/.m2;
# $CACHE_DIR/kafka/classpath.txt lists them, for every instance (each has only its data and logs
# in <instance>/kafka). One JVM is broker and controller (KRaft combined mode).

KAFKA_PIDFILE=$KAFKA_DIR/kafka.pid
KAFKA_CACHE=$CACHE_DIR/kafka
KAFKA_CP=$KAFKA_CACHE/classpath.txt
KAFKA_LOG=$KAFKA_DIR/server.log

# The first java on JAVA_HOME / PATH / /usr/lib/jvm that is 17 or newer (Kafka 4 brokers need 17).
java_major() { "$1" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\)[."].*/\1/p'; }
find_java() {
    local j m
    for j in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java 2>/dev/null || true)" /usr/lib/jvm/*/bin/java; do
        [ -n "$j" ] && [ -x "$j" ] || continue
        m=$(java_major "$j")
        if [ -n "$m" ] && [ "$m" -ge 17 ]; then echo "$j"; return 0; fi
    done
    return 1
}

# The classpath file is current when it is newer than the pom, was made for the same version
# and every jar it names is still in the Maven repository (a CI cache may have been dropped).
kafka_classpath_ok() {
    [ -s "$KAFKA_CP" ] && [ "$KAFKA_CP" -nt "$SCRIPT_DIR/kafka/pom.xml" ] || return 1
    [ "$(cat "$KAFKA_CACHE/classpath.version" 2>/dev/null)" = "${KAFKA_VERSION:-default}" ] || return 1
    local jar
    while IFS= read -r jar; do [ -f "$jar" ] || return 1; done < <(tr ':' '\n' <"$KAFKA_CP")
}

kafka_install() {
    if ! find_java >/dev/null || ! command -v mvn >/dev/null; then
        apt_install default-jdk-headless maven || die "could not install Java and Maven"
    fi
    find_java >/dev/null || die "no Java 17+ found (Kafka 4 brokers need it)"
    # kcat: an independent Kafka client (librdkafka) the integration tests use. Optional.
    command -v kcat >/dev/null || apt_install kcat || say "kafka: kcat could not be installed (optional)"
    mkdir -p "$KAFKA_CACHE"
    # The cache is shared by the instances: one resolution at a time.
    local lock
    exec {lock}>"$KAFKA_CACHE/.lock"
    flock "$lock"
    # The classpath of the time when each instance kept its own (<repo>/.local/kafka/).
    local legacy=$REPO_ROOT/.local/kafka
    if [ ! -s "$KAFKA_CP" ] && [ -s "$legacy/classpath.txt" ]; then
        cp -p "$legacy/classpath.txt" "$legacy/classpath.version" "$KAFKA_CACHE/" 2>/dev/null || true
    fi
    if kafka_classpath_ok; then exec {lock}>&-; return 0; fi
    local t0; t0=$(now_ms)
    say "kafka: resolving the broker's jars with Maven${KAFKA_VERSION:+ (version $KAFKA_VERSION)}"
    # Maven's output goes to <cache>/kafka/maven.log (shown on failure); the jars stay in ~/.m2.
    JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(find_java)")")")} \
        mvn -B -Dstyle.color=never -f "$SCRIPT_DIR/kafka/pom.xml" dependency:build-classpath \
        -Dmdep.includeScope=runtime -Dmdep.outputFile="$KAFKA_CP.tmp" \
        ${KAFKA_VERSION:+-Dkafka.version="$KAFKA_VERSION"} >"$KAFKA_CACHE/maven.log" 2>&1 ||
        { grep -E 'ERROR|BUILD' "$KAFKA_CACHE/maven.log" | head -n 20 >&2; die "kafka: Maven could not resolve deploy/kafka/pom.xml (log: $KAFKA_CACHE/maven.log)"; }
    mv "$KAFKA_CP.tmp" "$KAFKA_CP"
    echo "${KAFKA_VERSION:-default}" >"$KAFKA_CACHE/classpath.version"
    exec {lock}>&-
    say "kafka: classpath ready ($(since "$t0"))"
}

kafka_java() {  # kafka_java MAINCLASS ARGS...: runs in the foreground with the broker's classpath/logging
    "$JAVA" -cp "$(cat "$KAFKA_CP")" -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="file:$SCRIPT_DIR/kafka/log4j2.properties" -Dkafka.logs.dir="$KAFKA_DIR" "$@"
}

kafka_start() {
    local t0 pid; t0=$(now_ms)
    if pid=$(live_pid "$KAFKA_PIDFILE" kafka.Kafka); then
        kafka_wait "$pid" "$(cat "$KAFKA_DIR/server.log.offset" 2>/dev/null || echo 0)"
        say "kafka: already running (pid $pid)"
        return 0
    fi
    if port_open "$KAFKA_PORT"; then
        say "kafka: reusing the broker already on port $KAFKA_PORT"
        return 0
    fi
    JAVA=$(find_java) || die "Java 17+ is not installed: run deploy/infra.sh install"
    kafka_classpath_ok || die "the Kafka classpath is missing or stale: run deploy/infra.sh install"
    mkdir -p "$KAFKA_DIR/data"
    sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@DATA_DIR@|$KAFKA_DIR/data|g" "$SCRIPT_DIR/kafka/server.properties" >"$KAFKA_DIR/server.properties"
    # Format the storage once; later starts (restarts) keep the topics and offsets.
    if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
        [ -s "$KAFKA_DIR/cluster.id" ] || kafka_java kafka.tools.StorageTool random-uuid >"$KAFKA_DIR/cluster.id"
        say "kafka: formatting $KAFKA_DIR/data (cluster id $(cat "$KAFKA_DIR/cluster.id"))"
        kafka_java kafka.tools.StorageTool format -t "$(cat "$KAFKA_DIR/cluster.id")" \
            -c "$KAFKA_DIR/server.properties" >&2 || die "kafka: storage format failed"
    fi
    # Keep the log from growing without end across many restarts.
    if [ -f "$KAFKA_LOG" ] && [ "$(stat -c %s "$KAFKA_LOG")" -gt 50000000 ]; then mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"; fi
    local log_offset=0
    [ -f "$KAFKA_LOG" ] && log_offset=$(stat -c %s "$KAFKA_LOG")
    echo "$log_offset" >"$KAFKA_DIR/server.log.offset"
    say "kafka: starting on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT)"
    # setsid + nohup: the broker outlives this script and its terminal/session (Ctrl-C, CI steps).
    # The inner bash writes its own pid and execs java, so the pid file holds the JVM's pid even
    # where setsid has to fork. JVM flags as in Kafka's kafka-server-start.sh, with a smaller heap.
    rm -f "$KAFKA_PIDFILE"
    # shellcheck disable=SC2016,SC2086
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PIDFILE" \
        "$JAVA" -Xms256m -Xmx"$KAFKA_HEAP" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="file:$SCRIPT_DIR/kafka/log4j2.properties" -Dkafka.logs.dir="$KAFKA_DIR" \
        ${CITELA_KAFKA_JAVA_OPTS:-} -cp "$(cat "$KAFKA_CP")" kafka.Kafka "$KAFKA_DIR/server.properties" \
        >"$KAFKA_DIR/stdout.log" 2>&1 </dev/null &
    local n=0
    until [ -s "$KAFKA_PIDFILE" ]; do
        n=$((n + 1)); [ "$n" -lt 100 ] || die "kafka: the launcher wrote no pid file"
        sleep 0.05
    done
    pid=$(cat "$KAFKA_PIDFILE")
    kafka_wait "$pid" "$log_offset"
    say "kafka: ready ($(since "$t0"))"
}

# Ready = this run of the broker logged "Kafka Server started" (it does so once unfenced, able to
# lead partitions) AND the port answers. Fails, with the log's tail, if the JVM dies or time runs out.
kafka_wait() {
    local pid=$1 log_offset=$2 deadline=$(( $(date +%s) + WAIT_S ))
    # grep -c, not -q: -q would quit at the first match and tail's SIGPIPE fail the pipeline.
    until tail -c +"$((log_offset + 1))" "$KAFKA_LOG" 2>/dev/null | grep -c 'Kafka Server started' >/dev/null &&
        port_open "$KAFKA_PORT"; do
        if ! proc_running "$pid" || [ "$(date +%s)" -ge "$deadline" ]; then
            tail -n 40 "$KAFKA_LOG" >&2 2>/dev/null || true
            tail -n 20 "$KAFKA_DIR/stdout.log" >&2 2>/dev/null || true
            kill -KILL "$pid" 2>/dev/null || true
            rm -f "$KAFKA_PIDFILE"
            die "kafka: broker did not start within ${WAIT_S}s (log: $KAFKA_LOG)"
        fi
        sleep 0.2
    done
}

# SIGTERM = Kafka's clean shutdown (it writes .kafka_cleanshutdown, so the next start skips log
# recovery); about half a second here. SIGKILL only if it hangs.
kafka_stop() {
    local pid t0; t0=$(now_ms)
    pid=$(live_pid "$KAFKA_PIDFILE" kafka.Kafka) || { say "kafka: not running (ours)"; rm -f "$KAFKA_PIDFILE"; return 0; }
    say "kafka: stopping (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_exit "$pid" 60; then
        say "kafka: no exit after 60 s, killing"
        kill -KILL "$pid" 2>/dev/null || true
        wait_exit "$pid" 10 || true
    fi
    rm -f "$KAFKA_PIDFILE"
    say "kafka: stopped ($(since "$t0"))"
}

kafka_status() {
    local pid
    if pid=$(live_pid "$KAFKA_PIDFILE" kafka.Kafka); then
        echo "kafka     running (pid $pid)  $KAFKA_BOOTSTRAP"
    elif port_open "$KAFKA_PORT"; then
        echo "kafka     running (not started by infra.sh)  $KAFKA_BOOTSTRAP"
    else
        echo "kafka     stopped"; return 3
    fi
}

# ---------------------------------------------------------------------------------------------------
# commands

ALL_SERVICES=(postgres redis kafka)

SERVICES=()
parse_services() {  # sets SERVICES from the arguments (none = all), normalised, in start order
    local s
    SERVICES=()
    [ $# -gt 0 ] || set -- "${ALL_SERVICES[@]}"
    for s in "$@"; do
        case $s in
            pg | postgres | postgresql) SERVICES+=(postgres) ;;
            redis) SERVICES+=(redis) ;;
            kafka) SERVICES+=(kafka) ;;
            *) die "unknown service '$s' (postgres, redis, kafka)" ;;
        esac
    done
}

url_of() {
    case $1 in
        postgres) echo "$PG_URL" ;;
        redis) echo "$REDIS_URL" ;;
        kafka) echo "$KAFKA_BOOTSTRAP" ;;
    esac
}

cmd_install() {
    local s
    parse_services "$@"
    for s in "${SERVICES[@]}"; do
        case $s in
            postgres) pg_install ;;
            redis) redis_install ;;
            kafka) kafka_install ;;
        esac
    done
    bench_tools_install
}

# wrk: the HTTP load generator of the benchmarks (bench/support/wrk.py). Optional.
bench_tools_install() {
    command -v wrk >/dev/null || apt_install wrk || say "wrk could not be installed (benchmarks need it)"
}

cmd_start() {
    local s
    parse_services "$@"
    for s in "${SERVICES[@]}"; do
        case $s in
            postgres) pg_start ;;
            redis) redis_start ;;
            kafka) kafka_start ;;
        esac
    done
    for s in "${SERVICES[@]}"; do printf '%-9s %s\n' "$s" "$(url_of "$s")"; done
}

cmd_stop() {
    local i
    parse_services "$@"
    # Reverse start order.
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
        case ${SERVICES[i]} in
            postgres) pg_stop ;;
            redis) redis_stop ;;
            kafka) kafka_stop ;;
        esac
    done
}

cmd_status() {
    local s rc=0
    parse_services "$@"
    for s in "${SERVICES[@]}"; do
        case $s in
            postgres) pg_status || rc=3 ;;
            redis) redis_status || rc=3 ;;
            kafka) kafka_status || rc=3 ;;
        esac
    done
    return $rc
}

# Only an instance of its own folder: the default one (<repo>/.local) also holds the shared cache
# and is the one every developer's tests use; delete it by hand if that is really meant.
cmd_purge() {
    [ -n "${CITELA_INFRA_DIR:-}" ] && [ "$LOCAL_DIR" != "$REPO_ROOT/.local" ] ||
        die "purge deletes an instance of its own folder only: set CITELA_INFRA_DIR"
    cmd_stop
    if [ -L "$PG_LINK" ]; then
        local target; target=$(readlink -f "$PG_LINK")
        # Only the fallback this script made (see pg_prepare_home), never another path.
        [ "$target" != "$(pg_fallback_home)" ] || rm -rf "$(dirname "$target")"
    fi
    rm -rf "$LOCAL_DIR"
    say "purged $LOCAL_DIR"
}

cmd_env() {
    cat <<EOF
export CITELA_DATABASE_URL='$PG_URL'
export CITELA_TEST_DATABASE_URL='$PG_TEST_URL'
export CITELA_REDIS_URL='$REDIS_URL'
export CITELA_KAFKA_BOOTSTRAP='$KAFKA_BOOTSTRAP'
EOF
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

main() {
    local cmd=${1:-}
    [ $# -eq 0 ] || shift
    case $cmd in
        install | start | stop | restart | up | purge)
            # One infra.sh at a time changes things (parallel test jobs may all call `start`).
            # flock -o: the lock's descriptor is not inherited by the servers started below.
            if [ -z "${CITELA_INFRA_LOCKED:-}" ]; then
                mkdir -p "$LOCAL_DIR"
                CITELA_INFRA_LOCKED=1 exec flock -o "$LOCAL_DIR/.infra.lock" bash "${BASH_SOURCE[0]}" "$cmd" "$@"
            fi
            ;;
    esac
    case $cmd in
        install) cmd_install "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        restart) cmd_stop "$@"; cmd_start "$@" ;;
        status) cmd_status "$@" ;;
        up) cmd_install "$@"; cmd_start "$@" ;;
        purge) cmd_purge ;;
        env) cmd_env ;;
        -h | --help | help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
