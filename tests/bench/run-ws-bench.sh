#!/bin/sh
# run-ws-bench.sh: the WebSocket benchmark, wsd against nginx with Nchan, in
# one run on loopback.
#
#   run-ws-bench.sh [WSLOAD] [wsload options...]
#
# Installs nothing: when something is missing it says what (Debian: nginx,
# libnginx-mod-nchan, postgresql, curl, openssl) and exits 1. Otherwise it
# raises the descriptor limit to 20,000, starts a private PostgreSQL cluster
# (tests/db/pgcluster.sh, fsync on), migrates a database, mints a reader
# token and an agent token for metrics:* with switchboard.mint_token, starts
# one wsd per CPU on one loopback port (SO_REUSEPORT; when a second process
# cannot bind it, one port each, which wsload takes in turn; publish_rate
# raised so that the rate limit does not throttle the load, everything else
# at its default), and nginx with Nchan from tests/bench/nchan/nginx.conf.in in a
# private directory (its own pid file and error log, 2 workers, a
# secure_link signature on every subscriber). It prints the machine, the
# versions and the command, then runs each scenario of wsload
# (tests/bench/wsload.c) against both servers, with both started afresh for
# each scenario (so that one scenario's leftovers, or a server that stalled,
# do not change the next). Everything it started is stopped by its PID on
# any exit, and the directory removed.
#
# Environment: top_srcdir, top_builddir (make bench-ws sets them), PG_BINDIR,
# SB_WSD_BIN (default $top_builddir/wsd/wsd), SB_WSD_PROCS (default: the
# number of CPUs), SB_NGINX (default: nginx on PATH or /usr/sbin/nginx),
# SB_NCHAN_MODULE (default /usr/lib/nginx/modules/ngx_nchan_module.so),
# SB_NCHAN_WORKERS (default 2), SB_WS_BENCH_SCENARIOS (default "a b c d e"),
# SB_WS_BENCH_KEEP=1 (keep the directory and
# the servers' logs), SB_WS_BENCH_PERF=FILE (record a perf profile of the
# wsd processes during each scenario into FILE.<letter>, sampling at
# SB_WS_BENCH_PERF_FREQ per second, default 499, call chains by
# SB_WS_BENCH_PERF_CALLGRAPH, default fp; dwarf,16384 reaches through
# libraries built without frame pointers), SB_WS_BENCH_WSD_OPTIONS
# (more wsd options, "name = value; name = value").
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cmdline="$0 $*"
harness_name=run-ws-bench
# shellcheck source=bench-lib.sh
. "$here/bench-lib.sh"

