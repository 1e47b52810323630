-- 12_metrics.sql: metrics_overview() (shape, clamping, counts on known
-- data), presence_namespaces(), publish_batch_audited(), and who may call
-- them.
BEGIN;
SELECT plan(67);

-- --- the API and its permissions ---------------------------------------------

SELECT has_function('switchboard', 'metrics_overview', ARRAY['integer'],
                    'function metrics_overview(integer)');
SELECT has_function('switchboard', 'presence_namespaces', ARRAY[]::text[],
                    'function presence_namespaces()');
SELECT has_function('switchboard', 'publish_batch_audited', ARRAY['jsonb', 'text', 'jsonb'],
                    'function publish_batch_audited(jsonb, text, jsonb)');
SELECT function_returns('switchboard', 'metrics_overview', ARRAY['integer'], 'json',
                        'metrics_overview returns json');
SELECT is_definer('switchboard', f, a::name[], f || ' is SECURITY DEFINER')
  FROM (VALUES ('metrics_overview', ARRAY['integer']),
               ('presence_namespaces', ARRAY[]::text[]),
               ('publish_batch_audited', ARRAY['jsonb', 'text', 'jsonb'])) AS api(f, a);
SELECT function_privs_are('switchboard', f, a, r, ARRAY['EXECUTE'], r || ' may call ' || f)
  FROM (VALUES ('metrics_overview', ARRAY['integer']),
               ('presence_namespaces', ARRAY[]::text[])) AS api(f, a),
       unnest(ARRAY['switchboard_app', 'switchboard_reader']) AS r;
SELECT function_privs_are('switchboard', 'publish_batch_audited', ARRAY['jsonb', 'text', 'jsonb'],
                          'switchboard_app', ARRAY['EXECUTE'], 'app may publish with audit');
SELECT function_privs_are('switchboard', 'publish_batch_audited', ARRAY['jsonb', 'text', 'jsonb'],
                          'switchboard_reader', ARRAY[]::text[], 'reader may not');
SELECT lives_ok($$SET LOCAL ROLE switchboard_reader;
                  SELECT switchboard.metrics_overview(24);
                  SELECT * FROM switchboard.presence_namespaces();
                  RESET ROLE$$,
                'the reader role reads the overview and the presence namespaces');
SELECT throws_ok($$SET LOCAL ROLE switchboard_reader;
                   SELECT * FROM switchboard.publish_batch_audited(
                       '[{"channel": "chat:t12", "type": "message", "data": {}, "sender": "user:a"}]',
                       'wsd@t12')$$,
                 '42501', NULL, 'the reader role cannot publish with audit');
SELECT has_index('switchboard', 'events', 'events_created_at_idx',
                 'events are indexed by time for the overview');

-- --- metrics_overview: shape -------------------------------------------------------

SELECT is(ARRAY(SELECT json_object_keys(switchboard.metrics_overview(24))),
          ARRAY['events', 'chat', 'activity', 'tasks', 'nodes', 'connections', 'subscriptions'],
          'the snapshot has the members of PROTOCOL.md 4.12, in order');
SELECT is(ARRAY(SELECT json_object_keys(switchboard.metrics_overview(24) -> m))::text,
          k, 'members of ' || m)
  FROM (VALUES ('events', '{total,by_namespace}'),
               ('chat', '{messages,replies,tool_calls,errors,cancelled}'),
               ('activity', '{info,success,warning,error}'),
               ('tasks', '{queued,active,completed,failed,cancelled,total}'),
               ('nodes', '{wsd,fcgi}')) AS x(m, k);

