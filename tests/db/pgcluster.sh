#!/bin/sh
# pgcluster.sh: a throw-away PostgreSQL cluster for tests and benchmarks.
#
#   pgcluster.sh start DIR   create DIR/data (initdb), start a server that
#                            listens on 127.0.0.1 (a free port) and on a unix
#                            socket in DIR, and print shell assignments
#                            (PGHOST PGPORT PGUSER) to eval or source
#   pgcluster.sh stop DIR [--keep]
#                            stop that server (fast shutdown) and remove DIR,
#                            or keep DIR to start it again later
#   pgcluster.sh status DIR  exit 0 and print the assignments when it runs,
#                            exit 3 when it does not
#
# start on a DIR kept by "stop --keep" starts that cluster again (on its
# previous port when that is still free).
#
# Trust authentication, for local test use only. fsync stays on, so the
# benchmarks that use this cluster measure real commits. PostgreSQL refuses
# to run as root: when started by root, DIR is handed to the "postgres"
# system user and initdb/pg_ctl run as that user. The server binaries come
# from $PG_BINDIR, else the newest /usr/lib/postgresql/*/bin.
set -eu

prog=pgcluster.sh
# Marks a DIR made here: stop removes only such a directory.
marker=.switchboard-pgcluster

die() {
    echo "$prog: $*" >&2
    exit 1
}

usage() {
    echo "usage: $prog start DIR | stop DIR [--keep] | status DIR" >&2
    exit 2
}

find_bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then
        [ -x "$PG_BINDIR/initdb" ] || die "no initdb in PG_BINDIR=$PG_BINDIR"
        echo "$PG_BINDIR"
        return
    fi
    # The highest version (a plain glob would sort 10 before 9).
    best=$(for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && echo "$d"
    done | sort -t/ -k5,5n | tail -n 1)
    [ -n "$best" ] || die "no PostgreSQL server binaries (set PG_BINDIR)"
    echo "$best"
}

# Run a command as the cluster's owner: ourselves, or "postgres" when root.
as_owner() {
    if [ "$(id -u)" -ne 0 ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    else
        # shellcheck disable=SC2016 # expanded by the inner shell
        su postgres -s /bin/sh -c '"$0" "$@"' -- "$@"
    fi
}

port_free() {
    command -v ss >/dev/null 2>&1 || return 0
    ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

# A port in 20000..59999 that nothing seems to listen on.
pick_port() {
    i=0
    while [ $i -lt 50 ]; do
        i=$((i + 1))
        port=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        port=$((20000 + port % 40000))
        if port_free "$port"; then
            echo "$port"
            return
        fi
    done
    die "found no free port"
}

print_env() {
    echo "PGHOST='$1'; export PGHOST"
    echo "PGPORT='$2'; export PGPORT"
    echo "PGUSER='postgres'; export PGUSER"
}

running() {
    [ -f "$1/data/postmaster.pid" ] &&
        as_owner "$bindir/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

create_cluster() {
    # --no-sync only skips initdb's own flush of the new files; the server
    # itself runs with fsync on.
    as_owner "$bindir/initdb" -D "$1/data" -U postgres -A trust \
        -E UTF8 --locale=C.UTF-8 --no-sync >"$1/initdb.log" 2>&1 ||
        { cat "$1/initdb.log" >&2; die "initdb failed"; }
    {
        echo "# switchboard test cluster"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$1'"
        echo "fsync = on"
        echo "max_connections = 200"
        echo "shared_buffers = 128MB"
        echo "log_min_messages = warning"
        echo "log_line_prefix = '%m [%p] %d '"
    } >>"$1/data/postgresql.conf"
}

cmd_start() {
    dir=$1
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ -e "$dir/data" ]; then
        [ -e "$dir/$marker" ] || die "$dir/data exists and was not made by $prog"
        if running "$dir"; then
            print_env "$dir" "$(cat "$dir/port")"
            return
        fi
    else
        : >"$dir/$marker"
    fi
    # The socket lives in DIR: keep DIR reachable for any local client.
    chmod 0755 "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 ||
            die "running as root needs the postgres system user"
        chown postgres "$dir"
        as_owner test -w "$dir" ||
            die "$dir: not writable by postgres (are its parents searchable?)"
    fi
    [ -e "$dir/data" ] || create_cluster "$dir"
    port=
    if [ -f "$dir/port" ] && port_free "$(cat "$dir/port")"; then
        port=$(cat "$dir/port")
    fi
    tries=0
    while :; do
        tries=$((tries + 1))
        [ -n "$port" ] || port=$(pick_port)
        if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
            -o "-p $port" -w -t 60 start >"$dir/pg_ctl.log" 2>&1; then
            break
        fi
        # Another process may have taken the port in between: try another.
        if [ $tries -lt 5 ] &&
            grep -q 'could not bind\|could not create any TCP/IP\|already in use' \
                "$dir/server.log" 2>/dev/null; then
            port=
            continue
        fi
        cat "$dir/pg_ctl.log" "$dir/server.log" >&2 2>/dev/null || true
        die "could not start the server in $dir"
    done
    echo "$port" >"$dir/port"
    print_env "$dir" "$port"
}

cmd_stop() {
    dir=$1
    [ -d "$dir" ] || return 0
    [ -e "$dir/$marker" ] || die "$dir was not made by $prog; not touching it"
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop \
            >/dev/null 2>&1 || echo "$prog: pg_ctl stop failed in $dir" >&2
    fi
    [ "$2" = keep ] || rm -rf "$dir"
}

cmd_status() {
    dir=$1
    if [ -e "$dir/$marker" ] && running "$dir"; then
        print_env "$(cd "$dir" && pwd)" "$(cat "$dir/port")"
        return 0
    fi
    return 3
}

[ $# -ge 2 ] || usage
bindir=$(find_bindir)
case $1 in
start)
    [ $# -eq 2 ] || usage
    cmd_start "$2"
    ;;
stop)
    if [ $# -eq 2 ]; then
        cmd_stop "$2" remove
    elif [ $# -eq 3 ] && [ "$3" = --keep ]; then
        cmd_stop "$2" keep
    else
        usage
    fi
    ;;
status)
    [ $# -eq 2 ] || usage
    cmd_status "$2"
    ;;
*) usage ;;
esac