bench_tool wsload "${1:-}" && shift
wsload=$tool
WSD=${SB_WSD_BIN:-$top_builddir/wsd/wsd}
NGINX=${SB_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
NCHAN_MODULE=${SB_NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
NCHAN_WORKERS=${SB_NCHAN_WORKERS:-2}
WSD_PROCS=${SB_WSD_PROCS:-$(nproc)}

# --- what we need ---------------------------------------------------------------

missing=
need() { # WHAT PACKAGE: add to the list when absent
    missing="$missing
  $1 (Debian package: $2)"
}
[ -x "$wsload" ] || need "$wsload (run make)" "none: build switchboard"
[ -x "$WSD" ] || need "$WSD (run make)" "none: build switchboard"
[ -x "$NGINX" ] || need "nginx" "nginx or nginx-light"
[ -f "$NCHAN_MODULE" ] || need "$NCHAN_MODULE" "libnginx-mod-nchan"
command -v psql >/dev/null 2>&1 || need psql postgresql-client
found_pg=
for d in ${PG_BINDIR:-} /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && found_pg=1
done
[ -n "$found_pg" ] || need "PostgreSQL server (initdb)" postgresql
command -v curl >/dev/null 2>&1 || need curl curl
command -v openssl >/dev/null 2>&1 || need openssl openssl
if [ -n "$missing" ]; then
    die "missing:$missing
install with: apt-get install nginx libnginx-mod-nchan postgresql curl openssl"
fi

# One wsd process or nginx worker holds up to 19,000 / 2 connections; each
# wsload process a few thousand. (dash and bash both have ulimit -n.)
# shellcheck disable=SC3045
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" ||
    die "cannot raise the descriptor limit"
# shellcheck disable=SC3045
[ "$(ulimit -n)" -ge 12000 ] ||
    die "the descriptor limit is $(ulimit -n); the benchmark needs 12000 or more"

# --- the directory and cleanup -----------------------------------------------------

new_base wsbench
mkdir -p "$base/pids" "$base/nginx/tmp"

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop_pids 10 "$base"/pids/*.pid
    if [ "${SB_WS_BENCH_KEEP:-0}" = 1 ]; then
        pg_stop "$cluster" --keep
    else
        pg_stop "$cluster"
    fi
    keep_or_remove "$base" SB_WS_BENCH_KEEP
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

http_ok() { # URL: 0 when it answers 200
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1")" = 200 ]
}

# 0 when URL answers 200 within 10 s.
wait_http() { # URL
    n=0
    while [ $n -lt 100 ]; do
        http_ok "$1" && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# --- PostgreSQL and tokens ------------------------------------------------------------

pg_start "$cluster"
db=switchboard_bench
pg_database $db sb_wsd
sql 'SELECT switchboard.token_secret()' >"$base/token_secret"
chmod 0600 "$base/token_secret"
mint_token bench-reader reader >"$base/reader.token"
mint_token bench-agent agent >"$base/agent.token"
postmaster=$(postmaster_pid "$cluster")

# --- the servers, started afresh for every scenario --------------------------------

# wsd_config N PORT: the configuration of process N. Defaults except the
# publish rate limit (the load publishes from few connections). At log
# level info wsd says when it listens, and nothing per connection.
wsd_config() {
    cat >"$base/wsd-$1.conf" <<EOF
# wsd $1 for the WebSocket benchmark
database_url = host=$PGHOST port=$PGPORT dbname=$db user=sb_wsd
token_secret_file = $base/token_secret
listen_address = 127.0.0.1
listen_port = $2
log_level = info
publish_rate = 100000
publish_burst = 100000
EOF
    # SB_WS_BENCH_WSD_OPTIONS: more "name = value" lines, separated by ";".
    printf '%s\n' "${SB_WS_BENCH_WSD_OPTIONS:-}" | tr ';' '\n' >>"$base/wsd-$1.conf"
}

# start_wsd N PORT: start process N; 0 once it listens and /healthz answers
# (within 10 s), 1 when it exited (its log says why).
start_wsd() {
    wsd_config "$1" "$2"
    "$WSD" --config "$base/wsd-$1.conf" >"$base/wsd-$1.log" 2>&1 &
    echo $! >"$base/pids/wsd-$1.pid"
    n=0
    while [ $n -lt 100 ]; do
        kill -0 "$(cat "$base/pids/wsd-$1.pid")" 2>/dev/null ||
            { rm -f "$base/pids/wsd-$1.pid"; return 1; }
        grep -q ' started$' "$base/wsd-$1.log" &&
            http_ok "http://127.0.0.1:$2/healthz" && return 0
        sleep 0.1
        n=$((n + 1))
    done
    die "wsd $1 does not answer /healthz on port $2"
}

# One process per CPU on one port (SO_REUSEPORT). When a second process
# cannot bind the shared port, every process gets a port of its own and
# wsload spreads the connections over them, as a load balancer would.
# Sets wsd_ports, wsd_pids and wsd_sharing.
start_wsds() {
    wsd_port=$(free_port)
    start_wsd 0 "$wsd_port" || { cat "$base/wsd-0.log" >&2; die "wsd does not start"; }
    wsd_ports=$wsd_port
    wsd_sharing=yes
    i=1
    while [ $i -lt "$WSD_PROCS" ]; do
        if [ $wsd_sharing = yes ] && ! start_wsd $i "$wsd_port"; then
            wsd_sharing=no
            wsd_refusal=$(tail -n 1 "$base/wsd-$i.log" | sed 's/.*: //')
        fi
        if [ $wsd_sharing = no ]; then
            port=$(free_port)
            start_wsd $i "$port" || { cat "$base/wsd-$i.log" >&2; die "wsd $i does not start"; }
            wsd_ports="$wsd_ports,$port"
        fi
        i=$((i + 1))
    done
    wsd_pids=
    for f in "$base"/pids/wsd-*.pid; do
        wsd_pids="$wsd_pids${wsd_pids:+,}$(cat "$f")"
    done
}

# nginx with Nchan; sets nginx_port, nginx_pid and nchan_auth (a signed
# link valid for two hours).
start_nginx() {
    nginx_port=$(free_port)
    nchan_secret=$(openssl rand -hex 16)
    sed -e "s|@MODULE@|$NCHAN_MODULE|" -e "s|@DIR@|$base/nginx|g" \
        -e "s|@PORT@|$nginx_port|" -e "s|@WORKERS@|$NCHAN_WORKERS|" \
        -e "s|@SECRET@|$nchan_secret|" \
        "$here/nchan/nginx.conf.in" >"$base/nginx/nginx.conf"
    : >"$base/nginx/error.log"
    "$NGINX" -p "$base/nginx" -e "$base/nginx/error.log" \
        -c "$base/nginx/nginx.conf" >"$base/nginx/out" 2>&1 &
    echo $! >"$base/pids/nginx.pid"
    nginx_pid=$!
    wait_http "http://127.0.0.1:$nginx_port/nchan_status" ||
        { cat "$base/nginx/out" "$base/nginx/error.log" >&2; die "nginx does not answer on port $nginx_port"; }
    expires=$(($(date +%s) + 7200))
    md5=$(printf '%s' "$expires $nchan_secret" | openssl md5 -binary |
        openssl base64 | tr '+/' '-_' | tr -d '=')
    nchan_auth="expires=$expires&md5=$md5"
    # A wrong signature must be refused.
    [ "$(curl -s -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$nginx_port/sub/probe?expires=$expires&md5=x")" = 403 ] ||
        die "nginx accepts a subscriber without a valid signature"
}

# Stop both servers; 1 when one of them had died or logged errors while
# the scenario ran (what wsd logs while shutting down is not counted).
stop_servers() {
    bad=0
    for f in "$base"/pids/wsd-*.pid "$base/pids/nginx.pid"; do
        [ -f "$f" ] || continue
        kill -0 "$(cat "$f")" 2>/dev/null || { say "$(basename "$f" .pid) died during the run"; bad=1; }
    done
    if grep -q -e '\[emerg\]' -e '\[alert\]' -e '\[crit\]' "$base/nginx/error.log"; then
        say "nginx reported errors (the last 5):"
        grep -e '\[emerg\]' -e '\[alert\]' -e '\[crit\]' "$base/nginx/error.log" | tail -n 5 >&2
        bad=1
    fi
    if grep -q -e ' error ' -e ' warn ' "$base"/wsd-*.log; then
        say "wsd logged errors or warnings (the last 5):"
        grep -h -e ' error ' -e ' warn ' "$base"/wsd-*.log | tail -n 5 >&2
        bad=1
    fi
    stop_pids 10 "$base"/pids/wsd-*.pid "$base/pids/nginx.pid"
    return $bad
}

# --- what runs where -------------------------------------------------------------------------

version() { # PACKAGE
    dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo unknown
}
start_wsds
start_nginx
print_machine
echo "load: $(load_average) (1, 5, 15 min) before the run"
echo "postgresql: $(sql 'SHOW server_version'), fsync=$(sql 'SHOW fsync')," \
    "synchronous_commit=$(sql 'SHOW synchronous_commit')"
if [ $wsd_sharing = yes ]; then
    where="sharing one port (SO_REUSEPORT)"
else
    where="on a port each (a second one on the same port: $wsd_refusal), connections spread by wsload"
fi
echo "wsd: $WSD_PROCS processes $where, libwebsockets $(version libwebsockets17)," \
    "options: publish_rate=100000 publish_burst=100000${SB_WS_BENCH_WSD_OPTIONS:+; $SB_WS_BENCH_WSD_OPTIONS}, the rest default"
echo "nginx: $(nginx_version), libnginx-mod-nchan $(version libnginx-mod-nchan)," \
    "$NCHAN_WORKERS workers (reuseport), subscribers signed with secure_link"
echo "run: $cmdline"
echo "each scenario: fresh wsd and nginx, then $wsload --scenarios X --wsd 127.0.0.1:PORT[,PORT]" \
    "--wsd-pids PIDS --pg-pid $postmaster --wsd-token-file reader.token --wsd-pub-token-file agent.token" \
    "--nchan 127.0.0.1:PORT --nchan-pid PID --nchan-auth 'expires=..&md5=..' $*"

# --- the scenarios ---------------------------------------------------------------------------

rc=0
first=yes
for s in ${SB_WS_BENCH_SCENARIOS:-a b c d e}; do
    if [ $first = no ]; then
        start_wsds
        start_nginx
    fi
    first=no
    perf_pid=
    if [ -n "${SB_WS_BENCH_PERF:-}" ]; then
        perf record -F "${SB_WS_BENCH_PERF_FREQ:-499}" --call-graph "${SB_WS_BENCH_PERF_CALLGRAPH:-fp}" -o "$SB_WS_BENCH_PERF.$s" -p "$wsd_pids" >"$base/perf.out" 2>&1 &
        perf_pid=$!
        echo "$perf_pid" >"$base/pids/perf.pid"
    fi
    "$wsload" --scenarios "$s" --wsd "127.0.0.1:$wsd_ports" --wsd-pids "$wsd_pids" \
        --pg-pid "$postmaster" --wsd-token-file "$base/reader.token" \
        --wsd-pub-token-file "$base/agent.token" --nchan "127.0.0.1:$nginx_port" \
        --nchan-pid "$nginx_pid" --nchan-auth "$nchan_auth" "$@" || rc=1
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        rm -f "$base/pids/perf.pid"
    fi
    stop_servers || rc=1
done
exit $rc
