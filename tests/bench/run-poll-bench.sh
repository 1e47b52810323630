#!/bin/sh
# run-poll-bench.sh: switchboard-fcgi behind lighttpd against Nchan's
# long-poll in nginx, in one run.
#
#   run-poll-bench.sh [POLLLOAD]
#
# Starts on loopback, in a temporary directory: a private PostgreSQL
# (tests/db/pgcluster.sh, fsync on), migrated, with a login role in
# switchboard_app and an agent token for metrics:*; switchboard-fcgi on its
# own --listen port; lighttpd -D with contrib/lighttpd/switchboard.conf and
# room for 5,000+ held requests; nginx with Nchan (its own pid file and
# error log, tests/bench/nchan-poll/nginx.conf.in). Then prints the machine,
# the versions and the command, and runs tests/bench/pollload:
#
#   a. park: SB_POLL_PARKED (5000) long-polls waiting on one channel: the
#      resident memory per waiting poll in each server process, then one
#      publish and the time until every poll has its answer;
#   b. rate: SB_POLL_POLLERS (1000) pollers over SB_POLL_CHANNELS (10)
#      channels, SB_POLL_BATCH (10) events per channel SB_POLL_RATE (5)
#      times a second for SB_POLL_SECONDS (10) s: deliveries per second,
#      publish-to-receive latency, server CPU time per delivery;
#   c. rest: SB_POLL_REST_CONNS (16) connections, SB_POLL_REST_SECONDS (5) s
#      of single-event publishes, then as long of history reads;
#
# a and b for switchboard-fcgi and for Nchan, then the ratios. Nchan's
# cases are skipped, saying what is missing, when nginx or its Nchan module
# is not installed (Debian: nginx and libnginx-mod-nchan). Everything
# started is stopped by its PID on any exit. `make bench-poll` runs this.
#
# Environment: top_srcdir, top_builddir (make passes them), PG_BINDIR,
# SB_NGINX (default: nginx on PATH or /usr/sbin/nginx), SB_NCHAN_MODULE
# (default /usr/lib/nginx/modules/ngx_nchan_module.so), SB_NCHAN_WORKERS
# (nginx worker processes, default 1: one event loop, as lighttpd has),
# SB_FCGI_THREADS (default 4), SB_POLL_JIT (e.g. off: set PostgreSQL's jit
# for the database, a comparison), SB_POLL_KEEP=1 (keep the directory and its
# logs).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cmdline="$0 $*"
harness_name=run-poll-bench
# shellcheck source=bench-lib.sh
. "$here/bench-lib.sh"

