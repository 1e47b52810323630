#!/bin/sh
# run-agent-tests.sh: integration test of switchboard-demo-agent, run by
# "make check".
#
# Starts a throw-away cluster (tests/db/pgcluster.sh) in a temporary
# directory, migrates database switchboard_agent, creates the login role
# sb_agent (IN ROLE switchboard_app) and starts the agent on it. Then,
# through psql only (publish() as a user, LISTEN switchboard_signal for the
# streamed tokens, the views and tables for what was stored), it checks:
#   - a message written before the agent started is not answered;
#   - a question gets typing, progress and token signals, agent_step,
#     tool_call and tool_result events, one reply stored with the tokens'
#     reply_id whose text is the tokens joined, a workflow task that ends
#     completed (with workflow.stats published), activity entries at info
#     and success, and agent.started / agent.completed on agent:demo;
#   - a "slow" message, answered at the same time, adds a warning entry;
#   - a "fail" message gets a failed tool_result, an error event, no reply,
#     a failed task and an error entry;
#   - a cancel during the stream gets cancelled, no reply, no token after
#     the cancel, a cancelled task and a warning entry;
#   - after its database connection is terminated, the agent reconnects and
#     answers a message written while it was away;
#   - bad options exit 2 with a message; SIGTERM exits 0 after agent.health
#     offline.
# Every wait is bounded. On any exit the agent and the cluster are stopped
# by PID and the directory removed (SB_AGENT_KEEP=1 keeps it).
#
# Exit 0 when all pass, 1 on any failure, 77 (skipped) without PostgreSQL,
# psql or python3 (unless SB_REQUIRE_DB=1).
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
AGENT=$top_builddir/contrib/agent/switchboard-demo-agent
PY=${SB_PYTHON:-/usr/bin/python3}

harness_name=run-agent-tests
harness_require=SB_REQUIRE_DB
# shellcheck source=../harness.sh
. "$top_srcdir/tests/harness.sh"

require_pg_server
[ -x "$PY" ] || skip "$PY not found"
[ -x "$AGENT" ] || fail "$AGENT not built"

new_base agenttest
checks=0

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop_pids 5 "$base/listen.pid" "$base/agent.pid"
    pg_stop "$cluster"
    keep_or_remove "$base" SB_AGENT_KEEP
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- the cluster, the schema, the agent's role ---------------------------------

pg_start "$cluster"
DB=switchboard_agent
pg_database $DB sb_agent
DSN="host=$PGHOST port=$PGPORT dbname=$DB user=sb_agent"

# q SQL: one value per line, unaligned.
q() {
    psql -X -At -v ON_ERROR_STOP=1 -c "$1"
}

# expect WHAT SQL WANT: the query's output must be exactly WANT.
expect() {
    got=$(q "$2") || fail "$1: query failed: $2"
    [ "$got" = "$3" ] || fail "$1: expected '$3', got '$got'"
    checks=$((checks + 1))
}

# wait_for WHAT SECONDS SQL: until the query prints something other than
# nothing, 0, f or an empty line.
wait_for() {
    n=0
    while [ "$n" -lt $(($2 * 10)) ]; do
        got=$(q "$3" 2>/dev/null)
        case "$got" in "" | 0 | f) ;; *) checks=$((checks + 1)); return 0 ;; esac
        sleep 0.1
        n=$((n + 1))
    done
    tail -n 30 "$base/agent.log" >&2
    fail "$1: not within $2 s"
}

# publish CHANNEL TYPE DATA SENDER: prints the new event's id.
publish() {
    q "SELECT id FROM switchboard.publish('$1', '$2', '$3', '$4')" ||
        fail "publish on $1"
}

# The events of a reply turn: count of TYPE with data.reply_to = ID.
turn_count() {
    echo "SELECT count(*) FROM switchboard.event_log WHERE channel = '$1'
          AND type = '$2' AND data->>'reply_to' = '$3'"
}

start_agent() {
    "$AGENT" --dsn "$DSN" --token-interval-ms "${1:-25}" --log-level debug \
        >>"$base/agent.log" 2>&1 &
    echo $! >"$base/agent.pid"
}

