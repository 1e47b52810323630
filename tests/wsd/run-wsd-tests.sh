#!/bin/sh
# run-wsd-tests.sh: integration tests of wsd with real WebSocket clients,
# run by "make check".
#
# Starts a throw-away cluster (tests/db/pgcluster.sh) in a temporary
# directory, migrates database switchboard_wsd, creates the login role
# sb_wsd (IN ROLE switchboard_app), writes the token secret to a file and a
# configuration per node, starts two wsd processes ("a" and "b", each on its
# own free loopback port, with a PID file) and runs the Python suite
# tests/wsd/test_*.py with /usr/bin/python3 (Debian's, which has the
# websockets module). Tests that need other limits, or a node to kill, start
# further wsd processes themselves (tests/wsd/sbtest.py), with PID files in
# the same directory. On any exit every PID file's process is stopped by its
# PID, the cluster is stopped and the directory removed.
#
# Exit 0 when all pass, 1 on any failure, 77 (skipped) when PostgreSQL, psql,
# python3 with websockets are missing, or when wsd exits at once instead of
# serving (it does not serve yet), unless SB_REQUIRE_WSD=1.
#
# Environment (set by make check): top_srcdir, top_builddir, PG_BINDIR.
# Also: SB_WSD_BIN (the wsd to test; default $top_builddir/wsd/wsd),
# SB_PYTHON (default /usr/bin/python3), SB_WSD_TESTS (test modules or
# module.Class.test names to run instead of all), SB_WSD_RUN (a shell
# command to run against the nodes instead of the suite, for debugging),
# SB_WSD_KEEP=1 (keep the temporary directory and its logs), SB_WSD_SLOW=1
# (also the test that waits over 60 s for a crashed node's presence to go).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
WSD=${SB_WSD_BIN:-$top_builddir/wsd/wsd}
PY=${SB_PYTHON:-/usr/bin/python3}
pgcluster=$top_srcdir/tests/db/pgcluster.sh

# The suite, in order: the database restart comes last, as it disturbs
# every node for a moment.
MODULES="test_http test_auth test_permissions test_stream test_open_subscribe test_publish
test_presence test_limits test_bad_input test_metrics test_dbconn test_multinode
test_pg_restart"

harness_name=run-wsd-tests
harness_require=SB_REQUIRE_WSD
# shellcheck source=../harness.sh
. "$top_srcdir/tests/harness.sh"

# --- what we need ------------------------------------------------------------

require_pg_server
[ -x "$PY" ] || skip "$PY not found"
"$PY" -c 'import websockets' 2>/dev/null ||
    skip "$PY has no websockets module (apt-get install python3-websockets)"
[ -x "$WSD" ] || skip "$WSD not built"

migrate=$top_builddir/sql/switchboard-migrate
if [ -x "$migrate" ]; then
    migrate_cmd() { "$migrate" --sqldir "$top_srcdir/sql" "$@"; }
else
    migrate_cmd() { sh "$top_srcdir/sql/switchboard-migrate.in" --sqldir "$top_srcdir/sql" "$@"; }
fi

# --- the cluster ----------------------------------------------------------------

base=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-wsdtest.XXXXXX") || fail "mktemp"
# When run as root the server runs as postgres, which must reach the cluster.
chmod 0755 "$base"
cluster=$base/pg
piddir=$base/pids
mkdir -p "$piddir"

