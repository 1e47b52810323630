-- 01_schema.sql: the objects of the switchboard schema, their owner, their
-- comments and who may use them.
BEGIN;
SELECT plan(210);

SELECT has_schema('switchboard', 'schema switchboard exists');
SELECT has_role('switchboard_owner', 'role switchboard_owner exists');
SELECT has_role('switchboard_app', 'role switchboard_app exists');
SELECT has_role('switchboard_reader', 'role switchboard_reader exists');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'switchboard_app'), false,
          'switchboard_app is NOLOGIN (login roles are granted it)');
SELECT schema_owner_is('switchboard', 'switchboard_owner', 'switchboard_owner owns the schema');

-- Tables, owned by switchboard_owner.
SELECT has_table('switchboard', t, 'table ' || t || ' exists')
  FROM unnest(ARRAY['schema_migrations', 'namespaces', 'channels', 'events', 'tasks',
                    'audit', 'nodes', 'presence', 'secrets']) AS t;
SELECT table_owner_is('switchboard', t, 'switchboard_owner', 'switchboard_owner owns ' || t)
  FROM unnest(ARRAY['schema_migrations', 'namespaces', 'channels', 'events', 'tasks',
                    'audit', 'nodes', 'presence', 'secrets']) AS t;

-- Views.
SELECT has_view('switchboard', v, 'view ' || v || ' exists')
  FROM unnest(ARRAY['event_log', 'recent_chat', 'recent_activity', 'activity_by_level',
                    'channel_summary', 'connected', 'live_nodes']) AS v;

-- Keys the invariants rest on.
SELECT col_is_pk('switchboard', 'events', ARRAY['channel', 'seq'],
                 'events: primary key (channel, seq)');
SELECT index_is_unique('switchboard', 'events', 'events_channel_id_key',
                       'events: (channel, id) is unique (idempotent publish)');
SELECT col_is_pk('switchboard', 'channels', 'name', 'channels: primary key name');
-- events.channel -> channels, and the shape of type, sender and log entries,
-- are kept by triggers rather than a foreign key and CHECKs (see
-- 001_foundation.sql); their behaviour is tested below.
SELECT has_trigger('switchboard', 'events', 'events_check_insert',
                   'events: inserted rows are checked (shape, counter row)');
SELECT has_trigger('switchboard', 'events', 'events_check_update',
                   'events: updated rows are checked (shape, counter row)');
SELECT has_trigger('switchboard', 'channels', 'channels_keep_events',
                   'channels: a counter row with events is kept');
SELECT fk_ok('switchboard', 'channels', 'namespace', 'switchboard', 'namespaces', 'name',
             'channels.namespace references namespaces');
SELECT col_is_pk('switchboard', 'presence', ARRAY['node', 'conn', 'channel'],
                 'presence: primary key (node, conn, channel)');

-- The API, with the signatures of the contract.
SELECT has_function('switchboard', f, a, 'function ' || f || '(' || array_to_string(a, ', ') || ')')
  FROM (VALUES
    ('publish', ARRAY['text', 'text', 'jsonb', 'text', 'uuid']),
    ('publish_batch', ARRAY['jsonb']),
    ('signal', ARRAY['text', 'text', 'jsonb', 'text']),
    ('event_json', ARRAY['text', 'bigint', 'uuid', 'text', 'text', 'timestamp with time zone', 'jsonb']),
    ('events_after', ARRAY['text', 'bigint', 'integer']),
    ('events_before', ARRAY['text', 'bigint', 'integer']),
    ('channel_info', ARRAY['text']),
    ('limits', ARRAY[]::text[]),
    ('log_activity', ARRAY['text', 'text', 'text', 'jsonb', 'text', 'uuid']),
    ('search_activity', ARRAY['text[]', 'text', 'timestamp with time zone',
                              'timestamp with time zone', 'text', 'text', 'integer']),
    ('task_create', ARRAY['text', 'text', 'jsonb', 'uuid']),
    ('task_update', ARRAY['uuid', 'text', 'text', 'text']),
    ('workflow_stats', ARRAY['text']),
    ('audit_record', ARRAY['text', 'text', 'text', 'text', 'text', 'jsonb']),
    ('node_heartbeat', ARRAY['text', 'text', 'text', 'integer', 'integer', 'integer', 'jsonb']),
    ('node_gone', ARRAY['text']),
    ('presence_join', ARRAY['text', 'text', 'text', 'text']),
    ('presence_leave', ARRAY['text', 'text', 'text']),
    ('presence_list', ARRAY['text']),
    ('prune_nodes', ARRAY['interval']),
    ('mint_token', ARRAY['text', 'text', 'interval', 'text[]']),
    ('token_secret', ARRAY[]::text[]),
    ('rotate_token_secret', ARRAY[]::text[]),
    ('prune_events', ARRAY[]::text[])) AS api(f, a);

