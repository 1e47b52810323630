#!/bin/sh
# run-db-tests.sh: the database tests, run by "make check".
#
# Starts a throw-away cluster (tests/db/pgcluster.sh) in a temporary
# directory that is stopped and removed on any exit, then:
#   1. migrates database switchboard_test with switchboard-migrate, twice
#      (the second run must find nothing to do);
#   2. runs two migrators at once on a fresh database: both must succeed and
#      every version must be recorded exactly once;
#   3. creates the login roles sb_app (switchboard_app) and sb_reader
#      (switchboard_reader) and runs the pgTAP files tests/sql/*.sql with
#      pg_prove;
#   4. runs the C programs tests/db/lib_vs_sql and tests/db/seq_concurrency
#      when they are built, with SB_TEST_DSN (as sb_app) and
#      SB_TEST_OWNER_DSN (as the superuser).
# Exit 0 when all pass, 1 on any failure, 77 (skipped) when the PostgreSQL
# server binaries or pg_prove are missing, unless SB_REQUIRE_DB=1.
#
# Environment (set by make check): top_srcdir, top_builddir, PG_BINDIR,
# PG_PROVE.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
PG_PROVE=${PG_PROVE:-$(command -v pg_prove || true)}

harness_name=run-db-tests
harness_require=SB_REQUIRE_DB
# shellcheck source=../harness.sh
. "$top_srcdir/tests/harness.sh"

# --- what we need ------------------------------------------------------------

require_pg_server
[ -n "$PG_PROVE" ] && [ -x "$PG_PROVE" ] ||
    command -v "$PG_PROVE" >/dev/null 2>&1 || skip "pg_prove not found"

versions=0
for f in "$top_srcdir"/sql/[0-9][0-9][0-9]_*.sql; do
    [ -f "$f" ] && versions=$((versions + 1))
done

# --- the cluster ----------------------------------------------------------------

new_base dbtest
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    pg_stop "$cluster"
    rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

pg_start "$cluster"
say "cluster on port $PGPORT (socket in $PGHOST)"

sql() {
    psql -X -q -At -v ON_ERROR_STOP=1 "$@"
}

# --- 1. migrate twice -----------------------------------------------------------

sql -c 'CREATE DATABASE switchboard_test' || fail "createdb switchboard_test"
out=$(migrate_cmd -d dbname=switchboard_test 2>&1)
rc=$?
echo "$out" | sed 's/^/  /'
[ $rc -eq 0 ] || fail "switchboard-migrate (first run) exited $rc"
out=$(migrate_cmd -d dbname=switchboard_test 2>&1)
rc=$?
echo "$out" | sed 's/^/  /'
[ $rc -eq 0 ] || fail "switchboard-migrate (second run) exited $rc"
[ "$out" = "switchboard schema is up to date" ] ||
    fail "second switchboard-migrate run did not say it was up to date"
say "ok: migrated switchboard_test ($versions versions), second run up to date"

# --- 2. two migrators at once ---------------------------------------------------------

sql -c 'CREATE DATABASE switchboard_concurrent' || fail "createdb switchboard_concurrent"
migrate_cmd -d dbname=switchboard_concurrent >"$base/m1.out" 2>&1 &
p1=$!
migrate_cmd -d dbname=switchboard_concurrent >"$base/m2.out" 2>&1 &
p2=$!
wait $p1
rc1=$?
wait $p2
rc2=$?
if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ]; then
    cat "$base/m1.out" "$base/m2.out" >&2
    fail "concurrent switchboard-migrate runs exited $rc1 and $rc2"
fi
counts=$(sql -d switchboard_concurrent -c \
    "SELECT count(*) || ' ' || count(DISTINCT version) FROM switchboard.schema_migrations")
[ "$counts" = "$versions $versions" ] ||
    fail "concurrent migrations recorded '$counts' (rows, versions), expected $versions each"
applied=$(cat "$base/m1.out" "$base/m2.out" | grep -c '^applied ')
[ "$applied" -eq "$versions" ] ||
    fail "concurrent runners applied $applied migrations in all, expected $versions"
say "ok: two concurrent migrators, each version applied and recorded once"

# --- the doorbell and signals, as a listener sees them after commit -------------------
# (pgTAP runs inside a transaction, where NOTIFY is never delivered.)