# Stop every process that has a PID file here: SIGTERM, then SIGKILL
# whatever is left after 5 s.
# shellcheck disable=SC2317 # called by cleanup
stop_pids() {
    for f in "$piddir"/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill -TERM "$pid" 2>/dev/null
    done
    n=0
    while [ "$n" -lt 50 ]; do
        alive=
        for f in "$piddir"/*.pid; do
            [ -f "$f" ] || continue
            kill -0 "$(cat "$f")" 2>/dev/null && alive=1
        done
        [ -n "$alive" ] || break
        sleep 0.1
        n=$((n + 1))
    done
    for f in "$piddir"/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill -KILL "$pid" 2>/dev/null && say "killed wsd $pid (did not stop on SIGTERM)"
        rm -f "$f"
    done
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop_pids
    if [ "${SB_WSD_KEEP:-0}" = 1 ]; then
        "$pgcluster" stop "$cluster" --keep >/dev/null 2>&1 ||
            echo "run-wsd-tests: could not stop the cluster in $cluster" >&2
        say "kept $base"
    else
        "$pgcluster" stop "$cluster" >/dev/null 2>&1 ||
            echo "run-wsd-tests: could not stop the cluster in $cluster" >&2
        rm -rf "$base"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

envfile=$base/pg.env
"$pgcluster" start "$cluster" >"$envfile" || fail "could not start a cluster"
# shellcheck source=/dev/null
. "$envfile"
export PGDATABASE=postgres
say "cluster on port $PGPORT (socket in $PGHOST)"

sql() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"
}

db=switchboard_wsd
sql -c "CREATE DATABASE $db" || fail "createdb $db"
out=$(migrate_cmd -q -d "dbname=$db" 2>&1) || { echo "$out" >&2; fail "switchboard-migrate"; }
sql -c 'CREATE ROLE sb_wsd LOGIN IN ROLE switchboard_app' ||
    fail "could not create the login role sb_wsd"
secret=$base/token_secret
sql -d "$db" -c 'SELECT switchboard.token_secret()' >"$secret" ||
    fail "could not read the token secret"
chmod 0600 "$secret"
[ -s "$secret" ] || fail "empty token secret"

# --- the nodes ----------------------------------------------------------------------

free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# The options every node of the suite shares. Tight auth_timeout and
# token_grace keep the expiry tests short; a high publish rate lets one
# connection publish at full speed (the rate limit is tested on a node of
# its own).
write_config() { # NAME PORT
    cat >"$base/wsd-$1.conf" <<EOF
# wsd node $1 of the switchboard wsd tests
database_url = host=$PGHOST port=$PGPORT dbname=$db user=sb_wsd
token_secret_file = $secret
listen_address = 127.0.0.1
listen_port = $2
node_id = wsdtest-$1
log_level = info
auth_timeout = 2s
token_grace = 3s
heartbeat_interval = 1s
publish_rate = 100000
publish_burst = 100000
EOF
}

healthz() { # PORT: exit 0 when /healthz answers 200
    "$PY" - "$1" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen("http://127.0.0.1:%s/healthz" % sys.argv[1], timeout=1) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

# Start node NAME on PORT, wait up to 10 s for /healthz. Exit 77 when the
# process ends before it serves (a wsd that does not serve yet), 1 when it
# runs but never becomes healthy.
start_node() { # NAME PORT
    write_config "$1" "$2"
    "$WSD" --config "$base/wsd-$1.conf" >"$base/wsd-$1.log" 2>&1 &
    pid=$!
    echo "$pid" >"$piddir/$1.pid"
    n=0
    while [ $n -lt 100 ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            rc=$?
            rm -f "$piddir/$1.pid"
            sed 's/^/  wsd: /' "$base/wsd-$1.log" | tail -n 20
            skip "wsd exited with status $rc before serving on port $2 (a $WSD that does not serve yet, or options it does not take: see above)"
        fi
        if healthz "$2"; then
            say "wsd $1 (pid $pid) serves on 127.0.0.1:$2"
            return 0
        fi
        sleep 0.1
        n=$((n + 1))
    done
    sed 's/^/  wsd: /' "$base/wsd-$1.log" | tail -n 20
    fail "wsd $1 (pid $pid) runs but /healthz on port $2 did not answer 200 within 10 s"
}

port_a=$(free_port) || fail "no free port"
start_node a "$port_a"
port_b=$(free_port) || fail "no free port"
start_node b "$port_b"

# --- the suite -------------------------------------------------------------------------

SB_WSD_BIN=$WSD
SB_WSD_DIR=$base
SB_WSD_PIDDIR=$piddir
SB_WSD_CONFIG=$base/wsd-a.conf
SB_WSD_URL_A=ws://127.0.0.1:$port_a/ws
SB_WSD_URL_B=ws://127.0.0.1:$port_b/ws
SB_WSD_PORT_A=$port_a
SB_WSD_PORT_B=$port_b
SB_TOKEN_SECRET_FILE=$secret
SB_PGCLUSTER=$pgcluster
SB_PGCLUSTER_DIR=$cluster
SB_DB=$db
export SB_WSD_BIN SB_WSD_DIR SB_WSD_PIDDIR SB_WSD_CONFIG SB_WSD_URL_A \
    SB_WSD_URL_B SB_WSD_PORT_A SB_WSD_PORT_B SB_TOKEN_SECRET_FILE \
    SB_PGCLUSTER SB_PGCLUSTER_DIR SB_DB PGHOST PGPORT PGUSER

tests=${SB_WSD_TESTS:-$MODULES}
if [ -n "${SB_WSD_RUN:-}" ]; then
    # A command of one's own against the nodes instead of the suite.
    say "running: $SB_WSD_RUN"
    (cd "$here" && PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$here sh -c "$SB_WSD_RUN")
    rc=$?
else
    # shellcheck disable=SC2086,SC2116 # one line from a list of names
    say "running: $(echo $tests)"
    # shellcheck disable=SC2086 # a list of names
    (cd "$here" && PYTHONDONTWRITEBYTECODE=1 "$PY" -m unittest -v $tests)
    rc=$?
fi
if [ $rc -ne 0 ]; then
    for f in "$base"/wsd-*.log; do
        [ -f "$f" ] || continue
        echo "--- last lines of $(basename "$f")"
        tail -n 30 "$f"
    done
    fail "the wsd suite failed (exit $rc)"
fi
say "all passed"
exit 0
