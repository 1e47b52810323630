#!/bin/sh
# run-bench.sh: the event-store benchmark on a throw-away PostgreSQL cluster.
#
#   run-bench.sh [BENCH_STORE] [bench_store options...]
#
# Starts a private cluster with tests/db/pgcluster.sh (fsync on), creates a
# database, migrates it with sql/switchboard-migrate, adds a login role that
# is a member of switchboard_app (the benchmark publishes as the daemons
# would), prints the machine (CPUs, CPU model, memory, PostgreSQL version and
# commit settings), runs bench_store and stops the cluster, whatever
# happens. BENCH_STORE defaults to the built tests/bench/bench_store; options
# after it go to bench_store (-c connections, -d seconds, -n events,
# -l latency seconds). `make bench` runs this script.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
cmdline="$0 $*"

bench=
case ${1:-} in
-* | '') ;;
*)
    bench=$1
    shift
    ;;
esac
# The build tree: given, or the one holding BENCH_STORE (make bench passes
# $(abs_top_builddir)/tests/bench/bench_store), or the source tree.
if [ -z "${top_builddir:-}" ]; then
    top_builddir=$top_srcdir
    [ -n "$bench" ] && top_builddir=$(cd "$(dirname "$bench")/../.." && pwd)
fi
bench=${bench:-$top_builddir/tests/bench/bench_store}
[ -x "$bench" ] || {
    echo "run-bench.sh: $bench not built (run make first)" >&2
    exit 1
}

# The built runner when there is one, else its source (--sqldir is given).
migrate=$top_builddir/sql/switchboard-migrate
[ -x "$migrate" ] || migrate="sh $top_srcdir/sql/switchboard-migrate.in"

base=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")
chmod 0755 "$base"
cluster=$base/pg
cleanup() {
    "$top_srcdir/tests/db/pgcluster.sh" stop "$cluster" || true
    rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

eval "$("$top_srcdir/tests/db/pgcluster.sh" start "$cluster")"
export PGDATABASE=postgres
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE switchboard_bench'
export PGDATABASE=switchboard_bench
$migrate -q --sqldir "$top_srcdir/sql" -d "dbname=switchboard_bench"
psql -X -q -v ON_ERROR_STOP=1 \
    -c 'CREATE ROLE switchboard_bench LOGIN IN ROLE switchboard_app'

setting() {
    psql -X -At -c "SHOW $1"
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
echo "machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $mem memory, $(uname -sr)"
echo "postgresql: $(psql -X -At -c 'SELECT version()')"
echo "settings: fsync=$(setting fsync) synchronous_commit=$(setting synchronous_commit)" \
    "wal_sync_method=$(setting wal_sync_method) shared_buffers=$(setting shared_buffers)" \
    "(a private cluster on $(df -P "$base" | awk 'NR == 2 { print $1 }'))"
echo "run: $cmdline"

SB_BENCH_DSN="host=$PGHOST port=$PGPORT dbname=switchboard_bench user=switchboard_bench"
export SB_BENCH_DSN
"$bench" "$@"