out=$(sql -d switchboard_concurrent <<'EOF'
LISTEN switchboard;
LISTEN switchboard_signal;
SELECT 'publish' FROM switchboard.publish('chat:doorbell-1', 'message', '{}', 'user:test');
SELECT 'batch' FROM switchboard.publish_batch('[
    {"channel": "chat:doorbell-2", "type": "message", "data": {}, "sender": "user:test"},
    {"channel": "chat:doorbell-1", "type": "message", "data": {}, "sender": "user:test"},
    {"channel": "chat:doorbell-2", "type": "message", "data": {}, "sender": "user:test"}]') LIMIT 1;
SELECT 'wide' FROM switchboard.publish_batch((
    SELECT jsonb_agg(jsonb_build_object('channel', 'chat:doorbell-' || repeat('w', 110) || g,
                                        'type', 'message', 'data', '{}'::jsonb,
                                        'sender', 'user:test'))
      FROM generate_series(1, 200) AS g)) LIMIT 1;
SELECT 'signal' FROM switchboard.signal('chat:doorbell-1', 'typing', '{"on": true}', 'user:test');
EOF
) || fail "doorbell session failed"
bells=$(echo "$out" | sed -n 's/^Asynchronous notification "switchboard" with payload "\(.*\)" received from server process with PID [0-9]*\.$/\1/p')
[ "$(echo "$bells" | sed -n 1p)" = '{"chat:doorbell-1":1}' ] ||
    fail "publish rang '$(echo "$bells" | sed -n 1p)', expected {\"chat:doorbell-1\":1}"
[ "$(echo "$bells" | sed -n 2p)" = '{"chat:doorbell-1":2,"chat:doorbell-2":2}' ] ||
    fail "a batch over two channels rang '$(echo "$bells" | sed -n 2p)'"
wide=$(echo "$bells" | sed -n '3,$p')
nwide=$(echo "$wide" | grep -c .)
longest=$(echo "$wide" | awk '{ if (length($0) > n) n = length($0) } END { print n + 0 }')
entries=$(echo "$wide" | grep -o '":1[,}]' | grep -c .)
if [ "$nwide" -lt 2 ] || [ "$longest" -gt 7999 ] || [ "$entries" -ne 200 ]; then
    fail "a 200-channel batch rang $nwide payloads (longest $longest bytes, $entries entries)"
fi
echo "$out" | grep -q '^Asynchronous notification "switchboard_signal" with payload "{"channel":"chat:doorbell-1","seq":null,.*"type":"typing","sender":"user:test",.*"data":{"on": true}}"' ||
    fail "signal was not delivered on switchboard_signal"
say "ok: doorbell payloads (one per call; $nwide for 200 long channel names, each <= 7999 bytes), signal delivered"

# --- 3. pgTAP -----------------------------------------------------------------------------

sql -c 'CREATE ROLE sb_app LOGIN IN ROLE switchboard_app' \
    -c 'CREATE ROLE sb_reader LOGIN IN ROLE switchboard_reader' ||
    fail "could not create the test login roles"
sql -d switchboard_test -c 'CREATE EXTENSION pgtap' || fail "CREATE EXTENSION pgtap"
say "pg_prove tests/sql/*.sql"
"$PG_PROVE" -d switchboard_test "$top_srcdir"/tests/sql/*.sql ||
    fail "pgTAP tests failed"

# --- 4. the C programs ---------------------------------------------------------------------

SB_TEST_DSN="host=$PGHOST port=$PGPORT dbname=switchboard_test user=sb_app"
SB_TEST_OWNER_DSN="host=$PGHOST port=$PGPORT dbname=switchboard_test user=$PGUSER"
export SB_TEST_DSN SB_TEST_OWNER_DSN
ran=
for prog in lib_vs_sql seq_concurrency; do
    exe=$top_builddir/tests/db/$prog
    if [ ! -x "$exe" ]; then
        say "not built, not run: tests/db/$prog"
        continue
    fi
    say "tests/db/$prog"
    "$exe" || fail "tests/db/$prog"
    ran="$ran $prog"
done

say "all passed: migrations, concurrent migrations, pgTAP${ran:+, C programs:$ran}"
exit 0