# --- bad options --------------------------------------------------------------

for bad in "--channels activity:*" "--token-interval-ms 0" "--dsn nosuchkey=1" "--log-level loud" \
    "--no-such-option 1"; do
    # shellcheck disable=SC2086 # one option and its value
    "$AGENT" $bad >"$base/bad.out" 2>&1
    rc=$?
    [ "$rc" -eq 2 ] || fail "$bad: exit $rc, expected 2"
    grep -q 'config' "$base/bad.out" || fail "$bad: no config error: $(cat "$base/bad.out")"
    checks=$((checks + 1))
done
"$AGENT" --help >"$base/help.out" 2>&1 || fail "--help failed"
grep -q 'token_interval_ms' "$base/help.out" || fail "--help does not list token_interval_ms"
say "bad options refused, --help lists the options"

# --- an old message, then the agent -------------------------------------------------

old=$(publish chat:old message '{"text":"written before the agent started"}' user:alice)
start_agent 25
wait_for "agent.health online" 15 \
    "SELECT count(*) FROM switchboard.event_log WHERE channel = 'agent:demo'
      AND type = 'agent.health' AND data->>'status' = 'online'"
# The inbox has taken its snapshot once the agent logs it.
n=0
while ! grep -q 'following .* chat channels' "$base/agent.log" && [ "$n" -lt 100 ]; do
    sleep 0.1
    n=$((n + 1))
done
say "agent up: $(grep -c . "$base/agent.log") log lines"

# LISTEN for signals in a psql session that polls every 0.1 s (psql prints
# notifications after each command), for at most 60 s.
(
    echo 'LISTEN switchboard_signal;'
    i=0
    while [ "$i" -lt 600 ]; do
        echo 'SELECT 1;'
        sleep 0.1
        i=$((i + 1))
    done
) | psql -X -q -At >"$base/signals.txt" 2>&1 &
echo $! >"$base/listen.pid"
sleep 0.5

# --- a question and a slow one, answered at the same time -----------------------------

ask=$(publish chat:t1 message '{"text":"Hello! How does seq ordering work after a reconnect?"}' user:alice)
slow=$(publish chat:t2 message '{"text":"take it slow, please"}' user:bob)
wait_for "reply to the question" 20 "$(turn_count chat:t1 reply "$ask")"
wait_for "reply to the slow one" 20 "$(turn_count chat:t2 reply "$slow")"

expect "one reply" "$(turn_count chat:t1 reply "$ask")" 1
expect "tool_call" "$(turn_count chat:t1 tool_call "$ask")" 1
expect "tool_result ok" "SELECT data->>'ok' FROM switchboard.event_log
    WHERE channel = 'chat:t1' AND type = 'tool_result' AND data->>'reply_to' = '$ask'" true
expect "tool_call before tool_result, same call_id" "SELECT count(DISTINCT data->>'call_id')
    FROM switchboard.event_log WHERE channel = 'chat:t1' AND data->>'reply_to' = '$ask'
    AND type IN ('tool_call', 'tool_result')" 1
expect "agent_step started and completed" "SELECT count(*) FROM switchboard.event_log
    WHERE channel = 'chat:t1' AND type = 'agent_step' AND data->>'reply_to' = '$ask'" 6
expect "reply sender" "SELECT sender FROM switchboard.event_log
    WHERE channel = 'chat:t1' AND type = 'reply'" agent:demo
expect "events in turn order" "SELECT string_agg(type, ',' ORDER BY seq) FROM switchboard.event_log
    WHERE channel = 'chat:t1' AND type IN ('message', 'tool_call', 'tool_result', 'reply')" \
    "message,tool_call,tool_result,reply"
task=$(q "SELECT id FROM switchboard.tasks WHERE metadata->>'message_id' = '$ask'")
[ -n "$task" ] || fail "no task for the question"
wait_for "task completed" 5 "SELECT state = 'completed' FROM switchboard.tasks WHERE id = '$task'"
expect "task on workflow:demo" "SELECT channel FROM switchboard.tasks WHERE id = '$task'" workflow:demo
expect "workflow.stats published" "SELECT count(*) > 2 FROM switchboard.event_log
    WHERE channel = 'workflow:demo' AND type = 'workflow.stats'" t
