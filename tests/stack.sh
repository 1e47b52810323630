#!/bin/sh
# stack.sh: a complete throw-away switchboard stack for tests (the Node
# client tests in tests/js/, the browser tests), all on loopback.
#
#   stack.sh start DIR [--web lighttpd|apache] [--agent]
#       a PostgreSQL cluster in DIR/pg (tests/db/pgcluster.sh), database
#       "switchboard" migrated, the daemons' login role sb_app, the token
#       secret in DIR/token_secret; wsd, switchboard-fcgi (FastCGI on TCP)
#       and lighttpd (default) or Apache with the contrib configurations on
#       free ports; the document root DIR/www (a copy of contrib/dashboard/
#       when it exists, plus contrib/js/switchboard.js as
#       DIR/www/js/switchboard.js); with --agent the demo agent too, when it
#       is built. Writes DIR/stack.env (see below) and prints where things
#       are. On failure everything started is stopped again.
#   stack.sh stop DIR
#       stop every process by its PID file (SIGTERM, SIGKILL after 5 s),
#       then the cluster (DIR/pg is removed; the logs in DIR stay).
#   stack.sh kill SERVICE DIR        SIGKILL wsd, fcgi or agent
#   stack.sh restart SERVICE DIR     start it again (stopping it first when
#                                    it runs) on the same port with the same
#                                    options; waits until it serves
#   stack.sh token DIR [ROLE] [TTL_SECONDS] [PATTERNS...]
#       print a token minted by switchboard.mint_token() through psql:
#       ROLE admin (default), reader, user or agent; TTL 3600 s by default;
#       PATTERNS default to none for admin (every channel), "*" otherwise.
#       The subject is $SB_TOKEN_SUB, else "<role>-test".
#
# DIR/stack.env holds shell assignments (KEY=VALUE, quoted only when the
# value has characters a shell would split): SB_HTTP_URL (the web server:
# /api and /ws behind it), SB_API_URL (SB_HTTP_URL/api), SB_WS_URL
# (ws://.../ws through the web server), SB_WSD_URL (wsd directly), SB_DSN
# (a postgresql:// URI of the database as its owner, for psql), SB_APP_DSN
# (the same as the daemons' login role), SB_TOKEN_SECRET_FILE, SB_WEB,
# the ports (SB_HTTP_PORT, SB_WSD_PORT, SB_FCGI_PORT, SB_PG_PORT) and the
# PID files (SB_WSD_PID_FILE, SB_FCGI_PID_FILE, SB_WEB_PID_FILE,
# SB_AGENT_PID_FILE; the last is empty without a running agent). Logs are
# DIR/wsd.log, DIR/fcgi.log, DIR/lighttpd.err or DIR/apache.err,
# DIR/agent.log.
#
# Run as root, the cluster runs as postgres and Apache's children as
# www-data: DIR and the document root are made readable by everybody.
# Environment: top_srcdir, top_builddir (default: this script's tree),
# PG_BINDIR, SB_LIGHTTPD, SB_APACHE, SB_APACHE_MODULES, SB_PYTHON.
set -u

prog=stack.sh
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
pgcluster=$top_srcdir/tests/db/pgcluster.sh
PY=${SB_PYTHON:-/usr/bin/python3}
DB=switchboard
# Seconds to wait for a service to answer after it is started.
START_WAIT=15

die() {
    echo "$prog: $*" >&2
    exit 1
}

say() {
    echo "$prog: $*" >&2
}

usage() {
    cat >&2 <<EOF
usage: $prog start DIR [--web lighttpd|apache] [--agent]
       $prog stop DIR
       $prog kill wsd|fcgi|agent DIR
       $prog restart wsd|fcgi|agent DIR
       $prog token DIR [ROLE] [TTL_SECONDS] [PATTERNS...]
EOF
    exit 2
}

# A free loopback TCP port (the kernel's choice).
free_port() {
    if [ -x "$PY" ]; then
        "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    else
        node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
    fi
}

# Exit 0 when URL answers 200 within $START_WAIT seconds.
wait_http() {
    n=0
    while [ $n -lt $((START_WAIT * 10)) ]; do
        code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null)
        [ "$code" = 200 ] && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# Exit 0 when something accepts TCP connections on 127.0.0.1:PORT within
