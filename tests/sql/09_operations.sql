-- 09_operations.sql: audit, nodes, presence and the operator views.
BEGIN;
SELECT plan(33);

-- --- audit ---------------------------------------------------------------------

DELETE FROM switchboard.audit;

SELECT lives_ok($$SELECT switchboard.audit_record('connect', 'wsd@t09', 'user:alice', 'chat:t09', '10.0.0.1')$$,
                'audit_record: connect');
SELECT lives_ok($$SELECT switchboard.audit_record('auth_failure', 'fcgi@t09', NULL, NULL, '10.0.0.2',
                                                  '{"reason": "expired"}')$$,
                'audit_record: auth_failure with detail');
SELECT results_eq(
    $$SELECT kind, node, subject, channel, remote, detail FROM switchboard.audit
       WHERE node LIKE '%@t09' ORDER BY id$$,
    $$VALUES ('connect', 'wsd@t09', 'user:alice', 'chat:t09', '10.0.0.1', '{}'::jsonb),
             ('auth_failure', 'fcgi@t09', NULL, NULL, '10.0.0.2', '{"reason": "expired"}')$$,
    'audit rows are stored');
SELECT throws_ok($$SELECT switchboard.audit_record('login', 'n', 's', 'c', 'r')$$, 'SB008', NULL,
                 'an unknown kind is SB008');
SELECT throws_ok($$SELECT switchboard.audit_record('publish', 'n', 's', 'c', 'r', '[]')$$, 'SB004', NULL,
                 'array detail is SB004');
SELECT lives_ok($$SET LOCAL ROLE switchboard_app;
                  SELECT switchboard.audit_record('publish', 'wsd@t09', 'user:a', 'chat:t09', 'r');
                  RESET ROLE$$,
                'the app role can write audit rows');
SELECT is(switchboard.prune_audit('1 second'), 0::bigint, 'prune_audit keeps recent rows');
UPDATE switchboard.audit SET at = now() - interval '100 days' WHERE node = 'fcgi@t09';
SELECT is(switchboard.prune_audit(), 1::bigint, 'prune_audit deletes rows older than 90 days');

-- --- nodes -------------------------------------------------------------------------

SELECT lives_ok($$SELECT switchboard.node_heartbeat('wsd@t09', 'wsd', 'host-a', 100, 3, 5)$$,
                'node_heartbeat registers a node');
SELECT lives_ok($$SELECT switchboard.node_heartbeat('fcgi@t09', 'fcgi', 'host-b', 200, 1, 1,
                                                    '{"version": "1"}')$$,
                'and another');
SELECT results_eq(
    $$SELECT id, kind, host, pid, connections, subscriptions FROM switchboard.live_nodes
       WHERE id LIKE '%@t09'$$,
    $$VALUES ('fcgi@t09', 'fcgi', 'host-b', 200, 1, 1), ('wsd@t09', 'wsd', 'host-a', 100, 3, 5)$$,
    'live_nodes lists them');
SELECT throws_ok($$SELECT switchboard.node_heartbeat('x', 'proxy', 'h', 1, 0, 0)$$, 'SB008', NULL,
                 'an unknown node kind is SB008');
SELECT throws_ok($$SELECT switchboard.node_heartbeat('x', 'wsd', 'h', 1, -1, 0)$$, 'SB008', NULL,
                 'negative counts are SB008');

-- --- presence --------------------------------------------------------------------------

SELECT lives_ok($$SELECT switchboard.presence_join('wsd@t09', 'c1', 'chat:t09', 'user:alice')$$,
                'presence_join');
SELECT lives_ok($$SELECT switchboard.presence_join('wsd@t09', 'c1', 'chat:t09', 'user:alice')$$,
                'presence_join again is harmless');
SELECT lives_ok($$SELECT switchboard.presence_join('wsd@t09', 'c2', 'chat:t09', 'agent:helper')$$,
                'a second connection');
SELECT lives_ok($$SELECT switchboard.presence_join('fcgi@t09', 'sse-1', 'activity:t09', 'user:alice')$$,
                'presence on a namespace without presence signals');
SELECT results_eq(
    $$SELECT subject, node, conn FROM switchboard.presence_list('chat:t09')$$,
    $$VALUES ('agent:helper', 'wsd@t09', 'c2'), ('user:alice', 'wsd@t09', 'c1')$$,
    'presence_list: who is on the channel (oldest join first, then by subject)');
SELECT results_eq(
    $$SELECT channel, subject, node FROM switchboard.connected WHERE node LIKE '%@t09'$$,
    $$VALUES ('activity:t09', 'user:alice', 'fcgi@t09'), ('chat:t09', 'agent:helper', 'wsd@t09'),
             ('chat:t09', 'user:alice', 'wsd@t09')$$,
    'the connected view');
SELECT throws_ok($$SELECT switchboard.presence_join('nosuch@t09', 'c1', 'chat:t09', 'user:a')$$,
                 'SB011', NULL, 'joining through an unknown node is SB011');
SELECT throws_ok($$SELECT switchboard.presence_join('wsd@t09', 'c1', 'nosuch:x', 'user:a')$$,
                 'SB002', NULL, 'joining an unknown namespace is SB002');
SELECT lives_ok($$SELECT switchboard.presence_leave('wsd@t09', 'c2', 'chat:t09')$$, 'presence_leave');
SELECT results_eq(
    $$SELECT subject FROM switchboard.presence_list('chat:t09')$$,
    $$VALUES ('user:alice')$$,
    'the connection left');

-- A node that stops heartbeating drops out of every view, then gets pruned.
UPDATE switchboard.nodes SET seen_at = now() - interval '5 minutes' WHERE id = 'fcgi@t09';
SELECT is_empty($$SELECT * FROM switchboard.live_nodes WHERE id = 'fcgi@t09'$$,
                'a stale node is not live');
SELECT is_empty($$SELECT * FROM switchboard.presence_list('activity:t09')$$,
                'its presence is not listed');
SELECT is(switchboard.prune_nodes('1 minute'), 1, 'prune_nodes removes the stale node');
SELECT is((SELECT count(*) FROM switchboard.presence WHERE node = 'fcgi@t09'), 0::bigint,
          'and its presence rows');

-- A node id that comes back with a new pid loses the old process's presence.
SELECT lives_ok($$SELECT switchboard.node_heartbeat('wsd@t09', 'wsd', 'host-a', 101, 0, 0)$$,
                'the node restarted (new pid)');
SELECT is((SELECT count(*) FROM switchboard.presence WHERE node = 'wsd@t09'), 0::bigint,
          'the old process''s presence is gone');
SELECT lives_ok($$SELECT switchboard.presence_join('wsd@t09', 'c9', 'chat:t09', 'user:bob');
                  SELECT switchboard.node_gone('wsd@t09')$$,
                'node_gone');
SELECT is((SELECT count(*) FROM switchboard.nodes WHERE id = 'wsd@t09')
          + (SELECT count(*) FROM switchboard.presence WHERE node = 'wsd@t09'), 0::bigint,
          'node_gone removes the node and its presence');

-- --- views -------------------------------------------------------------------------------

SELECT is((SELECT count(*) FROM switchboard.publish('chat:t09', 'message', '{"text": "hi"}', 'user:alice')),
          1::bigint, 'a chat message');
SELECT results_eq(
    $$SELECT channel, seq, sender, text FROM switchboard.recent_chat WHERE channel = 'chat:t09'$$,
    $$VALUES ('chat:t09', 1::bigint, 'user:alice', 'hi')$$,
    'recent_chat shows it with its text');

SELECT * FROM finish();
ROLLBACK;
