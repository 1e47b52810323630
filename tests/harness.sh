# harness.sh: shell helpers shared by the integration test scripts
# (tests/db/run-db-tests.sh, tests/wsd/run-wsd-tests.sh, ...) and, through
# tests/bench/bench-lib.sh, the benchmark scripts. Source it after setting
#   harness_name     the prefix of every line printed ("run-db-tests")
#   harness_require  the variable that turns a skip into a failure when 1
#                    ("SB_REQUIRE_DB")
# Exit codes follow automake: 0 pass, 1 fail, 77 skip.

say() {
    echo "$harness_name: $*"
}

fail() {
    echo "$harness_name: FAIL: $*" >&2
    exit 1
}

skip() {
    if [ "$(eval "echo \${$harness_require:-0}")" = 1 ]; then
        fail "$* ($harness_require=1)"
    fi
    say "SKIP: $*"
    exit 77
}

# Skip unless PostgreSQL's server binaries ($PG_BINDIR, else the newest
# /usr/lib/postgresql/*/bin) and psql are present.
require_pg_server() {
    if [ -n "${PG_BINDIR:-}" ]; then
        [ -x "$PG_BINDIR/initdb" ] || skip "no initdb in PG_BINDIR=$PG_BINDIR"
    else
        found=
        for d in /usr/lib/postgresql/*/bin; do
            [ -x "$d/initdb" ] && found=$d
        done
        [ -n "$found" ] || skip "no PostgreSQL server binaries (initdb, pg_ctl)"
    fi
    command -v psql >/dev/null 2>&1 || skip "psql not found"
}

# --- a private PostgreSQL (tests/db/pgcluster.sh) -----------------------------
# These use top_srcdir and top_builddir.

# migrate_cmd ARGS...: sql/switchboard-migrate of the build tree (else its
# source) with --sqldir the source tree's sql/.
migrate_cmd() {
    if [ -x "$top_builddir/sql/switchboard-migrate" ]; then
        "$top_builddir/sql/switchboard-migrate" --sqldir "$top_srcdir/sql" "$@"
    else
        sh "$top_srcdir/sql/switchboard-migrate.in" --sqldir "$top_srcdir/sql" "$@"
    fi
}

# pg_start DIR: start a throw-away cluster in DIR and export what psql
# needs to reach it (PGHOST, PGPORT, PGUSER; PGDATABASE=postgres). Fails
# the script when the cluster does not start.
pg_start() {
    pg_env=$("$top_srcdir/tests/db/pgcluster.sh" start "$1") ||
        fail "could not start a cluster"
    eval "$pg_env"
    export PGDATABASE=postgres
}

# pg_stop DIR [--keep]: stop the cluster in DIR (--keep: keep DIR); says so
# on stderr when it cannot.
pg_stop() {
    "$top_srcdir/tests/db/pgcluster.sh" stop "$@" >/dev/null 2>&1 ||
        echo "$harness_name: could not stop the cluster in $1" >&2
}

# pg_database DB ROLE: create database DB, migrate it (the runner's output
# is shown only when it fails), create the login role ROLE in
# switchboard_app, and export PGDATABASE=DB. Fails the script at the first
# step that fails.
pg_database() {
    psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $1" ||
        fail "could not create database $1"
    pg_out=$(migrate_cmd -q -d "dbname=$1" 2>&1) ||
        { echo "$pg_out" >&2; fail "switchboard-migrate"; }
    export PGDATABASE="$1"
    psql -X -q -v ON_ERROR_STOP=1 -c "CREATE ROLE $2 LOGIN IN ROLE switchboard_app" ||
        fail "could not create the login role $2"
}

# --- processes and the temporary directory ------------------------------------

# new_base NAME: base, a new temporary directory switchboard-NAME.XXXXXX
# (mode 0755: when run by root, the cluster runs as postgres and must reach
# it), and cluster, the place for the cluster in it.
new_base() {
    base=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-$1.XXXXXX") || fail "mktemp"
    chmod 0755 "$base"
    cluster=$base/pg
}

# stop_pids SECONDS PIDFILE...: SIGTERM the process of every PID file, wait
# up to SECONDS for them to exit, SIGKILL what is left (saying so), and
# remove the files. Missing or empty files are passed over.
stop_pids() {
    sp_wait=$1
    shift
    for f in "$@"; do
        [ -s "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || :
    done
    n=0
    while [ "$n" -lt $((sp_wait * 10)) ]; do
        alive=
        for f in "$@"; do
            [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && alive=1
        done
        [ -n "$alive" ] || break
        sleep 0.1
        n=$((n + 1))
    done
    for f in "$@"; do
        [ -s "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null &&
            say "killed $(basename "$f" .pid) (did not stop on SIGTERM)"
        rm -f "$f"
    done
    return 0
}

# keep_or_remove DIR VARIABLE: remove DIR, or keep it (and say so) when the
# environment variable named VARIABLE is 1.
keep_or_remove() {
    if [ "$(eval "echo \${$2:-0}")" = 1 ]; then
        say "kept $1"
    else
        rm -rf "$1"
    fi
}

# --- lighttpd in front of switchboard (contrib/lighttpd/switchboard.conf) -----

# lighttpd_conf FILE FCGI_PORT WSD_PORT HTTP_PORT DIR: write a configuration
# that serves 127.0.0.1:HTTP_PORT, passes to switchboard-fcgi and wsd on
# loopback, serves DIR/www (an index.html is put there) and logs errors
# to DIR/lighttpd.err. Settings on stdin come before the include.
lighttpd_conf() {
    mkdir -p "$5/www" &&
        echo '<!doctype html><title>switchboard</title>' >"$5/www/index.html" ||
        return 1
    {
        cat <<EOF
var.sb_fcgi_host = "127.0.0.1"
var.sb_fcgi_port = $2
var.sb_wsd_host  = "127.0.0.1"
var.sb_wsd_port  = $3
var.sb_docroot   = "$5/www"
server.bind      = "127.0.0.1"
server.port      = $4
server.errorlog  = "$5/lighttpd.err"
EOF
        cat
        echo "include \"$top_srcdir/contrib/lighttpd/switchboard.conf\""
    } >"$1"
}

# lighttpd_start DIR/NAME.conf PIDFILE: check the configuration (lighttpd
# -tt; when refused, what it said goes to stderr and this returns 1), then
# run lighttpd -D in the background, its output in DIR/NAME.out and its PID
# in PIDFILE. $LIGHTTPD is the binary.
lighttpd_start() {
    "$LIGHTTPD" -tt -f "$1" >"${1%.conf}.check" 2>&1 || { cat "${1%.conf}.check" >&2; return 1; }
    "$LIGHTTPD" -D -f "$1" >"${1%.conf}.out" 2>&1 &
    echo $! >"$2"
}
