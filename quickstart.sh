#!/usr/bin/env bash
# quickstart.sh: install, build, run and test switchboard on Debian 12.
#
#   ./quickstart.sh          install dependencies, build, and start the whole
#                            stack: a private PostgreSQL cluster under ./var
#                            (or the database named by SWITCHBOARD_DATABASE_URL),
#                            wsd, switchboard-fcgi behind lighttpd serving the
#                            dashboard, and the demo agent; prints the
#                            dashboard URL
#   ./quickstart.sh --apache the same with Apache instead of lighttpd
#   ./quickstart.sh test     run every test: build with -Werror, make check,
#                            make distcheck, make check under ASan+UBSan, and
#                            a short libFuzzer run of every parser
#   ./quickstart.sh stop     stop what it started (by the PIDs in ./var)
#   ./quickstart.sh status   show each service
#   ./quickstart.sh deps     only install the Debian packages
#
# Ports (all on 127.0.0.1): SWITCHBOARD_HTTP_PORT (8081, the web server:
# dashboard, /api, /ws), SWITCHBOARD_WSD_PORT (8080, wsd itself) and
# SWITCHBOARD_FCGI_PORT (9000, switchboard-fcgi's FastCGI socket).
# Everything the stack writes lives in ./var; "rm -rf var" after "stop"
# forgets it. Daemons are stopped by the PIDs recorded there.
set -euo pipefail

top=$(cd "$(dirname "$0")" && pwd)
var="$top/var"
jobs=$(nproc 2>/dev/null || echo 2)

DEPS_BUILD="build-essential autoconf automake pkg-config libfcgi-dev libpq-dev
  libwebsockets-dev libev-dev libjansson-dev libssl-dev uuid-dev check clang
  libclang-rt-14-dev"
DEPS_RUN="postgresql-15 postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
  python3-websockets lighttpd apache2 curl nodejs npm chromium"

say() { printf '%s\n' "quickstart: $*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

cmd_deps() {
    local missing=()
    for p in $DEPS_BUILD $DEPS_RUN; do
        # Node.js builds from outside Debian bring their own npm and
        # conflict with Debian's package of it.
        [ "$p" = npm ] && command -v npm > /dev/null 2>&1 && continue
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
    export SB_REQUIRE_NODE=1 SB_REQUIRE_BROWSER=1
    # make distcheck's copy of the tests loads playwright-core from here.
    export SB_BROWSER_MODULES_DIR="$top/tests/browser"
    if [ -f "$top/tests/browser/package.json" ]; then
        say "npm install in tests/browser"
        (cd "$top/tests/browser" && npm install --no-audit --no-fund) ||
            die "npm install in tests/browser failed"
    fi
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
        printf '# switchboard-fcgi of the quick-start stack\n%s\nlisten = 127.0.0.1:%s\n' \
            "$common" "$fcgi_port" > "$var/fcgi.conf"
        printf '# the demo agent of the quick-start stack\ndsn = %s\nlog_level = info\n' \
            "$app_url" > "$var/agent.conf"
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

# Something accepts TCP connections on 127.0.0.1:PORT.
tcp_ok() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_bg NAME COMMAND...: run it in the background, output appended to
# var/NAME.log, PID in var/NAME.pid (unless it already runs).
start_bg() {
    local name=$1
    shift
    daemon_running "$name" && return 0
    "$@" < /dev/null >> "$var/$name.log" 2>&1 &
    echo $! > "$var/$name.pid"
}

# wait_ready NAME WHAT COMMAND...: until COMMAND succeeds, at most 10 s, and
# only while NAME runs.
wait_ready() {
    local name=$1 what=$2
    shift 2
    for _ in $(seq 50); do
        "$@" 2>/dev/null && return 0
        daemon_running "$name" || break
        sleep 0.2
    done
    tail -n 20 "$var/$name.log" "$var/$name.err" 2>/dev/null >&2 || true
    die "$name is not ready: $what (log above)"
}

start_daemons() {
    start_bg wsd "$top/build/wsd/wsd" --config "$var/wsd.conf"
    wait_ready wsd "http://127.0.0.1:$wsd_port/healthz" http_ok "$wsd_port" /healthz
    start_bg fcgi "$top/build/fcgi/switchboard-fcgi" --config "$var/fcgi.conf"
    wait_ready fcgi "FastCGI on 127.0.0.1:$fcgi_port" tcp_ok "$fcgi_port"
    start_bg agent "$top/build/contrib/agent/switchboard-demo-agent" \
        --config "$var/agent.conf"
    wait_ready agent "following the chat channels" \
        grep -q 'following .* chat channels' "$var/agent.log"
}

# The document root: the dashboard and, beside it, the JavaScript client.
make_www() {
    rm -rf "$var/www"
    mkdir -p "$var/www/js"
    if [ -f "$top/contrib/dashboard/index.html" ]; then
        cp -R "$top/contrib/dashboard/." "$var/www/"
    else
        printf '%s\n' '<!doctype html><title>switchboard</title>' \
            '<p>No dashboard in contrib/dashboard; the API answers at <a href="/api/v1/health">/api/v1/health</a>.' \
            > "$var/www/index.html"
    fi
    if [ -f "$top/contrib/js/switchboard.js" ]; then
        cp "$top/contrib/js/switchboard.js" "$var/www/js/switchboard.js"
    fi
    chmod -R a+rX "$var/www"
}

start_lighttpd() {
    cat > "$var/lighttpd.conf" <<EOF
# lighttpd of the quick-start stack: contrib/lighttpd/switchboard.conf on
# 127.0.0.1:$http_port
var.sb_fcgi_host = "127.0.0.1"
var.sb_fcgi_port = $fcgi_port
var.sb_wsd_host  = "127.0.0.1"
var.sb_wsd_port  = $wsd_port
var.sb_docroot   = "$var/www"
server.bind      = "127.0.0.1"
server.port      = $http_port
server.errorlog  = "$var/lighttpd.err"
include_shell "/usr/share/lighttpd/create-mime.conf.pl"
include "$top/contrib/lighttpd/switchboard.conf"
EOF
    lighttpd -tt -f "$var/lighttpd.conf" > /dev/null ||
        die "lighttpd rejects $var/lighttpd.conf"
    start_bg lighttpd lighttpd -D -f "$var/lighttpd.conf"
}

# Apache as its own unprivileged instance: its own PidFile, ErrorLog and
# runtime directory under var, children as www-data when run by root.
start_apache() {
    local mods=/usr/lib/apache2/modules user=www-data
    daemon_running apache && return 0
    id "$user" > /dev/null 2>&1 || user=$(id -un)
    mkdir -p "$var/apache-run"
    cat > "$var/apache.conf" <<EOF
# Apache of the quick-start stack: contrib/apache/switchboard.conf on
# 127.0.0.1:$http_port
ServerRoot "$var"
ServerName localhost
Listen 127.0.0.1:$http_port
PidFile "$var/apache.pid"
ErrorLog "$var/apache.err"
LogLevel warn
DefaultRuntimeDir "$var/apache-run"
Mutex file:$var/apache-run default
User $user
Group $(id -gn "$user")
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule alias_module $mods/mod_alias.so
LoadModule mime_module $mods/mod_mime.so
LoadModule dir_module $mods/mod_dir.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_fcgi_module $mods/mod_proxy_fcgi.so
LoadModule proxy_http_module $mods/mod_proxy_http.so
TypesConfig /etc/mime.types
DirectoryIndex index.html
Define SB_FCGI 127.0.0.1:$fcgi_port
Define SB_WSD 127.0.0.1:$wsd_port
Define SB_DOCROOT $var/www
Include "$top/contrib/apache/switchboard.conf"
EOF
    apache2 -t -f "$var/apache.conf" 2> /dev/null ||
        die "apache2 rejects $var/apache.conf"
    apache2 -f "$var/apache.conf" -k start ||
        die "apache2 did not start (see $var/apache.err)"
    for _ in $(seq 50); do
        [ -s "$var/apache.pid" ] && return 0
        sleep 0.1
    done
    die "apache2 wrote no $var/apache.pid (see $var/apache.err)"
}

# Start WEB (lighttpd or apache) after stopping the other one, then wait
# for the API behind it.
start_web() {
    local web=$1
    case $web in
    lighttpd) stop_daemon apache; start_lighttpd ;;
    apache) stop_daemon lighttpd; start_apache ;;
    esac
    wait_ready "$web" "http://127.0.0.1:$http_port/api/v1/health" \
        http_ok "$http_port" /api/v1/health
}

