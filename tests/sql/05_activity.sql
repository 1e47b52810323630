-- 05_activity.sql: log_activity, search_activity (levels, full text, time
-- range, channel, keyset paging), recent_activity and activity_by_level.
BEGIN;
SELECT plan(36);

-- Start from an empty log so counts are exact.
DELETE FROM switchboard.events WHERE type = 'log';

SELECT is(switchboard.log_activity('activity:t05-test', 'info', 'deploy started for api'),
          1::bigint, 'log_activity returns the seq');
SELECT is((SELECT data FROM switchboard.events WHERE channel = 'activity:t05-test' AND seq = 1),
          '{"level": "info", "message": "deploy started for api", "metadata": {}}'::jsonb,
          'the entry is {"level","message","metadata"}');
SELECT is((SELECT type || ' ' || sender FROM switchboard.events WHERE channel = 'activity:t05-test' AND seq = 1),
          'log ' || current_user, 'type log, sender defaults to the calling role');
SELECT is(switchboard.log_activity('activity:t05-test', 'error', 'deploy failed: timeout talking to db',
                                   '{"host": "db1", "ms": 5000}', 'agent:deployer'),
          2::bigint, 'with metadata and sender');
SELECT is((SELECT data -> 'metadata' FROM switchboard.events WHERE channel = 'activity:t05-test' AND seq = 2),
          '{"host": "db1", "ms": 5000}'::jsonb, 'metadata is stored');
SELECT is(switchboard.log_activity('activity:t05-test', 'warning', 'retrying deploy', '{}', 'agent:deployer',
                                   '22222222-2222-4222-8222-222222222222'),
          3::bigint, 'with an id');
SELECT is(switchboard.log_activity('activity:t05-test', 'warning', 'retrying deploy', '{}', 'agent:deployer',
                                   '22222222-2222-4222-8222-222222222222'),
          3::bigint, 'the same id again returns the same seq');
SELECT is(switchboard.log_activity('activity:t05-other', 'success', 'backup finished'),
          1::bigint, 'another channel');
SELECT is(switchboard.log_activity('activity:t05-other', 'info', 'Disk usage at 80 percent'),
          2::bigint, 'and another entry');
-- Entries published as plain log events are found too.
SELECT is((SELECT seq FROM switchboard.publish('agent:t05', 'log',
               '{"level": "error", "message": "tool call crashed"}', 'agent:t05')),
          1::bigint, 'a log event published with publish()');

SELECT throws_ok($$SELECT switchboard.log_activity('activity:t05-test', 'debug', 'x')$$, 'SB008',
                 'invalid parameter: level must be info, success, warning or error, not "debug"',
                 'an unknown level is SB008');
SELECT throws_ok($$SELECT switchboard.log_activity('activity:t05-test', 'info', '')$$, 'SB004',
                 'invalid data: log message is empty', 'an empty message is SB004');
SELECT throws_ok($$SELECT switchboard.log_activity('activity:t05-test', 'info', repeat('x', 4097))$$,
                 'SB004', 'invalid data: log message longer than 4096 bytes',
                 'a message over 4096 bytes is SB004');
SELECT lives_ok($$SELECT switchboard.log_activity('activity:t05-limits', 'info', repeat('x ', 2048))$$,
                'a message of 4096 bytes is fine');
SELECT throws_ok($$SELECT switchboard.log_activity('activity:t05-test', 'info', 'x', '[1]')$$, 'SB004',
                 'invalid data: log metadata must be an object', 'array metadata is SB004');
DELETE FROM switchboard.events WHERE channel = 'activity:t05-limits';

-- --- search -------------------------------------------------------------------------

SELECT results_eq(
    $$SELECT event::jsonb ->> 'channel', seq FROM switchboard.search_activity()$$,
    $$VALUES ('agent:t05', 1::bigint), ('activity:t05-test', 3), ('activity:t05-test', 2),
             ('activity:t05-test', 1), ('activity:t05-other', 2), ('activity:t05-other', 1)$$,
    'all entries, newest first (time, then channel, then seq, descending)');
SELECT results_eq(
    $$SELECT event::jsonb ->> 'channel', seq FROM switchboard.search_activity(levels => '{error}')$$,
    $$VALUES ('agent:t05', 1::bigint), ('activity:t05-test', 2)$$,
    'levels filter');
SELECT results_eq(
    $$SELECT event::jsonb ->> 'channel', seq FROM switchboard.search_activity(query => 'deploy')$$,
    $$VALUES ('activity:t05-test', 3::bigint), ('activity:t05-test', 2), ('activity:t05-test', 1)$$,
    'full-text query');
SELECT results_eq(
    $$SELECT seq FROM switchboard.search_activity(query => 'deploy -timeout')$$,
    $$VALUES (3::bigint), (1)$$,
    'web-search syntax: -word excludes');
SELECT results_eq(
    $$SELECT seq FROM switchboard.search_activity(query => '"deploy failed"')$$,
    $$VALUES (2::bigint)$$,
    'web-search syntax: a quoted phrase');
