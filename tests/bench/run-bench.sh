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
cmdline="$0 $*"
harness_name=run-bench.sh
# shellcheck source=bench-lib.sh
. "$here/bench-lib.sh"

# The build tree: given, or the one holding BENCH_STORE (make bench passes
# $(abs_top_builddir)/tests/bench/bench_store), or the source tree.
bench_tool bench_store "${1:-}" && shift
[ -x "$tool" ] || die "$tool not built (run make first)"

new_base bench
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    pg_stop "$cluster"
    rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_start "$cluster"
pg_database switchboard_bench switchboard_bench

print_machine
echo "postgresql: $(sql 'SELECT version()')"
echo "settings: fsync=$(sql 'SHOW fsync') synchronous_commit=$(sql 'SHOW synchronous_commit')" \
    "wal_sync_method=$(sql 'SHOW wal_sync_method') shared_buffers=$(sql 'SHOW shared_buffers')" \
    "(a private cluster on $(df -P "$base" | awk 'NR == 2 { print $1 }'))"
echo "run: $cmdline"

SB_BENCH_DSN="host=$PGHOST port=$PGPORT dbname=switchboard_bench user=switchboard_bench"
export SB_BENCH_DSN
"$tool" "$@"