SELECT is_definer('switchboard', f, a::name[], f || ' is SECURITY DEFINER')
  FROM (VALUES
    ('publish', ARRAY['text', 'text', 'jsonb', 'text', 'uuid']),
    ('publish_batch', ARRAY['jsonb']),
    ('signal', ARRAY['text', 'text', 'jsonb', 'text']),
    ('events_after', ARRAY['text', 'bigint', 'integer']),
    ('events_before', ARRAY['text', 'bigint', 'integer']),
    ('log_activity', ARRAY['text', 'text', 'text', 'jsonb', 'text', 'uuid']),
    ('task_update', ARRAY['uuid', 'text', 'text', 'text']),
    ('mint_token', ARRAY['text', 'text', 'interval', 'text[]'])) AS api(f, a);

SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'switchboard'::regnamespace
       AND p.proowner <> 'switchboard_owner'::regrole
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')$$,
    'switchboard_owner owns every function');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'switchboard'::regnamespace AND p.prosecdef
       AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c(s)
                        WHERE c.s LIKE 'search_path=switchboard,%pg_temp')$$,
    'every SECURITY DEFINER function pins search_path = switchboard, ..., pg_temp');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text
      FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
     WHERE p.pronamespace = 'switchboard'::regnamespace
       AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'$$,
    'no switchboard function is executable by PUBLIC');

-- Comments on every table, view, function.
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'switchboard'::regnamespace AND c.relkind IN ('r', 'v')
       AND obj_description(c.oid, 'pg_class') IS NULL$$,
    'every table and view has a COMMENT');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'switchboard'::regnamespace
       AND obj_description(p.oid, 'pg_proc') IS NULL
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')$$,
    'every function has a COMMENT');
SELECT isnt(col_description('switchboard.events'::regclass, 2), NULL,
            'events.seq has a COMMENT');
SELECT isnt(col_description('switchboard.channels'::regclass, 3), NULL,
            'channels.last_seq has a COMMENT');

-- Privileges: the app role has no table privileges, only functions and views.
SELECT table_privs_are('switchboard', t, r, ARRAY[]::text[], r || ' has no privilege on table ' || t)
  FROM unnest(ARRAY['events', 'channels', 'namespaces', 'tasks', 'audit', 'nodes', 'presence',
                    'secrets', 'schema_migrations']) AS t,
       unnest(ARRAY['switchboard_app', 'switchboard_reader']) AS r;
SELECT table_privs_are('switchboard', v, r, ARRAY['SELECT'], r || ' may SELECT view ' || v)
  FROM unnest(ARRAY['event_log', 'recent_chat', 'recent_activity', 'activity_by_level',
                    'channel_summary', 'connected', 'live_nodes']) AS v,
       unnest(ARRAY['switchboard_app', 'switchboard_reader']) AS r;

SELECT function_privs_are('switchboard', 'publish', ARRAY['text', 'text', 'jsonb', 'text', 'uuid'],
                          'switchboard_app', ARRAY['EXECUTE'], 'app may publish');
SELECT function_privs_are('switchboard', 'publish', ARRAY['text', 'text', 'jsonb', 'text', 'uuid'],
                          'switchboard_reader', ARRAY[]::text[], 'reader may not publish');
SELECT function_privs_are('switchboard', 'events_after', ARRAY['text', 'bigint', 'integer'],
                          'switchboard_reader', ARRAY['EXECUTE'], 'reader may read history');
SELECT function_privs_are('switchboard', 'search_activity',
                          ARRAY['text[]', 'text', 'timestamp with time zone',
                                'timestamp with time zone', 'text', 'text', 'integer'],
                          'switchboard_reader', ARRAY['EXECUTE'], 'reader may search activity');
