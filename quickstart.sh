#!/usr/bin/env bash
# quickstart.sh: install, build, run and test switchboard on Debian 12.
#
#   ./quickstart.sh          install dependencies, build, start the stack on a
#                            private PostgreSQL cluster under ./var (or on the
#                            database named by SWITCHBOARD_DATABASE_URL)
#   ./quickstart.sh test     run every test: build with -Werror, make check,
#                            make distcheck, make check under ASan+UBSan, and
#                            a short libFuzzer run of every parser
#   ./quickstart.sh stop     stop what "up" started
#   ./quickstart.sh status   show what is running
#   ./quickstart.sh deps     only install the Debian packages
#
# Everything the stack writes lives in ./var; "rm -rf var" after "stop"
# forgets it. Daemons are stopped by the PIDs recorded there.
set -euo pipefail

top=$(cd "$(dirname "$0")" && pwd)
var="$top/var"
jobs=$(nproc 2>/dev/null || echo 2)

DEPS_BUILD="build-essential autoconf automake pkg-config libfcgi-dev libpq-dev
  libwebsockets-dev libjansson-dev libssl-dev uuid-dev check clang
  libclang-rt-14-dev"
DEPS_RUN="postgresql-15 postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
  python3-websockets lighttpd apache2 curl"

say() { printf '%s\n' "quickstart: $*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

cmd_deps() {
    local missing=()
    for p in $DEPS_BUILD $DEPS_RUN; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"
}

# build DIR [configure options...]: out-of-tree build in DIR.
build() {
    local dir=$1
    shift
    [ -x "$top/configure" ] || (cd "$top" && autoreconf -fi)
    mkdir -p "$dir"
    if [ ! -f "$dir/Makefile" ] || [ "$top/configure" -nt "$dir/Makefile" ]; then
        (cd "$dir" && "$top/configure" -q "$@")
    fi
    make -s -C "$dir" -j"$jobs"
}

cmd_test() {
    cmd_deps
    export SB_REQUIRE_DB=1 SB_REQUIRE_WSD=1 SB_REQUIRE_WEB=1
    say "build with warnings as errors, then make check"
    build "$top/build" --enable-werror
    make -C "$top/build" -j"$jobs" check || fail_logs "$top/build"
    db_figures "$top/build"
    say "make distcheck"
    make -C "$top/build" -j"$jobs" distcheck \
        DISTCHECK_CONFIGURE_FLAGS=--enable-werror || die "distcheck failed"
    say "build with AddressSanitizer + UndefinedBehaviorSanitizer, make check"
    build "$top/build-asan" --enable-werror --enable-sanitizers --enable-debug
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        make -C "$top/build-asan" -j"$jobs" check || fail_logs "$top/build-asan"
    db_figures "$top/build-asan"
    say "libFuzzer on every parser, ${FUZZ_SECONDS:-10} s each"
    build "$top/build-fuzz" CC=clang --enable-fuzzing
    make -C "$top/build-fuzz" fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-10}" ||
        die "fuzzing found a failure (tests/fuzz/work in build-fuzz)"
    say "all tests passed"
}

# What the database tests measured, from their log.
db_figures() {
    grep -hE '^(run-db-tests|lib_vs_sql|seq_concurrency): |^Files=' \
        "$1/tests/db/run-db-tests.sh.log" >&2 || true
}

fail_logs() {
    find "$1/tests" -name '*.log' -newer "$1/Makefile" -print0 |
        xargs -0 grep -l -E '^(FAIL|ERROR)|not ok|FAIL:' 2>/dev/null |
        while read -r f; do say "---- $f"; tail -n 60 "$f" >&2; done
    die "tests failed (logs above)"
}

# The private cluster: data in var/pg, owned by the postgres user when run as
# root (PostgreSQL refuses to run as root), socket and port recorded in
# var/pg.env.
cluster_up() {
    if [ -f "$var/pg.env" ] && "$top/tests/db/pgcluster.sh" status "$var/pg" \
        >/dev/null 2>&1; then
        return 0
    fi
    mkdir -p "$var"
    "$top/tests/db/pgcluster.sh" start "$var/pg" > "$var/pg.env"
}

# Sets owner_url (migrations, secrets, minting) and app_url (the daemons).
# SWITCHBOARD_DATABASE_URL names an existing database; its owner prepares
# the daemons' role (docs/OPERATIONS.md) and may name it in
# SWITCHBOARD_APP_DATABASE_URL.
database_urls() {
    if [ -n "${SWITCHBOARD_DATABASE_URL:-}" ]; then
        owner_url=$SWITCHBOARD_DATABASE_URL
        app_url=${SWITCHBOARD_APP_DATABASE_URL:-$owner_url}
        return
    fi
    cluster_up
    # shellcheck disable=SC1091
    . "$var/pg.env"
    local base="host=$PGHOST port=$PGPORT"
    psql -X -q -d "$base user=$PGUSER dbname=postgres" -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'switchboard'" | grep -q 1 ||
        psql -X -q -d "$base user=$PGUSER dbname=postgres" \
            -c 'CREATE DATABASE switchboard'
    owner_url="$base user=$PGUSER dbname=switchboard"
    app_url="$base user=switchboard dbname=switchboard"
}