-- Counts are measured against what was there before this test.
CREATE TEMP TABLE base (w integer PRIMARY KEY, snap jsonb);
INSERT INTO base SELECT w, switchboard.metrics_overview(w)::jsonb FROM unnest(ARRAY[1, 24, 168]) AS w;
CREATE FUNCTION pg_temp.delta(w integer, path text) RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce((switchboard.metrics_overview(w)::jsonb
                     #>> string_to_array(path, '.'))::bigint, 0)
           - coalesce((SELECT (b.snap #>> string_to_array(path, '.'))::bigint
                         FROM base b WHERE b.w = delta.w), 0)
$$;

-- --- known data: events and tasks of several ages ----------------------------------

-- Ages: 30 minutes, 5 hours, 100 hours, 200 hours (outside every window).
CREATE TEMP TABLE aged (channel text, type text, data jsonb, age interval);
INSERT INTO aged VALUES
    ('chat:t12', 'message', '{"text": "a"}', '30 minutes'),
    ('activity:t12', 'log', '{"level": "error", "message": "x"}', '30 minutes'),
    ('chat:t12', 'message', '{"text": "b"}', '5 hours'),
    ('chat:t12', 'message', '{"text": "c"}', '5 hours'),
    ('chat:t12', 'reply', '{"text": "d"}', '5 hours'),
    ('chat:t12', 'reply', '{"text": "e"}', '5 hours'),
    ('chat:t12', 'tool_call', '{}', '5 hours'),
    ('chat:t12', 'error', '{}', '5 hours'),
    ('chat:t12', 'cancelled', '{}', '5 hours'),
    ('chat:t12', 'tool_result', '{}', '5 hours'),
    ('activity:t12', 'log', '{"level": "info", "message": "x"}', '5 hours'),
    ('activity:t12', 'log', '{"level": "info", "message": "x"}', '5 hours'),
    ('activity:t12', 'log', '{"level": "success", "message": "x"}', '5 hours'),
    ('activity:t12', 'log', '{"level": "warning", "message": "x"}', '5 hours'),
    ('activity:t12', 'log', '{"level": "error", "message": "x"}', '5 hours'),
    ('activity:t12', 'log', '{"level": "error", "message": "x"}', '5 hours'),
    ('metrics:t12', 'sample', '{"v": 1}', '100 hours'),
    ('chat:t12', 'message', '{"text": "old"}', '200 hours');
CREATE TEMP TABLE stored AS
SELECT p.channel, p.seq, a.age
  FROM switchboard.publish_batch((SELECT jsonb_agg(jsonb_build_object(
           'channel', channel, 'type', type, 'data', data, 'sender', 'user:t12') ORDER BY age)
           FROM aged)) AS p
  JOIN (SELECT row_number() OVER (ORDER BY age) - 1 AS ord, age FROM aged) AS a ON a.ord = p.ord;
UPDATE switchboard.events e SET created_at = now() - s.age
  FROM stored s WHERE e.channel = s.channel AND e.seq = s.seq;

-- Tasks: created 30 minutes (queued), 5 hours (active), 100 hours (failed)
-- and 200 hours ago (completed). Each change publishes workflow.stats now.
CREATE TEMP TABLE tk (name text, id uuid, age interval);
INSERT INTO tk SELECT n, switchboard.task_create('workflow:t12', n), a::interval
  FROM (VALUES ('queued', '30 minutes'), ('active', '5 hours'), ('failed', '100 hours'),
               ('completed', '200 hours')) AS x(n, a);
SELECT switchboard.task_update(id, 'active') FROM tk WHERE name IN ('active', 'completed');
SELECT switchboard.task_update(id, name) FROM tk WHERE name IN ('failed', 'completed');
SET LOCAL session_replication_role = replica;  -- created_at is kept by a trigger
UPDATE switchboard.tasks t SET created_at = now() - tk.age FROM tk WHERE t.id = tk.id;
SET LOCAL session_replication_role = origin;
CREATE TEMP TABLE wf AS
SELECT count(*) AS n FROM switchboard.events WHERE channel = 'workflow:t12';

-- Two live nodes.
SELECT switchboard.node_heartbeat('wsd@t12', 'wsd', 'h', 1, 3, 5);
SELECT switchboard.node_heartbeat('fcgi@t12', 'fcgi', 'h', 2, 2, 1);

-- --- counts per window ----------------------------------------------------------------

SELECT is(ARRAY[pg_temp.delta(1, 'events.total'), pg_temp.delta(24, 'events.total'),
                pg_temp.delta(168, 'events.total')] ,
          (SELECT ARRAY[2 + n, 16 + n, 17 + n] FROM wf),
          'events.total counts the events of 1, 24 and 168 hours');
SELECT is(ARRAY[pg_temp.delta(w, 'events.by_namespace.chat'),
                pg_temp.delta(w, 'events.by_namespace.activity'),
                pg_temp.delta(w, 'events.by_namespace.metrics'),
                pg_temp.delta(w, 'events.by_namespace.workflow') - (SELECT n FROM wf)],
          e, 'events.by_namespace, window ' || w || ' h')
  FROM (VALUES (1, ARRAY[1, 1, 0, 0]::bigint[]), (24, ARRAY[9, 7, 0, 0]::bigint[]),
               (168, ARRAY[9, 7, 1, 0]::bigint[])) AS x(w, e);
SELECT is(ARRAY(SELECT pg_temp.delta(w, 'chat.' || k)
                  FROM unnest(ARRAY['messages', 'replies', 'tool_calls', 'errors', 'cancelled'])
                       WITH ORDINALITY AS m(k, o) ORDER BY o),
          e, 'chat counts, window ' || w || ' h')
  FROM (VALUES (1, ARRAY[1, 0, 0, 0, 0]::bigint[]), (24, ARRAY[3, 2, 1, 1, 1]::bigint[]),
               (168, ARRAY[3, 2, 1, 1, 1]::bigint[])) AS x(w, e);
SELECT is(ARRAY(SELECT pg_temp.delta(w, 'activity.' || k)
                  FROM unnest(ARRAY['info', 'success', 'warning', 'error'])
                       WITH ORDINALITY AS m(k, o) ORDER BY o),
          e, 'activity per level, window ' || w || ' h')
  FROM (VALUES (1, ARRAY[0, 0, 0, 1]::bigint[]), (24, ARRAY[2, 1, 1, 3]::bigint[]),
               (168, ARRAY[2, 1, 1, 3]::bigint[])) AS x(w, e);
SELECT is(ARRAY(SELECT pg_temp.delta(w, 'tasks.' || k)
                  FROM unnest(ARRAY['queued', 'active', 'completed', 'failed', 'cancelled', 'total'])
                       WITH ORDINALITY AS m(k, o) ORDER BY o),
          e, 'tasks created within the window by state, window ' || w || ' h')
  FROM (VALUES (1, ARRAY[1, 0, 0, 0, 0, 1]::bigint[]), (24, ARRAY[1, 1, 0, 0, 0, 2]::bigint[]),
               (168, ARRAY[1, 1, 0, 1, 0, 3]::bigint[])) AS x(w, e);
SELECT is(ARRAY[pg_temp.delta(24, 'nodes.wsd'), pg_temp.delta(24, 'nodes.fcgi'),
                pg_temp.delta(24, 'connections'), pg_temp.delta(24, 'subscriptions')],
          ARRAY[1, 1, 5, 6]::bigint[], 'live nodes by kind, their connections and subscriptions');
SELECT is(pg_temp.delta(1, 'connections'), 5::bigint, 'nodes are not windowed');
SELECT is((SELECT count(*) FROM jsonb_path_query(switchboard.metrics_overview(168)::jsonb,
                                                 'strict $.**') AS v
            WHERE jsonb_typeof(v) NOT IN ('object', 'number')),
          0::bigint, 'every figure is a number');
SELECT is((SELECT count(*) FROM jsonb_path_query(switchboard.metrics_overview(168)::jsonb,
                                                 'strict $.**') AS v
            WHERE jsonb_typeof(v) = 'number' AND v::text ~ '[.e]'),
          0::bigint, 'every figure is an integer');
SELECT ok(strpos(switchboard.metrics_overview(168) -> 'events' ->> 'by_namespace',
                 '"activity"') <
          strpos(switchboard.metrics_overview(168) -> 'events' ->> 'by_namespace', '"chat"'),
          'by_namespace lists namespaces in name order');

-- --- clamping ------------------------------------------------------------------------------

SELECT is(switchboard.metrics_overview(w)::jsonb, switchboard.metrics_overview(c)::jsonb,
          'window ' || coalesce(w::text, 'NULL') || ' counts as ' || c)
  FROM (VALUES (0, 1), (-5, 1), (-2147483648, 1), (169, 168), (1000, 168),
               (2147483647, 168), (NULL, 24)) AS x(w, c);
SELECT isnt(switchboard.metrics_overview(1)::jsonb, switchboard.metrics_overview(24)::jsonb,
            'windows 1 and 24 differ on this data');

-- --- presence_namespaces ----------------------------------------------------------------------

SELECT results_eq('SELECT * FROM switchboard.presence_namespaces()', $$VALUES ('chat')$$,
                  'chat is the one seeded namespace with presence');
UPDATE switchboard.namespaces SET presence = true WHERE name = 'alerts';
SELECT results_eq('SELECT * FROM switchboard.presence_namespaces()',
                  $$VALUES ('alerts'), ('chat')$$, 'it follows namespaces.presence, in name order');

-- --- publish_batch_audited ----------------------------------------------------------------------

-- One call: user:ann from two addresses and two channels, agent:bot, and an
-- id repeated within the call.
DELETE FROM switchboard.audit;
SELECT results_eq(
    $$SELECT ord, channel, seq, duplicate FROM switchboard.publish_batch_audited(
        '[{"channel": "chat:t12-audit", "type": "message", "data": {"text": "a"}, "sender": "user:ann",
           "id": "12121212-1212-4121-8121-121212121212"},
          {"channel": "chat:t12-audit", "type": "reply", "data": {"text": "b"}, "sender": "agent:bot"},
          {"channel": "chat:t12-audit", "type": "message", "data": {"text": "c"}, "sender": "user:ann"},
          {"channel": "chat:t12-audit-b", "type": "message", "data": {"text": "d"}, "sender": "user:ann"},
          {"channel": "chat:t12-audit", "type": "message", "data": {"text": "e"}, "sender": "user:ann"},
          {"channel": "chat:t12-audit", "type": "message", "data": {"text": "a"}, "sender": "user:ann",
           "id": "12121212-1212-4121-8121-121212121212"}]',
        'wsd@t12', '["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.1", "10.0.0.3", "10.0.0.1"]')
       ORDER BY ord$$,
    $$VALUES (0, 'chat:t12-audit', 1::bigint, false), (1, 'chat:t12-audit', 2::bigint, false),
             (2, 'chat:t12-audit', 3::bigint, false), (3, 'chat:t12-audit-b', 1::bigint, false),
             (4, 'chat:t12-audit', 4::bigint, false), (5, 'chat:t12-audit', 1::bigint, true)$$,
    'publish_batch_audited stores like publish_batch');
SELECT results_eq(
    $$SELECT kind, node, subject, channel, remote, detail FROM switchboard.audit ORDER BY id$$,
    $$VALUES ('publish', 'wsd@t12', 'user:ann', 'chat:t12-audit', '10.0.0.1',
              '{"events": 3, "seqs": [1, 1, 3], "duplicates": 1}'::jsonb),
             ('publish', 'wsd@t12', 'agent:bot', 'chat:t12-audit', '10.0.0.2',
              '{"events": 1, "seqs": [2], "duplicates": 0}'::jsonb),
             ('publish', 'wsd@t12', 'user:ann', 'chat:t12-audit-b', '10.0.0.1',
              '{"events": 1, "seqs": [1], "duplicates": 0}'::jsonb),
             ('publish', 'wsd@t12', 'user:ann', 'chat:t12-audit', '10.0.0.3',
              '{"events": 1, "seqs": [4], "duplicates": 0}'::jsonb)$$,
    'one audit row per sender, address and channel, in the order of their first elements');
SELECT is((SELECT count(*) FILTER (WHERE e.sender = a.subject)
             FROM switchboard.audit a
             CROSS JOIN LATERAL jsonb_array_elements_text(a.detail -> 'seqs') AS s(seq)
             JOIN switchboard.events e ON e.channel = a.channel AND e.seq = s.seq::bigint),
          6::bigint, 'the seqs name stored events of the row''s channel, sent by its subject');

SELECT results_eq(
    $$SELECT seq, duplicate FROM switchboard.publish_batch_audited(
        '[{"channel": "chat:t12-audit", "type": "message", "data": {"text": "a"}, "sender": "user:ann",
           "id": "12121212-1212-4121-8121-121212121212"},
          {"channel": "chat:t12-audit", "type": "message", "data": {"text": "f"}, "sender": "user:ann"}]',
        'wsd@t12') ORDER BY ord$$,
    $$VALUES (1::bigint, true), (5::bigint, false)$$, 'a repeated id returns the original seq');
