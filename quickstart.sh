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
  python3-websockets"

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
    export SB_REQUIRE_DB=1
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
        "$1/tests/db/run-db-tests.log" >&2 || true
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

write_config() {
    local secret
    secret=$(psql -X -q -d "$owner_url" -tAc 'SELECT switchboard.token_secret()')
    (
        umask 077
        cat > "$var/switchboard.conf" <<EOF
# switchboard configuration of the quick-start stack (see docs/OPERATIONS.md)
database_url = $app_url
token_secret = $secret
log_level = info
EOF
    )
}

cmd_up() {
    cmd_deps
    say "building"
    build "$top/build"
    mkdir -p "$var"
    database_urls
    db_setup
    write_config
    for d in wsd/wsd fcgi/switchboard-fcgi; do
        "$top/build/$d" --config "$var/switchboard.conf" --check-config \
            > /dev/null || die "$d rejected $var/switchboard.conf"
    done
    print_summary
}

print_summary() {
    local token url=$owner_url
    token=$(psql -X -q -d "$url" -tAc \
        "SELECT switchboard.mint_token('demo', 'admin', '12 hours')")
    cat <<EOF

switchboard is up.
  database     psql "$url"
  config       $var/switchboard.conf
  admin token  $token
  try          psql "$url" -c "SELECT switchboard.log_activity('activity:main', 'info', 'hello')"
               psql "$url" -c "SELECT * FROM switchboard.recent_activity"
  stop         ./quickstart.sh stop
EOF
}

cmd_stop() {
    if [ -f "$var/pg.env" ]; then
        "$top/tests/db/pgcluster.sh" stop "$var/pg" --keep
        rm -f "$var/pg.env"
        say "stopped the private PostgreSQL cluster (data kept in var/pg)"
    else
        say "nothing is running"
    fi
}

cmd_status() {
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