wait_for "activity success" 5 "SELECT count(*) FROM switchboard.recent_activity
    WHERE level = 'success' AND metadata->>'message_id' = '$ask'"
expect "activity info" "SELECT count(*) FROM switchboard.recent_activity
    WHERE level = 'info' AND metadata->>'message_id' = '$ask'" 1
expect "agent:demo started and completed" "SELECT string_agg(type, ',' ORDER BY seq)
    FROM switchboard.event_log WHERE channel = 'agent:demo' AND data->>'reply_to' = '$ask'" \
    "agent.started,agent.completed"
wait_for "slow tool warning" 5 "SELECT count(*) FROM switchboard.recent_activity
    WHERE level = 'warning' AND metadata->>'message_id' = '$slow'"
say "question and slow question answered"

# The streamed tokens: their texts joined in index order are the reply.
sleep 0.5
q "SELECT id || ' ' || (data->>'text') FROM switchboard.event_log
    WHERE channel = 'chat:t1' AND type = 'reply'" >"$base/reply.txt"
"$PY" - "$base/signals.txt" "$base/reply.txt" "$ask" <<'PYEOF' ||
import json, re, sys
signals, reply_file, ask = sys.argv[1:4]
events = []
for line in open(signals, encoding="utf-8"):
    m = re.search(r'with payload "(.*)" received from server process', line)
    if m:
        events.append(json.loads(m.group(1)))
reply_id, _, text = open(reply_file, encoding="utf-8").read().partition(" ")
text = text[:-1] if text.endswith("\n") else text
mine = [e for e in events if e["data"].get("reply_to") == ask]
tokens = sorted((e for e in mine if e["type"] == "token"), key=lambda e: e["data"]["index"])
kinds = {e["type"] for e in mine}
assert tokens, "no token signal seen"
assert all(e["data"]["reply_id"] == reply_id for e in tokens), "a token with another reply_id"
assert [e["data"]["index"] for e in tokens] == list(range(len(tokens))), "token indexes"
assert all(e["seq"] is None and e["sender"] == "agent:demo" for e in tokens)
joined = "".join(e["data"]["text"] for e in tokens)
assert joined == text, "tokens %r != reply %r" % (joined, text)
assert "progress" in kinds, "no progress signal"
typing = [e for e in events if e["type"] == "typing" and e["channel"] == "chat:t1"]
assert typing and typing[0]["data"]["active"] is True and typing[-1]["data"]["active"] is False
print("run-agent-tests: %d tokens joined equal the stored reply (%d bytes)" % (len(tokens), len(text)))
PYEOF
    fail "token signals do not match the reply"
checks=$((checks + 1))

# --- a failing tool ------------------------------------------------------------

bad=$(publish chat:t1 message '{"text":"please fail this one"}' user:alice)
wait_for "error event" 20 "$(turn_count chat:t1 error "$bad")"
expect "error code" "SELECT data->>'code' FROM switchboard.event_log WHERE channel = 'chat:t1'
    AND type = 'error' AND data->>'reply_to' = '$bad'" tool_failed
expect "failed tool_result" "SELECT data->>'ok' FROM switchboard.event_log WHERE channel = 'chat:t1'
    AND type = 'tool_result' AND data->>'reply_to' = '$bad'" false
wait_for "task failed" 5 "SELECT state = 'failed' FROM switchboard.tasks WHERE metadata->>'message_id' = '$bad'"
wait_for "error entry" 5 "SELECT count(*) FROM switchboard.recent_activity
    WHERE level = 'error' AND metadata->>'message_id' = '$bad'"
expect "no reply after an error" "$(turn_count chat:t1 reply "$bad")" 0
say "failing tool: error event, failed task, error entry, no reply"

# --- cancel during the stream --------------------------------------------------------

stop_pids 5 "$base/agent.pid"
start_agent 150
wait_for "agent online again" 15 \
    "SELECT count(*) > 1 FROM switchboard.event_log WHERE channel = 'agent:demo'
      AND type = 'agent.health' AND data->>'status' = 'online'"