SELECT results_eq(
    $$SELECT remote, detail FROM switchboard.audit ORDER BY id DESC LIMIT 1$$,
    $$VALUES (NULL::text, '{"events": 2, "seqs": [1, 5], "duplicates": 1}'::jsonb)$$,
    'and is counted as a duplicate (without a remote when none was given)');
SELECT results_eq(
    $$SELECT ord, seq FROM switchboard.publish_batch_audited(
        '[{"channel": "chat:t12-audit", "type": "message", "data": {}, "sender": "user:ann"},
          {"channel": "chat:t12-audit", "type": "message", "data": {}, "sender": "user:ann"}]',
        'wsd@t12', '["10.0.0.1"]') ORDER BY ord$$,
    $$VALUES (0, 6::bigint), (1, 7::bigint)$$, 'remotes may be shorter than events');
SELECT results_eq(
    $$SELECT remote, detail FROM switchboard.audit ORDER BY id DESC LIMIT 2$$,
    $$VALUES (NULL::text, '{"events": 1, "seqs": [7], "duplicates": 0}'::jsonb),
             ('10.0.0.1', '{"events": 1, "seqs": [6], "duplicates": 0}'::jsonb)$$,
    'elements past the end of remotes are audited without a remote');

-- A full group commit: 1,000 events from 10 clients over 4 channels.
DELETE FROM switchboard.audit;
SELECT is((SELECT count(*) FROM switchboard.publish_batch_audited(
              (SELECT jsonb_agg(jsonb_build_object(
                          'channel', 'chat:t12-full-' || (i / 10) % 4, 'type', 'message',
                          'data', jsonb_build_object('i', i), 'sender', 'user:c' || i % 10)
                        ORDER BY i)
                 FROM generate_series(0, 999) AS i),
              'wsd@t12',
              (SELECT jsonb_agg('10.1.0.' || i % 10 ORDER BY i) FROM generate_series(0, 999) AS i))),
          1000::bigint, 'a batch of 1,000 events is stored');
