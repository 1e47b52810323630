-- 03_read.sql: the event shape (event_json), events_after/events_before
-- (index range scans on the primary key) and channel_info.
BEGIN;
SELECT plan(30);

-- --- the event shape ------------------------------------------------------------

SELECT is(switchboard.event_json('chat:agent-42', 17, '0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11',
                                 'message', 'user:alice', '2026-11-22 10:15:30.123456+00',
                                 '{"text": "hello"}'),
          '{"channel":"chat:agent-42","seq":17,"id":"0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11",'
          '"type":"message","sender":"user:alice","time":"2026-11-22T10:15:30.123456Z",'
          '"data":{"text": "hello"}}',
          'event_json prints the envelope: key order, compact, time with 6 digits and Z');
SET LOCAL timezone = 'America/New_York';
SELECT is(switchboard.event_json('chat:a', 1, '0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11', 'message',
                                 'user:alice', '2026-01-02 03:04:05+00', '{}'),
          '{"channel":"chat:a","seq":1,"id":"0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11",'
          '"type":"message","sender":"user:alice","time":"2026-01-02T03:04:05.000000Z","data":{}}',
          'event_json prints UTC whatever the session time zone, always 6 digits');
RESET timezone;
SELECT matches(switchboard.event_json('chat:a', NULL, gen_random_uuid(), 'typing', 'user:a', now(), '{}'),
               '^\{"channel":"chat:a","seq":null,"id":"[0-9a-f-]{36}","type":"typing",',
               'seq prints as null for a signal');
SELECT is(switchboard.event_json('chat:a', 1, '0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11', 'message',
                                 E'user:"q\\u"\u00e9', '2026-01-02 03:04:05.5+00', '{"a": [1, "x"]}'),
          '{"channel":"chat:a","seq":1,"id":"0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11",'
          '"type":"message","sender":"user:\"q\\u\"' || U&'\00e9' || '","time":"2026-01-02T03:04:05.500000Z",'
          '"data":{"a": [1, "x"]}}',
          'string fields are escaped as to_json(text) escapes them');
SELECT ok(switchboard.event_json('chat:a', 1, gen_random_uuid(), 'message', 'user:a', now(),
                                 '{"x": {"y": 1}}')::jsonb IS NOT NULL,
          'event_json is valid JSON');

-- --- history --------------------------------------------------------------------

SELECT is((SELECT count(*) FROM switchboard.publish_batch(
              (SELECT jsonb_agg(jsonb_build_object('channel', 'chat:read', 'type', 'message',
                                                   'data', jsonb_build_object('n', g),
                                                   'sender', 'user:a') ORDER BY g)
                 FROM generate_series(1, 1000) AS g))),
          1000::bigint, 'published 1000 events');
SELECT is((SELECT count(*) FROM switchboard.publish_batch(
              (SELECT jsonb_agg(jsonb_build_object('channel', 'chat:read', 'type', 'message',
                                                   'data', jsonb_build_object('n', g),
                                                   'sender', 'user:a') ORDER BY g)
                 FROM generate_series(1001, 2000) AS g))),
          1000::bigint, 'published 1000 more');
SELECT is((SELECT count(*) FROM switchboard.publish('chat:other', 'message', '{}', 'user:a')),
          1::bigint, 'and one on another channel');

SELECT results_eq(
    $$SELECT seq FROM switchboard.events_after('chat:read', 10, 5)$$,
    $$VALUES (11::bigint), (12), (13), (14), (15)$$,
    'events_after: seq > since, ascending, at most max');
SELECT results_eq(
    $$SELECT count(*), min(seq), max(seq) FROM switchboard.events_after('chat:read', 0)$$,
    $$VALUES (100::bigint, 1::bigint, 100::bigint)$$,
    'events_after: max defaults to 100');
SELECT results_eq(
    $$SELECT count(*), min(seq), max(seq) FROM switchboard.events_after('chat:read', 500, 1000)$$,
    $$VALUES (1000::bigint, 501::bigint, 1500::bigint)$$,
    'events_after: up to history_max (1000) rows');
SELECT is_empty($$SELECT * FROM switchboard.events_after('chat:read', 2000)$$,
                'events_after the last seq is empty');
SELECT is_empty($$SELECT * FROM switchboard.events_after('chat:never-used', 0)$$,
                'events_after on a channel never published to is empty');