# The schema, and on the private cluster the daemons' login role.
db_setup() {
    "$top/build/sql/switchboard-migrate" --sqldir "$top/sql" -d "$owner_url"
    [ -z "${SWITCHBOARD_DATABASE_URL:-}" ] || return 0
    psql -X -q -d "$owner_url" -v ON_ERROR_STOP=1 <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'switchboard') THEN
        CREATE ROLE switchboard LOGIN IN ROLE switchboard_app;
    END IF;
END $$;
SQL
}

# One file per daemon: each rejects options it does not have.
write_config() {
    local secret common
    secret=$(psql -X -q -d "$owner_url" -tAc 'SELECT switchboard.token_secret()')
    common="database_url = $app_url
token_secret = $secret
log_level = info"
    (
        umask 077
        printf '# wsd of the quick-start stack (see wsd.conf.example)\n%s\nlisten_port = %s\n' \
            "$common" "$wsd_port" > "$var/wsd.conf"
        printf '# switchboard-fcgi of the quick-start stack\n%s\n' "$common" \
            > "$var/fcgi.conf"
    )
}

daemon_running() {
    [ -f "$var/$1.pid" ] && kill -0 "$(cat "$var/$1.pid")" 2>/dev/null
}

# GET http://127.0.0.1:PORT/PATH answers 200 (bash's /dev/tcp, no curl needed).
http_ok() {
    local reply
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    read -r -t 2 reply <&3 || true
    exec 3<&-
    case "$reply" in "HTTP/1."?" 200"*) return 0 ;; esac
    return 1
}

start_wsd() {
    daemon_running wsd && return 0
    "$top/build/wsd/wsd" --config "$var/wsd.conf" --log_file "$var/wsd.log" \
        < /dev/null > /dev/null 2>&1 &
    echo $! > "$var/wsd.pid"
    for _ in $(seq 50); do
        http_ok "$wsd_port" /healthz 2>/dev/null && return 0
        daemon_running wsd || break
        sleep 0.2
    done
    tail -n 20 "$var/wsd.log" >&2 || true
    die "wsd did not become healthy on port $wsd_port (log above)"
}

cmd_up() {
    cmd_deps
    say "building"
    build "$top/build"
    mkdir -p "$var"
    wsd_port=${SWITCHBOARD_WSD_PORT:-8080}
    database_urls
    db_setup
    write_config
    "$top/build/fcgi/switchboard-fcgi" --config "$var/fcgi.conf" \
        --check-config > /dev/null || die "switchboard-fcgi rejected fcgi.conf"
    start_wsd
    print_summary
}

print_summary() {
    local token url=$owner_url
    token=$(psql -X -q -d "$url" -tAc \
        "SELECT switchboard.mint_token('demo', 'admin', '12 hours')")
    cat <<EOF

switchboard is up.
  database     psql "$url"
  WebSocket    ws://127.0.0.1:$wsd_port/ws   (health: http://127.0.0.1:$wsd_port/healthz)
  config       $var/wsd.conf, $var/fcgi.conf; logs in $var/*.log
  admin token  $token
  try          psql "$url" -c "SELECT switchboard.log_activity('activity:main', 'info', 'hello')"
               psql "$url" -c "SELECT * FROM switchboard.recent_activity"
  stop         ./quickstart.sh stop
EOF
}

stop_daemon() {
    daemon_running "$1" || { rm -f "$var/$1.pid"; return 0; }
    local pid
    pid=$(cat "$var/$1.pid")
    kill -TERM "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    rm -f "$var/$1.pid"
    say "stopped $1 (pid $pid)"
}

cmd_stop() {
    stop_daemon wsd
    if [ -f "$var/pg.env" ]; then
        "$top/tests/db/pgcluster.sh" stop "$var/pg" --keep
        rm -f "$var/pg.env"
        say "stopped the private PostgreSQL cluster (data kept in var/pg)"
    fi
}

cmd_status() {
    if daemon_running wsd; then
        say "wsd: running, pid $(cat "$var/wsd.pid")"
    else
        say "wsd: stopped"
    fi
    if [ -f "$var/pg.env" ] &&
        "$top/tests/db/pgcluster.sh" status "$var/pg" >/dev/null 2>&1; then
        say "private PostgreSQL cluster: running ($(tr '\n' ' ' < "$var/pg.env"))"
    else
        say "private PostgreSQL cluster: stopped"
    fi
}

case "${1:-up}" in
up) cmd_up ;;
test) cmd_test ;;
stop) cmd_stop ;;
status) cmd_status ;;
deps) cmd_deps ;;
-h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p' ;;
*) die "unknown command: $1 (try --help)" ;;
esac
