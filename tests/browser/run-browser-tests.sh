#!/bin/sh
# run-browser-tests.sh: the dashboard in a real browser, run by "make check".
#
# Starts a complete stack in a temporary directory (tests/stack.sh start
# DIR --agent: a throw-away PostgreSQL cluster, wsd, switchboard-fcgi
# behind lighttpd serving contrib/dashboard with contrib/js/switchboard.js,
# and the demo agent), then runs tests/browser/*.test.mjs with node's test
# runner; they drive Debian's headless Chromium through playwright-core
# (installed by "npm install" in tests/browser). Screenshots are saved in a
# directory that is kept, and their paths are printed. On any exit the
# stack is stopped and its directory removed.
#
# Exit 0 when all pass, 1 on any failure, 77 (skipped) when node, Chromium
# or tests/browser/node_modules/playwright-core are missing, or PostgreSQL
# is absent, unless SB_REQUIRE_BROWSER=1.
#
# Environment (set by make check): top_srcdir, top_builddir, PG_BINDIR.
# Also: SB_CHROMIUM (default /usr/bin/chromium), SB_NODE (default node),
# SB_BROWSER_TESTS (a --test-name-pattern to run only some tests),
# SB_BROWSER_KEEP=1 (keep the stack's directory and logs),
# SB_SHOTS_DIR (where screenshots go; default a new temporary directory),
# SB_BROWSER_WAIT_MS (the bound of every wait in a test, default 30000).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
NODE=${SB_NODE:-node}
CHROMIUM=${SB_CHROMIUM:-/usr/bin/chromium}
tests=$top_srcdir/tests/browser
# Where node_modules/playwright-core is (npm install there): the source
# tree's by default; make distcheck's read-only copy is given the original's.
modules=${SB_BROWSER_MODULES_DIR:-$tests}

harness_name=run-browser-tests
harness_require=SB_REQUIRE_BROWSER
# shellcheck source=../harness.sh
. "$top_srcdir/tests/harness.sh"

# --- what we need --------------------------------------------------------------

command -v "$NODE" >/dev/null 2>&1 || skip "node not found"
"$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
    skip "node 20 or later needed ($("$NODE" --version))"
[ -x "$CHROMIUM" ] || skip "$CHROMIUM not found (apt-get install chromium)"
[ -f "$modules/node_modules/playwright-core/package.json" ] ||
    skip "no playwright-core in $modules/node_modules (run npm install in tests/browser)"
require_pg_server
command -v lighttpd >/dev/null 2>&1 || [ -x /usr/sbin/lighttpd ] || skip "lighttpd not found"
[ -x "$top_builddir/wsd/wsd" ] || fail "$top_builddir/wsd/wsd not built"
[ -x "$top_builddir/fcgi/switchboard-fcgi" ] || fail "$top_builddir/fcgi/switchboard-fcgi not built"
[ -x "$top_builddir/contrib/agent/switchboard-demo-agent" ] ||
    fail "$top_builddir/contrib/agent/switchboard-demo-agent not built"

# --- the stack -------------------------------------------------------------------

base=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-browser.XXXXXX") || fail "mktemp"
shots=${SB_SHOTS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/switchboard-screenshots.XXXXXX")} ||
    fail "mktemp"
mkdir -p "$shots" || fail "mkdir $shots"
# Run as root, the cluster runs as postgres: it must reach its directory.
chmod 0755 "$base"

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    "$top_srcdir/tests/stack.sh" stop "$base/stack" >/dev/null 2>&1 ||
        echo "run-browser-tests: could not stop the stack in $base/stack" >&2
    if [ "${SB_BROWSER_KEEP:-0}" = 1 ]; then
        say "kept $base"
    else
        rm -rf "$base"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

"$top_srcdir/tests/stack.sh" start "$base/stack" --agent >"$base/stack.out" 2>&1 ||
    { cat "$base/stack.out" >&2; fail "could not start the stack"; }
# shellcheck source=/dev/null
. "$base/stack/stack.env"
[ -n "$SB_AGENT_PID_FILE" ] || { cat "$base/stack.out" >&2; fail "the demo agent did not start"; }
say "dashboard on $SB_HTTP_URL/, screenshots in $shots"

# --- the tests ---------------------------------------------------------------------

SB_STACK_DIR=$base/stack
SB_TOP_SRCDIR=$top_srcdir
SB_SHOTS_DIR=$shots
SB_CHROMIUM=$CHROMIUM
SB_BROWSER_MODULES_DIR=$modules
export SB_STACK_DIR SB_TOP_SRCDIR SB_SHOTS_DIR SB_CHROMIUM SB_BROWSER_MODULES_DIR

cd "$tests" || fail "cd $tests"
set -- --test --test-concurrency=1 --test-reporter=spec
[ -n "${SB_BROWSER_TESTS:-}" ] && set -- "$@" --test-name-pattern="$SB_BROWSER_TESTS"
timeout 900 "$NODE" "$@" ./*.test.mjs
rc=$?
if [ "$rc" -eq 0 ]; then
    say "all passed; screenshots in $shots"
    exit 0
fi
say "FAIL (rc $rc); logs: wsd.log, fcgi.log, lighttpd.err, agent.log in $base/stack (SB_BROWSER_KEEP=1 keeps them)"
tail -n 20 "$base/stack/agent.log" "$base/stack/wsd.log" >&2 2>/dev/null
exit 1
