#!/bin/sh
# run-js-tests.sh: the JavaScript client (contrib/js/switchboard.js) against
# the real servers, run by "make check".
#
# Starts a throw-away stack with tests/stack.sh (PostgreSQL, wsd,
# switchboard-fcgi, lighttpd) in a temporary directory and runs the Node
# suites tests/js/test_*.mjs on it with `node --experimental-websocket
# --test` (node:test and node:assert only, one file after another: the
# resilience suite kills and restarts daemons). Then, when Apache is
# installed, stops that stack, starts one behind Apache and runs the
# everyday suite (test_client.mjs) through it. Every stack is stopped on
# exit and the directory removed.
#
# Exit 0 when all pass, 1 on any failure, 77 (skipped) when node (20 or
# later), PostgreSQL, psql, curl or lighttpd are missing, unless
# SB_REQUIRE_NODE=1. Without apache2 the Apache pass is left out (a failure
# when SB_REQUIRE_WEB=1).
#
# Environment (set by make check): top_srcdir, top_builddir, PG_BINDIR.
# Also: SB_NODE (the node binary), SB_JS_TESTS (test files to run instead of
# all, names relative to tests/js), SB_JS_KEEP=1 (keep the directory and
# its logs), SB_JS_APACHE=0 (leave the Apache pass out).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
STACK=$top_srcdir/tests/stack.sh
SUITES="test_client.mjs test_auth.mjs test_resilience.mjs"
APACHE_SUITES="test_client.mjs"

# shellcheck disable=SC2034 # both are read by harness.sh
harness_name=run-js-tests
# shellcheck disable=SC2034
harness_require=SB_REQUIRE_NODE
# shellcheck source=../harness.sh
. "$top_srcdir/tests/harness.sh"

# --- what we need ------------------------------------------------------------

NODE=${SB_NODE:-$(command -v node || command -v nodejs || true)}
if [ -z "$NODE" ] || [ ! -x "$NODE" ]; then
    skip "node not found (apt-get install nodejs)"
fi
major=$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 20 ] || skip "node $major is too old: 20 or later is needed"
require_pg_server
command -v curl >/dev/null 2>&1 || skip "curl not found"
command -v lighttpd >/dev/null 2>&1 || [ -x /usr/sbin/lighttpd ] || skip "lighttpd not found"
[ -x "$top_builddir/wsd/wsd" ] || fail "$top_builddir/wsd/wsd not built"
[ -x "$top_builddir/fcgi/switchboard-fcgi" ] || fail "$top_builddir/fcgi/switchboard-fcgi not built"

apache=0
if [ "${SB_JS_APACHE:-1}" = 1 ]; then
    if { command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ]; } &&
        [ -f "${SB_APACHE_MODULES:-/usr/lib/apache2/modules}/mod_proxy_fcgi.so" ]; then
        apache=1
    elif [ "${SB_REQUIRE_WEB:-0}" = 1 ]; then
        fail "apache2 with mod_proxy_fcgi not found (SB_REQUIRE_WEB=1)"
    else
        say "apache2 with mod_proxy_fcgi not found: the Apache pass is left out"
    fi
fi

# --- the stacks ----------------------------------------------------------------

base=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-jstest.XXXXXX") || fail "mktemp"
# The cluster runs as postgres and Apache's children as www-data when run
# by root: both must reach what is in here.
chmod 0755 "$base"

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    for d in "$base/lighttpd" "$base/apache"; do
        [ -d "$d" ] && "$STACK" stop "$d" >/dev/null 2>&1
    done
    if [ "${SB_JS_KEEP:-0}" = 1 ]; then
        say "kept $base"
    else
        rm -rf "$base"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Run the suites FILES... on the stack in DIR; exit status 0 when all pass.
run_suites() { # DIR FILES...
    dir=$1
    shift
    files=
    for f in "$@"; do files="$files $here/$f"; done
    say "running$(for f in "$@"; do printf ' %s' "$f"; done) on $(sed -n 's/^SB_WEB=//p' "$dir/stack.env")"
    # shellcheck disable=SC2086 # a list of files
    SB_STACK_DIR=$dir timeout 900 "$NODE" --experimental-websocket --no-warnings \
        --test --test-concurrency=1 --test-reporter=spec $files
}

show_logs() { # DIR
    for f in "$1"/wsd.log "$1"/fcgi.log "$1"/lighttpd.err "$1"/apache.err; do
        [ -s "$f" ] || continue
        echo "--- last lines of $f"
        tail -n 20 "$f"
    done
}

rc=0
"$STACK" start "$base/lighttpd" --web lighttpd || fail "tests/stack.sh start (lighttpd)"
# shellcheck disable=SC2086 # a list of names
run_suites "$base/lighttpd" ${SB_JS_TESTS:-$SUITES} || { rc=1; show_logs "$base/lighttpd"; }
"$STACK" stop "$base/lighttpd" || rc=1

if [ $apache = 1 ] && [ -z "${SB_JS_TESTS:-}" ]; then
    "$STACK" start "$base/apache" --web apache || fail "tests/stack.sh start (apache)"
    # shellcheck disable=SC2086 # a list of names
    run_suites "$base/apache" $APACHE_SUITES || { rc=1; show_logs "$base/apache"; }
    "$STACK" stop "$base/apache" || rc=1
fi

[ $rc -eq 0 ] || fail "the JavaScript client suite failed (SB_JS_KEEP=1 keeps the logs)"
say "all passed"
exit 0