bench_tool pollload "${1:-}" || true
load=$tool
FCGI=$top_builddir/fcgi/switchboard-fcgi
LIGHTTPD=${SB_LIGHTTPD:-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
NGINX=${SB_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
NCHAN_MODULE=${SB_NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
PARKED=${SB_POLL_PARKED:-5000}
POLLERS=${SB_POLL_POLLERS:-1000}
CHANNELS=${SB_POLL_CHANNELS:-10}
BATCH=${SB_POLL_BATCH:-10}
RATE=${SB_POLL_RATE:-5}
SECONDS_RATE=${SB_POLL_SECONDS:-10}
REST_CONNS=${SB_POLL_REST_CONNS:-16}
REST_SECONDS=${SB_POLL_REST_SECONDS:-5}

for f in "$load" "$FCGI"; do
    [ -x "$f" ] || die "$f not built (run make first)"
done
[ -x "$LIGHTTPD" ] || {
    say "lighttpd is missing (Debian: lighttpd)"
    exit 77
}
nchan=1
if [ ! -x "$NGINX" ] || [ ! -f "$NCHAN_MODULE" ]; then
    nchan=
    say "Nchan cases skipped: missing" \
        "$([ -x "$NGINX" ] || echo 'nginx (Debian: nginx)')" \
        "$([ -f "$NCHAN_MODULE" ] || echo "$NCHAN_MODULE (Debian: libnginx-mod-nchan)")"
fi

# --- the directory, and stopping everything in it --------------------------

new_base pollbench
mkdir -p "$base/pids" "$base/nginx/tmp"

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop_pids 5 "$base"/pids/*.pid
    pg_stop "$cluster"
    keep_or_remove "$base" SB_POLL_KEEP
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Wait up to 15 s for url to answer 200.
wait_http() {
    n=0
    while [ "$n" -lt 150 ]; do
        /usr/bin/python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2).read()' \
            "$1" 2>/dev/null && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# --- PostgreSQL ----------------------------------------------------------------

pg_start "$cluster"
DB=switchboard_pollbench
pg_database $DB switchboard_bench
sql 'SELECT switchboard.token_secret()' >"$base/token_secret"
SB_BENCH_TOKEN=$(mint_token bench agent)
SB_BENCH_DSN="host=$PGHOST port=$PGPORT dbname=$DB user=switchboard_bench"
export SB_BENCH_TOKEN SB_BENCH_DSN
postmaster=$(postmaster_pid "$cluster")
# SB_POLL_JIT=off: the same run with PostgreSQL's JIT off for the database
# (a comparison; by default the server's own setting applies).
if [ -n "${SB_POLL_JIT:-}" ]; then
    sql "ALTER DATABASE $DB SET jit = $SB_POLL_JIT"
fi

# --- switchboard-fcgi and lighttpd ---------------------------------------------

FCGI_PORT=$(free_port)
HTTP_L=$(free_port)
HTTP_N=$(free_port)
cat >"$base/fcgi.conf" <<EOF
database_url = $SB_BENCH_DSN
token_secret_file = $base/token_secret
listen = 127.0.0.1:$FCGI_PORT
threads = ${SB_FCGI_THREADS:-4}
max_parked = $((PARKED + 1000))
poll_timeout_max = 60s
publish_rate = 100000
publish_burst = 100000
log_level = warn
EOF
"$FCGI" --config "$base/fcgi.conf" >"$base/fcgi.log" 2>&1 &
echo $! >"$base/pids/fcgi.pid"

# Each held long-poll takes two descriptors in lighttpd (the client's and
# the FastCGI connection).
lighttpd_conf "$base/lighttpd.conf" "$FCGI_PORT" 1 "$HTTP_L" "$base" <<EOF
server.max-fds   = 19000
server.max-connections = 9000
server.listen-backlog = 4096
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 120
EOF
lighttpd_start "$base/lighttpd.conf" "$base/pids/lighttpd.pid" ||
    die "lighttpd rejects the configuration"
wait_http "http://127.0.0.1:$HTTP_L/api/v1/health" ||
    { cat "$base/fcgi.log" "$base/lighttpd.err" >&2; die "lighttpd/switchboard-fcgi do not answer"; }

# --- nginx with Nchan ------------------------------------------------------------

if [ -n "$nchan" ]; then
    sed -e "s|@MODULE@|$NCHAN_MODULE|" -e "s|@DIR@|$base/nginx|g" \
        -e "s|@PORT@|$HTTP_N|" -e "s|@WORKERS@|${SB_NCHAN_WORKERS:-1}|" \
        "$here/nchan-poll/nginx.conf.in" >"$base/nginx/nginx.conf"
    "$NGINX" -p "$base/nginx" -e "$base/nginx/error.log" \
        -c "$base/nginx/nginx.conf" >"$base/nginx/out" 2>&1 &
    echo $! >"$base/pids/nginx.pid"
    wait_http "http://127.0.0.1:$HTTP_N/nchan_status" ||
        { cat "$base/nginx/out" "$base/nginx/error.log" >&2; die "nginx does not answer"; }
fi

# --- what runs where -------------------------------------------------------------

print_machine
echo "load average at start: $(load_average)"
echo "postgresql: $(sql 'SHOW server_version')," \
    "fsync=$(sql 'SHOW fsync')" \
    "synchronous_commit=$(sql 'SHOW synchronous_commit')" \
    "jit=$(sql 'SHOW jit')"
echo "switchboard-fcgi: $("$FCGI" --version 2>&1 | head -n 1)," \
    "threads=${SB_FCGI_THREADS:-4} max_parked=$((PARKED + 1000))"
echo "lighttpd: $("$LIGHTTPD" -v 2>&1 | head -n 1)"
if [ -n "$nchan" ]; then
    echo "nginx: $(nginx_version)," \
        "$(/usr/bin/python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
            "http://127.0.0.1:$HTTP_N/nchan_status" | grep '^nchan version')," \
        "worker_processes ${SB_NCHAN_WORKERS:-1}"
fi
echo "run: $cmdline"

SB=http://127.0.0.1:$HTTP_L
NCH=http://127.0.0.1:$HTTP_N
sb_pids="-p switchboard-fcgi=$(cat "$base/pids/fcgi.pid") -p lighttpd=$(cat "$base/pids/lighttpd.pid") -p postgresql=$postmaster+"
nch_pids="-p nginx=$(cat "$base/pids/nginx.pid" 2>/dev/null || echo 0)+"

# run LABEL OUTFILE pollload-arguments...: print the command, run it, keep
# its output for the ratios.
run() {
    label=$1
    out=$2
    shift 2
    echo
    echo "== $label"
    echo "command: pollload $*" | sed "s|$load|pollload|"
    if ! "$load" "$@" >"$base/$out"; then
        failed=yes
    fi
    cat "$base/$out"
}
failed=no

# shellcheck disable=SC2086 # the -p lists are meant to split
run "a. $PARKED parked long-polls, switchboard-fcgi behind lighttpd" park-sb \
    park -k sb -u "$SB" -n "$PARKED" $sb_pids
if [ -n "$nchan" ]; then
    # shellcheck disable=SC2086
    run "a. $PARKED parked long-polls, Nchan" park-nchan \
        park -k nchan -u "$NCH" -n "$PARKED" $nch_pids
fi
# shellcheck disable=SC2086
run "b. long-poll deliveries, switchboard-fcgi behind lighttpd" rate-sb \
    rate -k sb -u "$SB" -n "$POLLERS" -C "$CHANNELS" -b "$BATCH" \
    -r "$RATE" -d "$SECONDS_RATE" $sb_pids
if [ -n "$nchan" ]; then
    # shellcheck disable=SC2086
    run "b. long-poll deliveries, Nchan" rate-nchan \
        rate -k nchan -u "$NCH" -n "$POLLERS" -C "$CHANNELS" -b "$BATCH" \
        -r "$RATE" -d "$SECONDS_RATE" $nch_pids
fi
# shellcheck disable=SC2086
run "c. REST through lighttpd" rest-sb \
    rest -k sb -u "$SB" -n "$REST_CONNS" -C "$CHANNELS" -d "$REST_SECONDS" \
    $sb_pids

# --- ratios ----------------------------------------------------------------------

if [ $failed = yes ]; then
    echo "run-poll-bench: a case failed; no ratios" >&2
    exit 1
fi
[ -n "$nchan" ] || exit 0
# field FILE PATTERN N: field N of the first line matching PATTERN.
field() {
    awk -v n="$3" "/$2/ { print \$n; exit }" "$base/$1"
}
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'
}
echo
echo "== ratios (switchboard-fcgi behind lighttpd / Nchan)"
mem_sb=$(awk '/^  switchboard-fcgi|^  lighttpd/ { s += $4 } END { print s }' "$base/park-sb")
mem_n=$(field park-nchan '^  nginx' 4)
all_sb=$(field park-sb '^answered' 6)
all_n=$(field park-nchan '^answered' 6)
rate_sb=$(field rate-sb '^switchboard-fcgi' 7)
rate_n=$(field rate-nchan '^nchan' 7)
p99_sb=$(field rate-sb '^events' 5)
p99_n=$(field rate-nchan '^events' 5)
cpu_sb=$(awk '/^server CPU/ { on = 1 } on && /^  all/ { print $3; exit }' "$base/rate-sb")
cpu_n=$(awk '/^server CPU/ { on = 1 } on && /^  all/ { print $3; exit }' "$base/rate-nchan")
printf '%-44s %12s %12s %8s\n' "" "switchboard" "nchan" "ratio"
printf '%-44s %12s %12s %8s\n' "memory per parked poll (KiB, app + server)" \
    "$mem_sb" "$mem_n" "$(ratio "$mem_sb" "$mem_n")"
printf '%-44s %12s %12s %8s\n' "one publish to all $PARKED answered (ms)" \
    "$all_sb" "$all_n" "$(ratio "$all_sb" "$all_n")"
printf '%-44s %12s %12s %8s\n' "deliveries/s to $POLLERS pollers" \
    "$rate_sb" "$rate_n" "$(ratio "$rate_sb" "$rate_n")"
printf '%-44s %12s %12s %8s\n' "p99 publish to receive (ms)" \
    "$p99_sb" "$p99_n" "$(ratio "$p99_sb" "$p99_n")"
printf '%-44s %12s %12s %8s\n' "server CPU per delivery (us)" \
    "$cpu_sb" "$cpu_n" "$(ratio "$cpu_sb" "$cpu_n")"