SELECT function_privs_are('switchboard', 'mint_token', ARRAY['text', 'text', 'interval', 'text[]'],
                          'switchboard_app', ARRAY[]::text[], 'app may not mint tokens');
SELECT function_privs_are('switchboard', 'token_secret', ARRAY[]::text[],
                          'switchboard_app', ARRAY[]::text[], 'app may not read the token secret');
SELECT function_privs_are('switchboard', 'prune_events', ARRAY[]::text[],
                          'switchboard_app', ARRAY[]::text[], 'app may not prune');

-- The same, by trying.
SELECT throws_ok($$SET LOCAL ROLE switchboard_app;
                   INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                   VALUES ('chat:x', 1, gen_random_uuid(), 'message', 'user:a', '{}')$$,
                 '42501', NULL, 'app cannot INSERT into events');
SELECT throws_ok($$SET LOCAL ROLE switchboard_app;
                   UPDATE switchboard.channels SET last_seq = 0$$,
                 '42501', NULL, 'app cannot UPDATE channels');
SELECT throws_ok($$SET LOCAL ROLE switchboard_app; SELECT * FROM switchboard.secrets$$,
                 '42501', NULL, 'app cannot read secrets');
SELECT throws_ok($$SET LOCAL ROLE switchboard_reader; SELECT * FROM switchboard.secrets$$,
                 '42501', NULL, 'reader cannot read secrets');
SELECT throws_ok($$SET LOCAL ROLE switchboard_app;
                   SELECT switchboard.mint_token('mallory', 'admin', '1 hour')$$,
                 '42501', NULL, 'app cannot mint a token');
SELECT throws_ok($$SET LOCAL ROLE switchboard_reader;
                   SELECT * FROM switchboard.publish('chat:x', 'message', '{}', 'user:a')$$,
                 '42501', NULL, 'reader cannot publish');
SELECT lives_ok($$SET LOCAL ROLE switchboard_app;
                  SELECT * FROM switchboard.publish('chat:schema-test', 'message', '{}', 'user:a');
                  SELECT * FROM switchboard.events_after('chat:schema-test', 0);
                  RESET ROLE$$,
                'app can publish and read');
SELECT lives_ok($$SET LOCAL ROLE switchboard_reader;
                  SELECT * FROM switchboard.event_log LIMIT 1;
                  SELECT * FROM switchboard.events_before('chat:schema-test', NULL);
                  RESET ROLE$$,
                'reader can read views and history');

-- Limits, as lib/limits.h has them.
SELECT results_eq(
    'SELECT name, value FROM switchboard.limits() ORDER BY name',
    $$VALUES ('batch_max', 1000::bigint), ('channel_max', 161), ('channel_name_max', 128),
             ('data_depth_max', 32), ('data_max_default', 65536), ('data_max_hard', 1048576),
             ('history_max', 1000), ('log_message_max', 4096), ('namespace_max', 32),
             ('notify_payload_max', 7999), ('sender_max', 128), ('subject_max', 121), ('token_leeway', 30),
             ('token_max', 16384), ('token_patterns_max', 64), ('type_max', 64)$$,
    'limits() lists the shared limits');
SELECT is(switchboard.max_data_bytes(), 65536, 'max_data_bytes defaults to 65536');
SET LOCAL switchboard.max_data_bytes = '5000000';
SELECT is(switchboard.max_data_bytes(), 1048576, 'max_data_bytes is clamped to data_max_hard');
SET LOCAL switchboard.max_data_bytes = '1000';
SELECT is(switchboard.max_data_bytes(), 1000, 'max_data_bytes follows the setting');
RESET switchboard.max_data_bytes;

-- Seeded namespaces.
SELECT results_eq(
    'SELECT name, presence, retention FROM switchboard.namespaces ORDER BY name',
    $$VALUES ('activity', false, interval '30 days'), ('agent', false, interval '30 days'),
             ('alerts', false, interval '30 days'), ('chat', true, interval '90 days'),
             ('metrics', false, interval '7 days'), ('system', false, NULL::interval),
             ('workflow', false, interval '30 days')$$,
    'namespaces are seeded with their retention and presence');

-- CHECK constraints hold even for the owner's plain INSERTs.
SELECT throws_ok($$INSERT INTO switchboard.channels (name, namespace) VALUES ('Chat:x', 'chat')$$,
                 '23514', NULL, 'owner cannot store a malformed channel');
