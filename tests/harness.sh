# harness.sh: shell helpers shared by the integration test scripts
# (tests/db/run-db-tests.sh, tests/wsd/run-wsd-tests.sh, ...). Source it
# after setting
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