SELECT results_eq(
    $$SELECT count(*), count(DISTINCT (subject, remote, channel)), sum((detail ->> 'events')::integer),
             bool_and(jsonb_array_length(detail -> 'seqs') = (detail ->> 'events')::integer),
             bool_and(split_part(subject, 'c', 2) = split_part(remote, '.', 4))
        FROM switchboard.audit$$,
    $$VALUES (40::bigint, 40::bigint, 1000::bigint, true, true)$$,
    'and audited in 40 rows, one per client and channel, covering every event');
SELECT is((SELECT count(*) FROM switchboard.audit a
            CROSS JOIN LATERAL jsonb_array_elements_text(a.detail -> 'seqs')
                               WITH ORDINALITY AS s(seq, k)
            CROSS JOIN LATERAL jsonb_array_elements_text(a.detail -> 'seqs')
                               WITH ORDINALITY AS t(seq, k)
           WHERE t.k = s.k + 1 AND t.seq::bigint <= s.seq::bigint),
          0::bigint, 'each row''s seqs ascend');

SELECT throws_ok(
    $$SELECT * FROM switchboard.publish_batch_audited(
        '[{"channel": "chat:t12-audit", "type": "message", "data": {}, "sender": "user:ann"},
          {"channel": "nope:t12", "type": "message", "data": {}, "sender": "user:ann"}]',
        'wsd@t12', '["10.0.0.1", "10.0.0.2"]')$$,
    'SB002', NULL, 'a bad element fails the batch');