sleep 0.5
long=$(publish chat:t3 message '{"text":"Tell me about tokens, presence, metrics and workflows"}' user:carol)
n=0
until grep -F "$long" "$base/signals.txt" | grep -q '"type":"token"'; do
    [ "$n" -lt 150 ] || fail "no token for the message to cancel within 15 s"
    sleep 0.1
    n=$((n + 1))
done
publish chat:t3 cancel "{\"reply_to\":\"$long\"}" user:carol >/dev/null
wait_for "cancelled event" 10 "$(turn_count chat:t3 cancelled "$long")"
wait_for "task cancelled" 5 "SELECT state = 'cancelled' FROM switchboard.tasks
    WHERE metadata->>'message_id' = '$long'"
wait_for "cancel warning" 5 "SELECT count(*) FROM switchboard.recent_activity
    WHERE level = 'warning' AND metadata->>'message_id' = '$long'"
sleep 1
expect "no reply after cancel" "$(turn_count chat:t3 reply "$long")" 0
cancelled_at=$(q "SELECT data->>'reason' FROM switchboard.event_log WHERE channel = 'chat:t3' AND type = 'cancelled'")
[ "$cancelled_at" = "cancelled by user:carol" ] || fail "cancel reason: $cancelled_at"
q "SELECT time FROM switchboard.event_log WHERE channel = 'chat:t3' AND type = 'cancel'" >"$base/cancel.txt"
"$PY" - "$base/signals.txt" "$long" "$(cat "$base/cancel.txt")" <<'PYEOF' ||
import json, re, sys, datetime
signals, long, cancel_time = sys.argv[1:4]
def t(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00").replace(" ", "T"))
tokens = []
for line in open(signals, encoding="utf-8"):
    m = re.search(r'with payload "(.*)" received from server process', line)
    if m:
        e = json.loads(m.group(1))
        if e["type"] == "token" and e["data"].get("reply_to") == long:
            tokens.append(e)
late = [e for e in tokens if t(e["time"]) > t(cancel_time) + datetime.timedelta(milliseconds=400)]
assert tokens, "no tokens"
assert not late, "%d tokens streamed more than 0.4 s after the cancel" % len(late)
print("run-agent-tests: %d tokens before the cancel, none after" % len(tokens))
PYEOF
    fail "tokens kept streaming after the cancel"
say "cancel: cancelled event, cancelled task, warning entry, no reply"

# --- the connection drops --------------------------------------------------------------

q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE usename = 'sb_agent' AND application_name = 'switchboard-demo-agent'" >/dev/null
away=$(publish chat:t4 message '{"text":"did you miss me while the database was away?"}' user:dave)
wait_for "reply after reconnect" 30 "$(turn_count chat:t4 reply "$away")"
grep -q 'reconnecting in' "$base/agent.log" || fail "the agent did not log the lost connection"
say "reconnected and answered the message written while away"

# --- what must not have happened, and the stop ---------------------------------------------

expect "old message not answered" "SELECT count(*) FROM switchboard.event_log
    WHERE channel = 'chat:old' AND (sender = 'agent:demo' OR data->>'reply_to' = '$old')" 0
expect "one reply per answered message" "SELECT count(*) FROM (SELECT data->>'reply_to'
    FROM switchboard.event_log WHERE type = 'reply' GROUP BY 1 HAVING count(*) > 1) d" 0
pid=$(cat "$base/agent.pid")
kill -TERM "$pid"
n=0
while kill -0 "$pid" 2>/dev/null && [ "$n" -lt 100 ]; do
    sleep 0.1
    n=$((n + 1))
done
kill -0 "$pid" 2>/dev/null && fail "the agent did not stop within 10 s of SIGTERM"
wait "$pid"
rc=$?
rm -f "$base/agent.pid"
[ "$rc" -eq 0 ] || fail "the agent exited $rc after SIGTERM"
expect "agent.health offline" "SELECT data->>'status' FROM switchboard.event_log
    WHERE channel = 'agent:demo' AND type = 'agent.health' ORDER BY seq DESC LIMIT 1" offline
if grep -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$base/agent.log" >&2; then
    fail "sanitizer reports in the agent's log"
fi
say "all passed ($checks checks)"