# $START_WAIT seconds.
wait_tcp() {
    if [ -x "$PY" ]; then
        "$PY" - "$1" "$START_WAIT" <<'EOF'
import socket, sys, time
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
    else
        node - "$1" "$START_WAIT" <<'EOF'
const net = require('net');
const [port, wait] = process.argv.slice(2).map(Number);
const deadline = Date.now() + wait * 1000;
(function again() {
  const s = net.connect(port, '127.0.0.1', () => { s.destroy(); process.exit(0); });
  s.on('error', () => Date.now() < deadline ? setTimeout(again, 100) : process.exit(1));
})();
EOF
    fi
}

# KEY=VALUE for stack.env, quoted when the value needs it.
env_line() {
    case $2 in
    *[!A-Za-z0-9_./:@=?%+,-]*) printf "%s='%s'\n" "$1" "$2" ;;
    *) printf '%s=%s\n' "$1" "$2" ;;
    esac
}

load_env() {
    [ -f "$1/stack.env" ] || die "$1/stack.env: no stack started in $1"
    # shellcheck source=/dev/null
    . "$1/stack.env"
}

pid_alive() { # PIDFILE
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# SIGTERM the processes of PIDFILEs, SIGKILL what is left after 5 s; remove
# the files.
stop_pidfiles() { # PIDFILE...
    pids=
    for f in "$@"; do
        [ -s "$f" ] && pids="$pids $(cat "$f")"
    done
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
    n=0
    while [ $n -lt 50 ]; do
        alive=
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ -n "$alive" ] || break
        sleep 0.1
        n=$((n + 1))
    done
    for pid in $pids; do
        kill -KILL "$pid" 2>/dev/null && say "killed $pid (did not stop on SIGTERM)"
    done
    rm -f "$@"
}

# --- the services, each started from the files in DIR -------------------------

# Start daemon NAME (wsd or fcgi) of DIR with DIR/NAME.conf, logging to
# DIR/NAME.log, then run CHECK... until it says the daemon serves.
start_daemon() { # DIR NAME BIN PIDFILE CHECK...
    d=$1 name=$2 bin=$3 pidfile=$4
    shift 4
    [ -x "$bin" ] || die "$bin not built"
    "$bin" --config "$d/$name.conf" </dev/null >>"$d/$name.log" 2>&1 &
    echo $! >"$pidfile"
    "$@" || { tail -n 20 "$d/$name.log" >&2; die "$name does not serve ($*)"; }
}

start_wsd() { # DIR
    start_daemon "$1" wsd "$SB_WSD_BIN" "$SB_WSD_PID_FILE" \
        wait_http "http://127.0.0.1:$SB_WSD_PORT/healthz"
}

start_fcgi() { # DIR
    start_daemon "$1" fcgi "$SB_FCGI_BIN" "$SB_FCGI_PID_FILE" wait_tcp "$SB_FCGI_PORT"
}

start_agent() { # DIR
    "$SB_AGENT_BIN" --dsn "$SB_APP_DSN" --log-level info </dev/null >>"$1/agent.log" 2>&1 &
    echo $! >"$1/pids/agent.pid"
    sleep 0.2
    pid_alive "$1/pids/agent.pid" ||
        { tail -n 20 "$1/agent.log" >&2; die "the demo agent exited at once"; }
}

start_service() { # SERVICE DIR
    case $1 in
    wsd) start_wsd "$2" ;;
    fcgi) start_fcgi "$2" ;;
    agent)
        [ -x "$SB_AGENT_BIN" ] || die "the demo agent is not built ($SB_AGENT_BIN)"
        start_agent "$2"
        ;;
    *) usage ;;
    esac
}

pidfile_of() { # SERVICE DIR
    case $1 in
    wsd | fcgi | agent) echo "$2/pids/$1.pid" ;;
    *) usage ;;
    esac
}

# --- the web servers -------------------------------------------------------------

write_lighttpd() { # DIR
    cat >"$1/lighttpd.conf" <<EOF
var.sb_fcgi_host = "127.0.0.1"
var.sb_fcgi_port = $SB_FCGI_PORT
var.sb_wsd_host  = "127.0.0.1"
var.sb_wsd_port  = $SB_WSD_PORT
var.sb_docroot   = "$1/www"
server.bind      = "127.0.0.1"
server.port      = $SB_HTTP_PORT
server.errorlog  = "$1/lighttpd.err"
mimetype.assign  = ( ".html" => "text/html; charset=utf-8",
                     ".js" => "text/javascript; charset=utf-8",
                     ".mjs" => "text/javascript; charset=utf-8",
                     ".css" => "text/css; charset=utf-8",
                     ".json" => "application/json",
                     ".svg" => "image/svg+xml",
                     ".png" => "image/png",
                     ".ico" => "image/x-icon",
                     ".map" => "application/json",
                     ".ts" => "text/plain; charset=utf-8" )
include "$top_srcdir/contrib/lighttpd/switchboard.conf"
EOF
}