cmd_up() {
    local web=${1:-lighttpd}
    cmd_deps
    say "building"
    build "$top/build"
    mkdir -p "$var"
    wsd_port=${SWITCHBOARD_WSD_PORT:-8080}
    fcgi_port=${SWITCHBOARD_FCGI_PORT:-9000}
    http_port=${SWITCHBOARD_HTTP_PORT:-8081}
    database_urls
    db_setup
    write_config
    "$top/build/fcgi/switchboard-fcgi" --config "$var/fcgi.conf" \
        --check-config > /dev/null || die "switchboard-fcgi rejected fcgi.conf"
    start_daemons
    make_www
    start_web "$web"
    print_summary "$web"
}

print_summary() {
    local token url=$owner_url
    token=$(psql -X -q -d "$url" -tAc \
        "SELECT switchboard.mint_token('demo', 'admin', '12 hours')")
    cat <<EOF

switchboard is up ($1 on 127.0.0.1:$http_port, wsd, switchboard-fcgi, the demo agent).

  dashboard    http://127.0.0.1:$http_port/#token=$token
  API          http://127.0.0.1:$http_port/api/v1/health   (WebSocket: ws://127.0.0.1:$http_port/ws)
  admin token  export TOKEN=$token
  chat         curl -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
                 -d '{"type":"message","data":{"text":"hello"}}' \\
                 http://127.0.0.1:$http_port/api/v1/channels/chat:demo/events
  database     psql "$url" -c "SELECT * FROM switchboard.recent_chat"
  config, logs $var/*.conf, $var/*.log
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

# In the order that lets each finish its work: the web servers first, the
# agent before the database it writes to.
SERVICES="lighttpd apache agent fcgi wsd"

cmd_stop() {
    for d in $SERVICES; do
        stop_daemon "$d"
    done
    if [ -f "$var/pg.env" ]; then
        "$top/tests/db/pgcluster.sh" stop "$var/pg" --keep
        rm -f "$var/pg.env"
        say "stopped the private PostgreSQL cluster (data kept in var/pg)"
    fi
}

cmd_status() {
    for d in $SERVICES; do
        if daemon_running "$d"; then
            say "$d: running, pid $(cat "$var/$d.pid")"
        else
            say "$d: stopped"
        fi
    done
    if [ -f "$var/pg.env" ] &&
        "$top/tests/db/pgcluster.sh" status "$var/pg" >/dev/null 2>&1; then
        say "private PostgreSQL cluster: running ($(tr '\n' ' ' < "$var/pg.env"))"
    else
        say "private PostgreSQL cluster: stopped"
    fi
}

case "${1:-up}" in
up) cmd_up lighttpd ;;
--apache | apache) cmd_up apache ;;
test) cmd_test ;;
stop) cmd_stop ;;
status) cmd_status ;;
deps) cmd_deps ;;
-h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p' ;;
*) die "unknown command: $1 (try --help)" ;;
esac