SELECT throws_ok($$INSERT INTO switchboard.channels (name, namespace) VALUES ('chat:x', 'agent')$$,
                 '23514', NULL, 'owner cannot store a channel under another namespace');
INSERT INTO switchboard.channels (name, namespace) VALUES ('chat:check', 'chat');
SELECT throws_ok($$INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                   VALUES ('chat:check', 1, gen_random_uuid(), 'Bad Type', 'user:a', '{}')$$,
                 '23514', NULL, 'owner cannot store a malformed type');
SELECT throws_ok($$INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                   VALUES ('chat:check', 1, gen_random_uuid(), 'message', 'user:a', '[1]')$$,
                 '23514', NULL, 'owner cannot store non-object data');
SELECT throws_ok($$INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                   VALUES ('chat:check', 1, gen_random_uuid(), 'message', E'user:\n', '{}')$$,
                 '23514', NULL, 'owner cannot store a sender with a control character');
SELECT throws_ok($$INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                   VALUES ('chat:check', 1, gen_random_uuid(), 'log', 'user:a',
                           '{"level": "loud", "message": "x"}')$$,
                 '23514', NULL, 'owner cannot store a malformed log entry');
SELECT throws_ok($$INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                   VALUES ('chat:check', 0, gen_random_uuid(), 'message', 'user:a', '{}')$$,
                 '23514', NULL, 'owner cannot store seq 0');