SELECT is((SELECT count(*) FROM switchboard.audit), 40::bigint, 'and audits nothing');
SELECT is((SELECT last_seq FROM switchboard.channel_info('chat:t12-audit')), 7::bigint,
          'and stores nothing');
SELECT throws_ok(
    $$SELECT * FROM switchboard.publish_batch_audited(
        '[{"channel": "chat:t12-audit", "type": "message", "data": {}, "sender": "user:ann"}]',
        'wsd@t12', '{"0": "10.0.0.1"}')$$,
    'SB008', NULL, 'remotes must be an array');
SELECT is((SELECT count(*) FROM switchboard.audit), 40::bigint, 'which audits nothing either');

-- Addresses that differ only past the 256 bytes kept are one group.
SELECT lives_ok(
    $$SET LOCAL ROLE switchboard_app;
      SELECT * FROM switchboard.publish_batch_audited(
        '[{"channel": "chat:t12-audit", "type": "message", "data": {}, "sender": "user:ann"},
          {"channel": "chat:t12-audit", "type": "message", "data": {}, "sender": "user:ann"}]',
        repeat('n', 300),
        jsonb_build_array(repeat('r', 300) || 'a', repeat('r', 300) || 'b'));
      RESET ROLE$$,
    'the app role publishes with audit');
SELECT results_eq(
    $$SELECT octet_length(node), octet_length(remote), detail FROM switchboard.audit
       WHERE node LIKE 'nnn%'$$,
    $$VALUES (128, 256, '{"events": 2, "seqs": [8, 9], "duplicates": 0}'::jsonb)$$,
    'long node and remote texts are cut as audit_record() cuts them, then grouped');

SELECT * FROM finish();
ROLLBACK;
