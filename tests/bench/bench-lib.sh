# bench-lib.sh: what the benchmark scripts (run-bench.sh, run-ws-bench.sh,
# run-poll-bench.sh) share, on top of tests/harness.sh, which this sources.
# Set harness_name and here (this directory) first. say and die write to
# stderr: standard output is the report.

top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
harness_require=SB_REQUIRE_BENCH
# shellcheck source=../harness.sh
. "$top_srcdir/tests/harness.sh"

say() {
    echo "$harness_name: $*" >&2
}

die() {
    say "$*"
    exit 1
}

# bench_tool NAME [ARG]: sets tool, the load program: ARG when it is given
# and is not an option, else NAME in tests/bench of the build tree. The
# build tree, top_builddir, is the one given, else the one holding ARG,
# else the source tree. Returns 0 when ARG is the program (the caller
# shifts it off), 1 when not.
bench_tool() {
    tool=
    case ${2:-} in
    -* | '') ;;
    *) tool=$2 ;;
    esac
    if [ -z "${top_builddir:-}" ]; then
        top_builddir=$top_srcdir
        [ -n "$tool" ] && top_builddir=$(cd "$(dirname "$tool")/../.." && pwd)
    fi
    [ -n "$tool" ] && return 0
    tool=$top_builddir/tests/bench/$1
    return 1
}

# sql SQL: run one statement in $PGDATABASE; its values unaligned, one a
# line.
sql() {
    psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"
}

# mint_token NAME ROLE: a token for metrics:*, valid for two hours.
mint_token() {
    sql "SELECT switchboard.mint_token('$1', '$2', interval '2 hours', 'metrics:*')"
}

# postmaster_pid DIR: the PID of the server of the cluster in DIR.
postmaster_pid() {
    head -n 1 "$1/data/postmaster.pid"
}

# A free loopback TCP port (the kernel's choice).
free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# The first line of each report: CPUs, CPU model, memory, kernel.
print_machine() {
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    echo "machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $mem memory, $(uname -sr)"
}

# The 1, 5 and 15 minute load averages.
load_average() {
    cut -d' ' -f1-3 /proc/loadavg
}

# The version of nginx ($NGINX).
nginx_version() {
    "$NGINX" -v 2>&1 | sed 's/^nginx version: //'
}