-- The channels CHECK spells out the grammar of channel_valid(), and
-- events_check() that of type_valid(), sender_valid() and log_valid()
-- (set-wide): each agrees with its function case by case.
CREATE FUNCTION pg_temp.accepted(stmt text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RAISE EXCEPTION 'accepted' USING ERRCODE = 'SBT01';  -- undoes the row
EXCEPTION
    WHEN check_violation THEN
        RETURN false;
    WHEN foreign_key_violation OR SQLSTATE 'SBT01' THEN
        RETURN true;  -- well formed (a foreign key or counter check may still object)
END
$$;
UPDATE switchboard.channels SET last_seq = 1000000 WHERE name = 'chat:check';
SELECT is(pg_temp.accepted(format('INSERT INTO switchboard.channels (name, namespace) VALUES (%L, %L)',
                                  c, split_part(c, ':', 1))),
          switchboard.channel_valid(c),
          'channels CHECK agrees with channel_valid on ' || to_json(left(c, 40))::text)
  FROM unnest(ARRAY['chat:a', 'chat:A-z_0.9/x', 'Chat:x', 'nocolon', 'chat:', ':x', 'chat:.x', 'chat:x:y',
                    'chat:x y', E'chat:\u00e9', repeat('a', 32) || ':x', repeat('a', 33) || ':x',
                    'chat:' || repeat('n', 128), 'chat:' || repeat('n', 129)]) AS c;
SELECT is(pg_temp.accepted(format($$INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                                    VALUES ('chat:check', 1, gen_random_uuid(), %L, 'user:a', '{}')$$, t)),
          switchboard.type_valid(t),
          'events type check agrees with type_valid on ' || to_json(left(t, 40))::text)
  FROM unnest(ARRAY['message', 'workflow.stats', 'a.b_1.c2', '', 'Message', '1msg', 'msg.', '.msg',
                    'msg..x', 'msg-x', 'a.1b', E'a\nb', repeat('a', 32), repeat('a', 33),
                    repeat('a', 32) || '.' || repeat('b', 31), 'a.' || repeat('b', 33),
                    repeat('a', 32) || '.' || repeat('b', 31) || '.c']) AS t;
SELECT is(pg_temp.accepted(format($$INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                                    VALUES ('chat:check', 1, gen_random_uuid(), 'message', %L, '{}')$$, x)),
          switchboard.sender_valid(x),
          'events sender check agrees with sender_valid on ' || to_json(left(x, 20))::text)
  FROM unnest(ARRAY['user:a', 'agent:x y', repeat('x', 128), repeat('x', 129), repeat(E'\u00e9', 64),
                    repeat(E'\u00e9', 65), '', E'user:\ta', E'user:\u007f', E'user:\u0085',
                    E'user:\u00a0']) AS x;
SELECT is(pg_temp.accepted(format($$INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                                    VALUES ('chat:check', 1, gen_random_uuid(), 'log', 'user:a', %L)$$, d)),
          switchboard.log_problem(d::jsonb) IS NULL,
          'events log check agrees with log_problem on ' || d)
  FROM unnest(ARRAY['{"level": "info", "message": "x"}',
                    '{"level": "error", "message": "x", "metadata": {"k": 1}}',
                    '{}', '{"level": "debug", "message": "x"}', '{"level": 1, "message": "x"}',
                    '{"level": "info"}', '{"level": "info", "message": 5}',
                    '{"level": "info", "message": ""}',
                    '{"level": "info", "message": "x", "metadata": []}',
                    '{"level": "info", "message": "x", "metadata": null}',
                    '{"level": "info", "message": "x", "extra": 1}']) AS d;
SELECT is(switchboard.log_valid(d::jsonb), switchboard.log_problem(d::jsonb) IS NULL,
          'log_valid agrees with log_problem on ' || d)
  FROM unnest(ARRAY['{"level": "success", "message": "x"}', '{"level": "warning", "message": "x", "metadata": {}}',
                    '{}', '[]', '"x"', '{"level": "info", "message": "x", "metadata": null}',
                    '{"level": "info", "message": "x", "extra": 1}', '{"message": "x"}']) AS d;
SELECT is(switchboard.log_valid(jsonb_build_object('level', 'info', 'message', repeat('x', 4097))), false,
          'log_valid: a 4097-byte message');

-- What the foreign key did (and a little more), now by triggers.
SELECT throws_ok($$INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                   VALUES ('chat:check', 1, gen_random_uuid(), 'message', 'user:a', '{}'),
                          ('chat:check', 2, gen_random_uuid(), 'Bad', 'user:a', '{}')$$,
                 '23514', 'insert on table "events": malformed type in channel "chat:check" seq 2',
                 'the check names the malformed row');
SELECT throws_ok($$INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                   VALUES ('chat:no-counter', 1, gen_random_uuid(), 'message', 'user:a', '{}')$$,
                 '23503', 'insert on table "events": channel "chat:no-counter" has no counter row in channels',
                 'owner cannot store an event without a counter row');
UPDATE switchboard.channels SET last_seq = 2 WHERE name = 'chat:check';
SELECT throws_ok($$INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                   VALUES ('chat:check', 3, gen_random_uuid(), 'message', 'user:a', '{}')$$,
                 '23503', 'insert on table "events": channel "chat:check" has last_seq 2, below seq 3',
                 'owner cannot store an event above its channel''s last_seq');
SELECT lives_ok($$INSERT INTO switchboard.events (channel, seq, id, type, sender, data)
                  VALUES ('chat:check', 1, gen_random_uuid(), 'message', 'user:a', '{}'),
                         ('chat:check', 2, gen_random_uuid(), 'message', 'user:a', '{}')$$,
                'owner may store events at or below last_seq');
SELECT throws_ok($$UPDATE switchboard.events SET sender = E'a\nb' WHERE channel = 'chat:check'$$,
                 '23514', NULL, 'updates are checked too');
SELECT throws_ok($$UPDATE switchboard.events SET seq = 7 WHERE channel = 'chat:check' AND seq = 2$$,
                 '23503', NULL, 'owner cannot move an event above last_seq');
SELECT throws_ok($$UPDATE switchboard.events SET channel = 'chat:elsewhere' WHERE channel = 'chat:check'$$,
                 '23503', NULL, 'owner cannot move events to a channel without a counter row');
SELECT throws_ok($$DELETE FROM switchboard.channels WHERE name = 'chat:check'$$,
                 '23503', 'delete on table "channels": channel "chat:check" still has events',
                 'a counter row whose channel has events cannot be deleted');
SELECT throws_ok($$UPDATE switchboard.channels SET name = 'chat:renamed' WHERE name = 'chat:check'$$,
                 '23503', NULL, 'nor renamed');
SELECT throws_ok($$TRUNCATE switchboard.channels, switchboard.tasks$$, '23503', NULL, 'nor truncated');
INSERT INTO switchboard.channels (name, namespace) VALUES ('chat:unused', 'chat');
SELECT lives_ok($$DELETE FROM switchboard.channels WHERE name = 'chat:unused'$$,
                'a counter row without events can be deleted');

SELECT * FROM finish();
ROLLBACK;