start_lighttpd() { # DIR
    LIGHTTPD=${SB_LIGHTTPD:-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
    [ -x "$LIGHTTPD" ] || die "lighttpd not found"
    write_lighttpd "$1"
    "$LIGHTTPD" -tt -f "$1/lighttpd.conf" >"$1/lighttpd.check" 2>&1 ||
        { cat "$1/lighttpd.check" >&2; die "lighttpd rejects the configuration"; }
    "$LIGHTTPD" -D -f "$1/lighttpd.conf" </dev/null >"$1/lighttpd.out" 2>&1 &
    echo $! >"$1/pids/lighttpd.pid"
    SB_WEB_PID_FILE=$1/pids/lighttpd.pid
}

start_apache() { # DIR
    APACHE=${SB_APACHE:-$(command -v apache2 || echo /usr/sbin/apache2)}
    mods=${SB_APACHE_MODULES:-/usr/lib/apache2/modules}
    [ -x "$APACHE" ] || die "apache2 not found"
    [ -f "$mods/mod_proxy_fcgi.so" ] || die "no mod_proxy_fcgi in $mods"
    user=www-data
    id "$user" >/dev/null 2>&1 || user=$(id -un)
    group=$(id -gn "$user")
    mkdir -p "$1/run"
    chmod 0755 "$1/run"
    mime=
    [ -f /etc/mime.types ] && mime="TypesConfig /etc/mime.types"
    cat >"$1/apache.conf" <<EOF
ServerRoot "$1"
ServerName localhost
Listen 127.0.0.1:$SB_HTTP_PORT
PidFile "$1/run/apache.pid"
ErrorLog "$1/apache.err"
LogLevel warn
DefaultRuntimeDir "$1/run"
Mutex file:$1/run default
User $user
Group $group
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule mime_module $mods/mod_mime.so
LoadModule dir_module $mods/mod_dir.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_fcgi_module $mods/mod_proxy_fcgi.so
LoadModule proxy_http_module $mods/mod_proxy_http.so
$mime
AddType "text/javascript; charset=utf-8" .js .mjs
DirectoryIndex index.html
<IfModule mpm_event_module>
    ThreadsPerChild 32
    ServerLimit 4
    MaxRequestWorkers 128
</IfModule>
Define SB_FCGI 127.0.0.1:$SB_FCGI_PORT
Define SB_WSD 127.0.0.1:$SB_WSD_PORT
Define SB_DOCROOT $1/www
Include "$top_srcdir/contrib/apache/switchboard.conf"
EOF
    "$APACHE" -t -f "$1/apache.conf" >"$1/apache.check" 2>&1 ||
        { cat "$1/apache.check" >&2; die "apache2 rejects the configuration"; }
    "$APACHE" -f "$1/apache.conf" -k start </dev/null >"$1/apache.out" 2>&1 ||
        { cat "$1/apache.out" "$1/apache.err" >&2 2>/dev/null; die "apache2 did not start"; }
    SB_WEB_PID_FILE=$1/run/apache.pid
}

# The document root: the dashboard when there is one, and the client.
make_docroot() { # DIR
    rm -rf "$1/www"
    if [ -d "$top_srcdir/contrib/dashboard" ]; then
        cp -R "$top_srcdir/contrib/dashboard" "$1/www" || die "copy contrib/dashboard"
    else
        mkdir -p "$1/www"
        echo '<!doctype html><title>switchboard</title>' >"$1/www/index.html"
    fi
    mkdir -p "$1/www/js"
    cp "$top_srcdir/contrib/js/switchboard.js" "$1/www/js/switchboard.js" ||
        die "copy contrib/js/switchboard.js"
    chmod -R a+rX "$1/www"
}

# --- start -----------------------------------------------------------------------

cmd_start() { # DIR [options]
    dir=$1
    shift
    web=lighttpd
    agent=0
    while [ $# -gt 0 ]; do
        case $1 in
        --web)
            [ $# -ge 2 ] || usage
            web=$2
            shift 2
            ;;
        --web=*)
            web=${1#--web=}
            shift
            ;;
        --agent)
            agent=1
            shift
            ;;
        *) usage ;;
        esac
    done
    case $web in lighttpd | apache) ;; *) die "--web: lighttpd or apache, not $web" ;; esac
    mkdir -p "$dir" || die "mkdir $dir"
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/stack.env" ] && pid_alive "$dir/pids/wsd.pid" &&
        die "a stack already runs in $dir (stop it first)"
    chmod 0755 "$dir"
    mkdir -p "$dir/pids"
    # From here on, a failure stops what was started.
    trap 'say "start failed; stopping what was started"; cmd_stop "$dir" >/dev/null 2>&1' EXIT

    "$pgcluster" start "$dir/pg" >"$dir/pg.env" || die "could not start a cluster"
    # shellcheck source=/dev/null
    . "$dir/pg.env"
    sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d postgres "$@"; }
    sql -c "CREATE DATABASE $DB" || die "createdb $DB"
    migrate=$top_builddir/sql/switchboard-migrate
    if [ -x "$migrate" ]; then
        "$migrate" --sqldir "$top_srcdir/sql" -q -d "dbname=$DB" >"$dir/migrate.log" 2>&1
    else
        sh "$top_srcdir/sql/switchboard-migrate.in" --sqldir "$top_srcdir/sql" -q \
            -d "dbname=$DB" >"$dir/migrate.log" 2>&1
    fi || { cat "$dir/migrate.log" >&2; die "switchboard-migrate"; }
    sql -c 'CREATE ROLE sb_app LOGIN IN ROLE switchboard_app' ||
        die "could not create the login role sb_app"
    (umask 077 && sql -d "$DB" -c 'SELECT switchboard.token_secret()' >"$dir/token_secret") ||
        die "could not read the token secret"
    [ -s "$dir/token_secret" ] || die "empty token secret"

    SB_WSD_BIN=$top_builddir/wsd/wsd
    SB_FCGI_BIN=$top_builddir/fcgi/switchboard-fcgi
    SB_AGENT_BIN=$top_builddir/contrib/agent/switchboard-demo-agent
    SB_WSD_PORT=$(free_port) || die "no free port"
    SB_FCGI_PORT=$(free_port) || die "no free port"
    SB_HTTP_PORT=$(free_port) || die "no free port"
    SB_WSD_PID_FILE=$dir/pids/wsd.pid
    SB_FCGI_PID_FILE=$dir/pids/fcgi.pid
    SB_APP_DSN=postgresql://sb_app@127.0.0.1:$PGPORT/$DB
    SB_DSN=postgresql://postgres@127.0.0.1:$PGPORT/$DB

    cat >"$dir/wsd.conf" <<EOF