SELECT results_eq(
    $$SELECT event FROM switchboard.events_after('chat:read', 41, 1)$$,
    $$SELECT switchboard.event_json(e.channel, e.seq, e.id, e.type, e.sender, e.created_at, e.data)
        FROM switchboard.events e WHERE e.channel = 'chat:read' AND e.seq = 42$$,
    'events_after returns event_json');
SELECT is((SELECT event::jsonb -> 'data' ->> 'n' FROM switchboard.events_after('chat:read', 41, 1)),
          '42', 'events keep their input order');

SELECT results_eq(
    $$SELECT seq FROM switchboard.events_before('chat:read', 11, 3)$$,
    $$VALUES (8::bigint), (9), (10)$$,
    'events_before: the max events just below before, ascending');
SELECT results_eq(
    $$SELECT min(seq), max(seq), count(*) FROM switchboard.events_before('chat:read', NULL)$$,
    $$VALUES (1901::bigint, 2000::bigint, 100::bigint)$$,
    'events_before NULL: the newest events');
SELECT results_eq(
    $$SELECT seq FROM switchboard.events_before('chat:read', 3)$$,
    $$VALUES (1::bigint), (2)$$,
    'events_before near the start returns what there is');
SELECT is_empty($$SELECT * FROM switchboard.events_before('chat:read', 1)$$,
                'nothing is before seq 1');

-- --- the plans: index range scans on the primary key --------------------------------

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
    $$SELECT e.seq FROM switchboard.events e WHERE e.channel = 'chat:read' AND e.seq > 1500
       ORDER BY e.seq LIMIT 100$$),
    'Index (Only )?Scan using events_pkey on events',
    'the events_after query is an index range scan on events_pkey');
SELECT matches(pg_temp.plan_of(
    $$SELECT e.seq FROM switchboard.events e WHERE e.channel = 'chat:read' AND e.seq < 1500
       ORDER BY e.seq DESC LIMIT 100$$),
    'Index (Only )?Scan Backward using events_pkey on events',
    'the events_before query is a backward index range scan on events_pkey');

-- --- channel_info ----------------------------------------------------------------------

SELECT results_eq(
    $$SELECT channel, namespace, last_seq, pruned_seq, oldest_seq FROM switchboard.channel_info('chat:read')$$,
    $$VALUES ('chat:read', 'chat', 2000::bigint, 0::bigint, 1::bigint)$$,
    'channel_info: counters of a used channel');
SELECT results_eq(
    $$SELECT channel, namespace, last_seq, pruned_seq, oldest_seq, created_at IS NULL
        FROM switchboard.channel_info('chat:never-used')$$,
    $$VALUES ('chat:never-used', 'chat', 0::bigint, 0::bigint, 1::bigint, true)$$,
    'channel_info: a valid channel never used is empty at seq 0');

-- --- bad arguments ---------------------------------------------------------------------------

SELECT throws_ok($$SELECT * FROM switchboard.events_after('chat:read', -1)$$, 'SB010',
                 'invalid cursor: since must be a seq >= 0, not -1', 'since < 0 is SB010');
SELECT throws_ok($$SELECT * FROM switchboard.events_after('chat:read', 0, 0)$$, 'SB008',
                 'invalid parameter: max must be 1 to 1000, not 0', 'max 0 is SB008');
SELECT throws_ok($$SELECT * FROM switchboard.events_after('chat:read', 0, 1001)$$, 'SB008',
                 NULL, 'max over history_max is SB008');
SELECT throws_ok($$SELECT * FROM switchboard.events_before('chat:read', 0)$$, 'SB010',
                 NULL, 'before < 1 is SB010');
SELECT throws_ok($$SELECT * FROM switchboard.events_after('chat read', 0)$$, 'SB001',
                 NULL, 'a bad channel is SB001');
SELECT throws_ok($$SELECT * FROM switchboard.events_before('nosuch:x', NULL)$$, 'SB002',
                 'unknown namespace: "nosuch"', 'an unknown namespace is SB002');
SELECT throws_ok($$SELECT * FROM switchboard.channel_info('nosuch:x')$$, 'SB002',
                 NULL, 'channel_info of an unknown namespace is SB002');

SELECT * FROM finish();
ROLLBACK;