SELECT results_eq(
    $$SELECT seq FROM switchboard.search_activity(query => 'DISK')$$,
    $$VALUES (2::bigint)$$,
    'search ignores case');
SELECT results_eq(
    $$SELECT seq FROM switchboard.search_activity(levels => '{info,warning}', channel => 'activity:t05-test')$$,
    $$VALUES (3::bigint), (1)$$,
    'levels and channel together');
SELECT is_empty($$SELECT * FROM switchboard.search_activity(since => now() + interval '1 second')$$,
                'since after every entry finds nothing');
SELECT is((SELECT count(*) FROM switchboard.search_activity(since => now(), until => now() + interval '1 second')),
          6::bigint, 'since is inclusive, until exclusive');
SELECT is_empty($$SELECT * FROM switchboard.search_activity(until => now())$$,
                'until = the entries'' time excludes them');

-- Keyset paging: pages of two cover everything once, in order.
CREATE TEMP TABLE pages (n serial, page int, seq bigint, channel text, cursor text);
DO $$
DECLARE
    c text := NULL;
    p int := 0;
    r record;
    n int;
BEGIN
    LOOP
        p := p + 1;
        n := 0;
        FOR r IN SELECT * FROM switchboard.search_activity(cursor => c, max => 2) LOOP
            INSERT INTO pages (page, seq, channel, cursor)
            VALUES (p, r.seq, r.event::jsonb ->> 'channel', r.cursor);
            c := r.cursor;
            n := n + 1;
        END LOOP;
        EXIT WHEN n = 0 OR p > 10;
    END LOOP;
END
$$;
SELECT results_eq(
    $$SELECT page, channel, seq FROM pages ORDER BY n$$,
    $$VALUES (1, 'agent:t05', 1::bigint), (1, 'activity:t05-test', 3), (2, 'activity:t05-test', 2),
             (2, 'activity:t05-test', 1), (3, 'activity:t05-other', 2), (3, 'activity:t05-other', 1)$$,
    'cursor paging returns every entry once, in order, two per page');
SELECT throws_ok($$SELECT * FROM switchboard.search_activity(cursor => 'not a cursor')$$, 'SB010',
                 NULL, 'a bad cursor is SB010');
SELECT throws_ok($$SELECT * FROM switchboard.search_activity(cursor => 'eHl6')$$, 'SB010',
                 NULL, 'a well-encoded but meaningless cursor is SB010');
SELECT throws_ok($$SELECT * FROM switchboard.search_activity(levels => '{loud}')$$, 'SB008',
                 NULL, 'an unknown level in levels is SB008');
SELECT throws_ok($$SELECT * FROM switchboard.search_activity(max => 0)$$, 'SB008',
                 NULL, 'max 0 is SB008');
SELECT throws_ok($$SELECT * FROM switchboard.search_activity(channel => 'nosuch:x')$$, 'SB002',
                 NULL, 'an unknown namespace is SB002');

-- --- views --------------------------------------------------------------------------

SELECT results_eq(
    $$SELECT channel, seq, level, message, metadata FROM switchboard.recent_activity
       WHERE channel = 'activity:t05-test'$$,
    $$VALUES ('activity:t05-test', 3::bigint, 'warning', 'retrying deploy', '{}'::jsonb),
             ('activity:t05-test', 2, 'error', 'deploy failed: timeout talking to db',
              '{"host": "db1", "ms": 5000}'),
             ('activity:t05-test', 1, 'info', 'deploy started for api', '{}')$$,
    'recent_activity: level, message and metadata as columns');
SELECT results_eq(
    $$SELECT level, last_hour, last_day FROM switchboard.activity_by_level$$,
    $$VALUES ('info', 2::bigint, 2::bigint), ('success', 1, 1), ('warning', 1, 1), ('error', 2, 2)$$,
    'activity_by_level counts per level');

-- --- the text index ---------------------------------------------------------------
-- With a realistic log (many entries, few matching), the planner picks the
-- GIN expression index for a text search.

SELECT is((SELECT count(*) FROM switchboard.publish_batch(
              (SELECT jsonb_agg(jsonb_build_object(
                          'channel', 'activity:t05-filler', 'type', 'log', 'sender', 'system:test',
                          'data', jsonb_build_object('level', 'info',
                                                     'message', 'routine heartbeat number ' || g)))
                 FROM generate_series(1, 1000) AS g))),
          1000::bigint, 'a thousand routine entries');
ANALYZE switchboard.events;
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RETURN plan;
END
$$;
SELECT matches(pg_temp.plan_of(
    $$SELECT e.seq FROM switchboard.events e WHERE e.type = 'log'
         AND to_tsvector('simple'::regconfig, e.data ->> 'message') @@ websearch_to_tsquery('simple', 'deploy')$$),
    'Bitmap Index Scan on events_log_text_idx', 'full-text search uses events_log_text_idx');
SELECT results_eq(
    $$SELECT seq FROM switchboard.search_activity(query => 'deploy', channel => 'activity:t05-test')$$,
    $$VALUES (3::bigint), (2), (1)$$,
    'and finds the same entries among the thousand');

SELECT * FROM finish();
ROLLBACK;