# wsd of the test stack in $dir
database_url = host=$PGHOST port=$PGPORT dbname=$DB user=sb_app
token_secret_file = $dir/token_secret
listen_address = 127.0.0.1
listen_port = $SB_WSD_PORT
node_id = stack-wsd
log_level = info
heartbeat_interval = 1s
publish_rate = 10000
publish_burst = 10000
EOF
    cat >"$dir/fcgi.conf" <<EOF
# switchboard-fcgi of the test stack in $dir
database_url = host=$PGHOST port=$PGPORT dbname=$DB user=sb_app
token_secret_file = $dir/token_secret
listen = 127.0.0.1:$SB_FCGI_PORT
threads = 4
poll_timeout_max = 60s
publish_rate = 10000
publish_burst = 10000
heartbeat_interval = 1s
log_level = info
EOF
    make_docroot "$dir"
    start_wsd "$dir"
    start_fcgi "$dir"
    case $web in
    lighttpd) start_lighttpd "$dir" ;;
    apache) start_apache "$dir" ;;
    esac
    SB_HTTP_URL=http://127.0.0.1:$SB_HTTP_PORT
    wait_http "$SB_HTTP_URL/api/v1/health" ||
        { tail -n 20 "$dir/fcgi.log" "$dir"/*.err >&2 2>/dev/null; die "$web does not answer $SB_HTTP_URL/api/v1/health"; }

    SB_AGENT_PID_FILE=
    if [ $agent = 1 ]; then
        if [ -x "$SB_AGENT_BIN" ]; then
            start_agent "$dir"
            SB_AGENT_PID_FILE=$dir/pids/agent.pid
        else
            say "the demo agent is not built ($SB_AGENT_BIN): going on without it"
        fi
    fi

    {
        echo "# switchboard test stack: $prog start $dir --web $web"
        env_line SB_DIR "$dir"
        env_line SB_WEB "$web"
        env_line SB_HTTP_URL "$SB_HTTP_URL"
        env_line SB_API_URL "$SB_HTTP_URL/api"
        env_line SB_WS_URL "ws://127.0.0.1:$SB_HTTP_PORT/ws"
        env_line SB_WSD_URL "ws://127.0.0.1:$SB_WSD_PORT/ws"
        env_line SB_DSN "$SB_DSN"
        env_line SB_APP_DSN "$SB_APP_DSN"
        env_line SB_TOKEN_SECRET_FILE "$dir/token_secret"
        env_line SB_HTTP_PORT "$SB_HTTP_PORT"
        env_line SB_WSD_PORT "$SB_WSD_PORT"
        env_line SB_FCGI_PORT "$SB_FCGI_PORT"
        env_line SB_PG_PORT "$PGPORT"
        env_line SB_PG_HOST "$PGHOST"
        env_line SB_WSD_BIN "$SB_WSD_BIN"
        env_line SB_FCGI_BIN "$SB_FCGI_BIN"
        env_line SB_AGENT_BIN "$SB_AGENT_BIN"
        env_line SB_WSD_PID_FILE "$SB_WSD_PID_FILE"
        env_line SB_FCGI_PID_FILE "$SB_FCGI_PID_FILE"
        env_line SB_WEB_PID_FILE "$SB_WEB_PID_FILE"
        env_line SB_AGENT_PID_FILE "$SB_AGENT_PID_FILE"
    } >"$dir/stack.env"
    chmod 0644 "$dir/stack.env"
    trap - EXIT
    say "$web on $SB_HTTP_URL (/api, /ws), wsd on $SB_WSD_PORT, switchboard-fcgi on $SB_FCGI_PORT, PostgreSQL on $PGPORT; env in $dir/stack.env"
}

# --- stop, kill, restart, token ---------------------------------------------------

cmd_stop() { # DIR
    dir=$1
    [ -d "$dir" ] || return 0
    # The agent first (it uses the others), the daemons (which ends the
    # requests the web server still proxies to them), the web server.
    stop_pidfiles "$dir/pids/agent.pid"
    stop_pidfiles "$dir/pids/wsd.pid" "$dir/pids/fcgi.pid"
    stop_pidfiles "$dir/run/apache.pid" "$dir"/pids/*.pid
    if [ -d "$dir/pg" ]; then
        "$pgcluster" stop "$dir/pg" >/dev/null 2>&1 ||
            { say "could not stop the cluster in $dir/pg"; return 1; }
    fi
    return 0
}

cmd_kill() { # SERVICE DIR
    f=$(pidfile_of "$1" "$2")
    [ -s "$f" ] || die "$1 does not run in $2 (no $f)"
    pid=$(cat "$f")
    kill -KILL "$pid" 2>/dev/null || say "$1 ($pid) was not running"
    n=0
    while [ $n -lt 50 ] && kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
        n=$((n + 1))
    done
    kill -0 "$pid" 2>/dev/null && die "$1 ($pid) survived SIGKILL"
    rm -f "$f"
}

cmd_restart() { # SERVICE DIR
    dir=$(cd "$2" && pwd) || die "no directory $2"
    load_env "$dir"
    stop_pidfiles "$(pidfile_of "$1" "$dir")"
    start_service "$1" "$dir"
}

cmd_token() { # DIR [ROLE] [TTL] [PATTERNS...]
    load_env "$1"
    role=${2:-admin}
    ttl=${3:-3600}
    if [ $# -ge 3 ]; then shift 3; else shift $#; fi
    sub=${SB_TOKEN_SUB:-$role-test}
    case $role in reader | user | agent | admin) ;; *) die "role: reader, user, agent or admin" ;; esac
    case $ttl in '' | *[!0-9]*) die "TTL_SECONDS: a positive integer" ;; esac
    case $sub in '' | *[!A-Za-z0-9_.@-]*) die "SB_TOKEN_SUB: letters, digits, _ . @ - only" ;; esac
    args=
    [ $# -eq 0 ] && [ "$role" != admin ] && set -- '*'
    for p in "$@"; do
        case $p in '' | *[!A-Za-z0-9_.:/*-]*) die "pattern $p: not a channel pattern" ;; esac
        args="$args, '$p'"
    done
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$SB_DSN" \
        -c "SELECT switchboard.mint_token('$sub', '$role', interval '$ttl seconds'$args)" ||
        die "mint_token failed"
}

[ $# -ge 2 ] || usage
case $1 in
start)
    shift
    cmd_start "$@"
    ;;
stop)
    [ $# -eq 2 ] || usage
    cmd_stop "$2"
    ;;
kill)
    [ $# -eq 3 ] || usage
    cmd_kill "$2" "$3"
    ;;
restart)
    [ $# -eq 3 ] || usage
    cmd_restart "$2" "$3"
    ;;
token)
    shift
    cmd_token "$@"
    ;;
*) usage ;;
esac
