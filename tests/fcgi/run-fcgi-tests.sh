#!/bin/sh
# run-fcgi-tests.sh: integration tests of switchboard-fcgi behind real web
# servers, run by "make check".
#
# Starts a throw-away cluster (tests/db/pgcluster.sh) in a temporary
# directory, migrates database switchboard_fcgi, creates the login role
# sb_fcgi (IN ROLE switchboard_app), writes the token secret and a
# configuration, then starts on free loopback ports:
#   - switchboard-fcgi (FastCGI server on its own --listen);
#   - wsd, when built (for a long-poll woken by a WebSocket publish);
#   - lighttpd -D with contrib/lighttpd/switchboard.conf;
#   - Apache (apache2 -f <conf> -k start, its own PidFile and ErrorLog)
#     with contrib/apache/switchboard.conf and, under /cgi, the CGI-mode
#     contrib/apache/switchboard-cgi.conf;
# and runs the Python suite tests/fcgi/test_*.py (/usr/bin/python3, stdlib
# only; psql through subprocess) through each web server. On any exit
# every process is stopped by its PID, the cluster is stopped and the
# directory removed.
#
# Exit 0 when all pass, 1 on any failure, 77 (skipped) when PostgreSQL,
# psql or python3 are missing, or lighttpd or apache2 are absent and
# SB_REQUIRE_WEB is not 1.
#
# Environment (set by make check): top_srcdir, top_builddir, PG_BINDIR.
# Also: SB_PYTHON (default /usr/bin/python3), SB_FCGI_TESTS (modules or
# module.Class.test names to run instead of all), SB_FCGI_KEEP=1 (keep the
# temporary directory and its logs).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
FCGI=$top_builddir/fcgi/switchboard-fcgi
WSD=$top_builddir/wsd/wsd
PY=${SB_PYTHON:-/usr/bin/python3}
LIGHTTPD=${SB_LIGHTTPD:-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
APACHE=${SB_APACHE:-$(command -v apache2 || echo /usr/sbin/apache2)}
APACHE_MODULES=${SB_APACHE_MODULES:-/usr/lib/apache2/modules}
pgcluster=$top_srcdir/tests/db/pgcluster.sh
MODULES="test_rest test_auth test_poll test_sse test_bad_input test_modes
    test_tasks test_commit test_metrics_stream test_many_fds"

harness_name=run-fcgi-tests
harness_require=SB_REQUIRE_WEB
# shellcheck source=../harness.sh
. "$top_srcdir/tests/harness.sh"

# --- what we need ------------------------------------------------------------

require_pg_server
[ -x "$PY" ] || skip "$PY not found"
[ -x "$LIGHTTPD" ] || skip "lighttpd not found"
[ -x "$APACHE" ] || skip "apache2 not found"
[ -f "$APACHE_MODULES/mod_proxy_fcgi.so" ] ||
    skip "no mod_proxy_fcgi in $APACHE_MODULES"
[ -x "$FCGI" ] || fail "$FCGI not built"

migrate=$top_builddir/sql/switchboard-migrate
if [ -x "$migrate" ]; then
    migrate_cmd() { "$migrate" --sqldir "$top_srcdir/sql" "$@"; }
else
    migrate_cmd() { sh "$top_srcdir/sql/switchboard-migrate.in" --sqldir "$top_srcdir/sql" "$@"; }
fi

# --- the directory, and stopping everything in it ---------------------------

base=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-fcgitest.XXXXXX") || fail "mktemp"
# The cluster runs as postgres and Apache's children as www-data when run
# by root: both must reach what is in here.
chmod 0755 "$base"
cluster=$base/pg
piddir=$base/pids
mkdir -p "$piddir" "$base/www" "$base/bin" "$base/run"

# SIGTERM every PID file's process, SIGKILL what is left after 5 s.
# shellcheck disable=SC2317 # called by cleanup
stop_pids() {
    for f in "$piddir"/*.pid "$base/run/apache.pid"; do
        [ -s "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null
    done
    n=0
    while [ "$n" -lt 50 ]; do
        alive=
        for f in "$piddir"/*.pid "$base/run/apache.pid"; do
            [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && alive=1
        done
        [ -n "$alive" ] || break
        sleep 0.1
        n=$((n + 1))
    done
    for f in "$piddir"/*.pid "$base/run/apache.pid"; do
        [ -s "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null &&
            say "killed $(basename "$f" .pid) (did not stop on SIGTERM)"
        rm -f "$f"
    done
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop_pids
    "$pgcluster" stop "$cluster" >/dev/null 2>&1 ||
        echo "run-fcgi-tests: could not stop the cluster in $cluster" >&2
    if [ "${SB_FCGI_KEEP:-0}" = 1 ]; then
        say "kept $base"
    else
        rm -rf "$base"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# A free loopback TCP port (the kernel's choice).
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait up to 15 s for url to answer 200.
wait_http() {
    "$PY" - "$1" <<'PYEOF' || return 1
import sys, time, urllib.request
deadline = time.time() + 15
while time.time() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2).read()
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)
PYEOF
}

# --- the cluster ----------------------------------------------------------------

"$pgcluster" start "$cluster" >"$base/pg.env" || fail "could not start a cluster"
# shellcheck source=/dev/null
. "$base/pg.env"
export PGDATABASE=postgres
say "cluster on port $PGPORT (socket in $PGHOST)"
DB=switchboard_fcgi
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" || fail "createdb"
migrate_cmd -d "dbname=$DB" >"$base/migrate.log" 2>&1 ||
    { cat "$base/migrate.log" >&2; fail "switchboard-migrate"; }
psql -X -q -v ON_ERROR_STOP=1 \
    -c 'CREATE ROLE sb_fcgi LOGIN IN ROLE switchboard_app' ||
    fail "could not create the login role sb_fcgi"
psql -X -At -d "$DB" -c 'SELECT switchboard.token_secret()' \
    >"$base/token_secret" || fail "token_secret()"
chmod 0644 "$base/token_secret"

# --- switchboard-fcgi, wsd ---------------------------------------------------------

FCGI_PORT=$(free_port)
HTTP_L=$(free_port)
HTTP_A=$(free_port)
WSD_PORT=$(free_port)
SPAWN_PORT=$(free_port)
# Apache's children (www-data) run the CGI: give them a copy they can reach.
cp "$FCGI" "$base/bin/switchboard-fcgi" && chmod 0755 "$base/bin/switchboard-fcgi"

cat >"$base/fcgi.conf" <<EOF
database_url = host=$PGHOST port=$PGPORT dbname=$DB user=sb_fcgi
token_secret_file = $base/token_secret
listen = 127.0.0.1:$FCGI_PORT
threads = 4
max_parked = 8
poll_timeout = 5s
poll_timeout_max = 10s
sse_heartbeat = 1s
sse_retry = 1500ms
publish_rate = 5
publish_burst = 20
commit_window = 10ms
allowed_origins = https://dash.example.com
heartbeat_interval = 1s
log_level = info
EOF
chmod 0644 "$base/fcgi.conf"

"$FCGI" --config "$base/fcgi.conf" >"$base/fcgi.log" 2>&1 &
echo $! >"$piddir/fcgi.pid"

if [ -x "$WSD" ]; then
    cat >"$base/wsd.conf" <<EOF
database_url = host=$PGHOST port=$PGPORT dbname=$DB user=sb_fcgi
token_secret_file = $base/token_secret
listen_address = 127.0.0.1
listen_port = $WSD_PORT
EOF
    "$WSD" --config "$base/wsd.conf" >"$base/wsd.log" 2>&1 &
    echo $! >"$piddir/wsd.pid"
fi

# --- lighttpd --------------------------------------------------------------------

echo '<!doctype html><title>switchboard</title>' >"$base/www/index.html"
cat >"$base/lighttpd.conf" <<EOF
var.sb_fcgi_host = "127.0.0.1"
var.sb_fcgi_port = $FCGI_PORT
var.sb_wsd_host  = "127.0.0.1"
var.sb_wsd_port  = $WSD_PORT
var.sb_docroot   = "$base/www"
server.bind      = "127.0.0.1"
server.port      = $HTTP_L
server.errorlog  = "$base/lighttpd.err"
include "$top_srcdir/contrib/lighttpd/switchboard.conf"
EOF
"$LIGHTTPD" -tt -f "$base/lighttpd.conf" >"$base/lighttpd.check" 2>&1 ||
    { cat "$base/lighttpd.check" >&2; fail "lighttpd rejects the configuration"; }
"$LIGHTTPD" -D -f "$base/lighttpd.conf" >"$base/lighttpd.out" 2>&1 &
echo $! >"$piddir/lighttpd.pid"

# --- Apache ------------------------------------------------------------------------

apache_user=www-data
id "$apache_user" >/dev/null 2>&1 || apache_user=$(id -un)
apache_group=$(id -gn "$apache_user")
cat >"$base/apache.conf" <<EOF
ServerRoot "$base"
ServerName localhost
Listen 127.0.0.1:$HTTP_A
PidFile "$base/run/apache.pid"
ErrorLog "$base/apache.err"
LogLevel warn
DefaultRuntimeDir "$base/run"
Mutex file:$base/run default
User $apache_user
Group $apache_group
LoadModule mpm_event_module $APACHE_MODULES/mod_mpm_event.so
LoadModule authz_core_module $APACHE_MODULES/mod_authz_core.so
LoadModule alias_module $APACHE_MODULES/mod_alias.so
LoadModule env_module $APACHE_MODULES/mod_env.so
LoadModule cgid_module $APACHE_MODULES/mod_cgid.so
LoadModule proxy_module $APACHE_MODULES/mod_proxy.so
LoadModule proxy_fcgi_module $APACHE_MODULES/mod_proxy_fcgi.so
LoadModule proxy_http_module $APACHE_MODULES/mod_proxy_http.so
ScriptSock "$base/run/cgid.sock"
<IfModule mpm_event_module>
    ThreadsPerChild 32
    ServerLimit 4
    MaxRequestWorkers 128
</IfModule>
Define SB_FCGI 127.0.0.1:$FCGI_PORT
Define SB_WSD 127.0.0.1:$WSD_PORT
Define SB_DOCROOT $base/www
Define SB_CGI_PREFIX /cgi
Define SB_CGI_BIN $base/bin/switchboard-fcgi
Define SB_CGI_CONFIG $base/fcgi.conf
Include "$top_srcdir/contrib/apache/switchboard.conf"
Include "$top_srcdir/contrib/apache/switchboard-cgi.conf"
EOF
"$APACHE" -t -f "$base/apache.conf" >"$base/apache.check" 2>&1 ||
    { cat "$base/apache.check" >&2; fail "apache2 rejects the configuration"; }
"$APACHE" -f "$base/apache.conf" -k start >"$base/apache.out" 2>&1 ||
    { cat "$base/apache.out" "$base/apache.err" >&2; fail "apache2 did not start"; }

wait_http "http://127.0.0.1:$HTTP_L/api/v1/health" ||
    { cat "$base/fcgi.log" "$base/lighttpd.err" >&2; fail "lighttpd/switchboard-fcgi do not answer"; }
wait_http "http://127.0.0.1:$HTTP_A/api/v1/health" ||
    { cat "$base/apache.err" >&2; fail "Apache does not answer"; }
say "switchboard-fcgi on $FCGI_PORT, lighttpd on $HTTP_L, Apache on $HTTP_A, wsd on $WSD_PORT"

# --- the suite --------------------------------------------------------------------

SB_DB=$DB
SB_DIR=$base
SB_FCGI_BIN=$FCGI
SB_FCGI_CONFIG=$base/fcgi.conf
SB_TOKEN_SECRET_FILE=$base/token_secret
SB_SERVERS="lighttpd=http://127.0.0.1:$HTTP_L apache=http://127.0.0.1:$HTTP_A"
SB_CGI_URL=http://127.0.0.1:$HTTP_A/cgi
SB_WSD_URL=
[ -s "$piddir/wsd.pid" ] && SB_WSD_URL=ws://127.0.0.1:$WSD_PORT/ws
SB_SPAWN_PORT=$SPAWN_PORT
SB_PIDDIR=$piddir
export SB_DB SB_DIR SB_FCGI_BIN SB_FCGI_CONFIG SB_TOKEN_SECRET_FILE \
    SB_SERVERS SB_CGI_URL SB_WSD_URL SB_SPAWN_PORT SB_PIDDIR

cd "$here" || fail "cd $here"
# shellcheck disable=SC2086 # word splitting of the module list is meant
timeout 600 "$PY" -m unittest -v ${SB_FCGI_TESTS:-$MODULES}
rc=$?
# Stop everything now, so sanitizer reports at exit are in the logs.
stop_pids
logs=$(ls "$base"/fcgi*.log "$base/apache.err" 2>/dev/null)
# shellcheck disable=SC2086 # the list of log files is split on purpose
if grep -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' \
    $logs >&2; then
    say "sanitizer reports in fcgi.log, fcgi-*.log or apache.err"
    rc=1
fi
if [ "$rc" -eq 0 ]; then
    say "all passed"
    exit 0
fi
say "logs: fcgi.log, lighttpd.err, apache.err in $base (SB_FCGI_KEEP=1 keeps them)"
tail -n 30 "$base/fcgi.log" >&2
exit 1
