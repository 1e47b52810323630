-- 01_schema.sql: the objects of the switchboard schema, their owner, their
-- comments and who may use them.
BEGIN;
SELECT plan(135);

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
SELECT fk_ok('switchboard', 'events', 'channel', 'switchboard', 'channels', 'name',
             'events.channel references channels');
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

SELECT * FROM finish();
ROLLBACK;
