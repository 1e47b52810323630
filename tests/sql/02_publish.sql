-- 02_publish.sql: publish() and publish_batch(): gapless per-channel seqs,
-- idempotent ids, channel rows created on first use, atomic batches.
-- (The doorbell NOTIFY is delivered at commit; run-db-tests.sh checks it.)
BEGIN;
SELECT plan(35);

-- --- publish -------------------------------------------------------------------

SELECT is((SELECT count(*) FROM switchboard.channels WHERE name = 'chat:pub-a'), 0::bigint,
          'no counter row before the first publish');
SELECT results_eq(
    $$SELECT seq, duplicate FROM switchboard.publish('chat:pub-a', 'message', '{"text": "one"}', 'user:alice')$$,
    $$VALUES (1::bigint, false)$$,
    'the first event of a channel gets seq 1');
SELECT is((SELECT last_seq FROM switchboard.channels WHERE name = 'chat:pub-a'), 1::bigint,
          'the counter row was created on first use');
SELECT results_eq(
    $$SELECT seq, duplicate FROM switchboard.publish('chat:pub-a', 'message', '{"text": "two"}', 'user:alice')$$,
    $$VALUES (2::bigint, false)$$,
    'the next event gets seq 2');
SELECT results_eq(
    $$SELECT seq, id, duplicate FROM switchboard.publish('chat:pub-a', 'message', '{"text": "three"}',
                                                        'user:alice', '0B7C2F4E-5D1A-4C55-9A8E-2F3C1D0E9B11')$$,
    $$VALUES (3::bigint, '0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11'::uuid, false)$$,
    'a client-chosen id is kept (lower case)');
SELECT results_eq(
    $$SELECT seq, id, duplicate FROM switchboard.publish('chat:pub-a', 'message', '{"text": "retry"}',
                                                        'user:alice', '0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11')$$,
    $$VALUES (3::bigint, '0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11'::uuid, true)$$,
    'publishing the same id again returns the original seq, duplicate = true');
SELECT is((SELECT count(*) FROM switchboard.events WHERE channel = 'chat:pub-a'), 3::bigint,
          'the retry stored nothing');
SELECT is((SELECT data FROM switchboard.events WHERE channel = 'chat:pub-a' AND seq = 3),
          '{"text": "three"}'::jsonb, 'the original event is kept');
SELECT is((SELECT last_seq FROM switchboard.channels WHERE name = 'chat:pub-a'), 3::bigint,
          'the retry did not move the counter');
SELECT results_eq(
    $$SELECT seq, duplicate FROM switchboard.publish('chat:pub-b', 'message', '{}', 'user:alice',
                                                    '0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11')$$,
    $$VALUES (1::bigint, false)$$,
    'the same id on another channel is another event');
SELECT isnt((SELECT id FROM switchboard.events WHERE channel = 'chat:pub-a' AND seq = 1),
            (SELECT id FROM switchboard.events WHERE channel = 'chat:pub-a' AND seq = 2),
            'generated ids differ');
SELECT is((SELECT sender || ' ' || type FROM switchboard.events WHERE channel = 'chat:pub-a' AND seq = 1),
          'user:alice message', 'sender and type are stored');

-- A rolled-back publish leaves no gap.
SELECT throws_ok(
    $q$DO $d$ BEGIN
        PERFORM switchboard.publish('chat:pub-a', 'message', '{}', 'user:alice');
        RAISE EXCEPTION 'rolled back';
    END $d$$q$,
    'P0001', 'rolled back', 'a publish inside a failing subtransaction');
SELECT results_eq(
    $$SELECT seq FROM switchboard.publish('chat:pub-a', 'message', '{"text": "four"}', 'user:alice')$$,
    $$VALUES (4::bigint)$$,
    'the next publish gets seq 4: no gap');

-- --- publish_batch -----------------------------------------------------------------

SELECT results_eq(
    $$SELECT ord, channel, seq, duplicate FROM switchboard.publish_batch('[
        {"channel": "chat:batch-b", "type": "message", "data": {"n": 0}, "sender": "user:a"},
        {"channel": "chat:batch-a", "type": "message", "data": {"n": 1}, "sender": "user:a"},
        {"channel": "chat:batch-b", "type": "message", "data": {"n": 2}, "sender": "user:a",
         "id": "11111111-1111-4111-8111-111111111111"},
        {"channel": "chat:batch-b", "type": "message", "data": {"n": 3}, "sender": "user:a",
         "id": "11111111-1111-4111-8111-111111111111"},
        {"channel": "chat:batch-a", "type": "message", "data": {"n": 4}, "sender": "user:a", "id": null},
        {"channel": "chat:batch-b", "type": "message", "data": {"n": 5}, "sender": "user:a"}]')$$,
    $$VALUES (0, 'chat:batch-b', 1::bigint, false), (1, 'chat:batch-a', 1, false),
             (2, 'chat:batch-b', 2, false), (3, 'chat:batch-b', 2, true),
             (4, 'chat:batch-a', 2, false), (5, 'chat:batch-b', 3, false)$$,
    'batch: seqs per channel in input order; an id repeated in the batch is a duplicate');
SELECT results_eq(
    $$SELECT seq, (data ->> 'n')::int FROM switchboard.events WHERE channel = 'chat:batch-b' ORDER BY seq$$,
    $$VALUES (1::bigint, 0), (2, 2), (3, 5)$$,
    'batch: the first of a repeated id is stored, the repeat is not');
SELECT results_eq(
    $$SELECT name, last_seq FROM switchboard.channels WHERE name LIKE 'chat:batch-_' ORDER BY name$$,
    $$VALUES ('chat:batch-a', 2::bigint), ('chat:batch-b', 3::bigint)$$,
    'batch: counters moved by the number of new events');
SELECT results_eq(
    $$SELECT ord, seq, duplicate FROM switchboard.publish_batch('[
        {"channel": "chat:batch-b", "type": "message", "data": {"n": 6}, "sender": "user:a",
         "id": "11111111-1111-4111-8111-111111111111"},
        {"channel": "chat:batch-b", "type": "message", "data": {"n": 7}, "sender": "user:a"},
        {"channel": "chat:pub-a", "type": "message", "data": {}, "sender": "user:a",
         "id": "0B7C2F4E-5D1A-4C55-9A8E-2F3C1D0E9B11"}]')$$,
    $$VALUES (0, 2::bigint, true), (1, 4::bigint, false), (2, 3::bigint, true)$$,
    'batch: ids stored before (by a batch or by publish, any case) return their seq');
SELECT results_eq(
    $$SELECT id FROM switchboard.publish_batch('[{"channel": "chat:batch-c", "type": "message",
        "data": {}, "sender": "user:a", "id": "ABCDEF01-2345-4789-ABCD-EF0123456789"}]')$$,
    $$VALUES ('abcdef01-2345-4789-abcd-ef0123456789'::uuid)$$,
    'batch: ids are returned and stored in lower case');

SELECT is((SELECT count(*) FROM switchboard.publish_batch(
              (SELECT jsonb_agg(jsonb_build_object('channel', 'chat:batch-big', 'type', 'message',
                                                   'data', jsonb_build_object('n', g),
                                                   'sender', 'user:a'))
                 FROM generate_series(1, 1000) AS g))),
          1000::bigint, 'a batch of batch_max (1000) events');
SELECT results_eq(
    $$SELECT count(*), count(DISTINCT seq), min(seq), max(seq)
        FROM switchboard.events WHERE channel = 'chat:batch-big'$$,
    $$VALUES (1000::bigint, 1000::bigint, 1::bigint, 1000::bigint)$$,
    'the big batch holds seqs 1..1000 without a gap');
SELECT is((SELECT (data ->> 'n')::int FROM switchboard.events WHERE channel = 'chat:batch-big' AND seq = 737),
          737, 'events keep their input order within a channel');

SELECT results_eq(
    $$SELECT ord, channel, seq FROM switchboard.publish_batch(
        (SELECT jsonb_agg(jsonb_build_object('channel', 'chat:spread-' || (g % 7), 'type', 'message',
                                             'data', '{}'::jsonb, 'sender', 'user:a') ORDER BY g)
           FROM generate_series(0, 20) AS g))
       WHERE ord >= 14$$,
    $$VALUES (14, 'chat:spread-0', 3::bigint), (15, 'chat:spread-1', 3), (16, 'chat:spread-2', 3),
             (17, 'chat:spread-3', 3), (18, 'chat:spread-4', 3), (19, 'chat:spread-5', 3),
             (20, 'chat:spread-6', 3)$$,
    'a batch spanning seven channels numbers each channel on its own');

-- A bad element anywhere: nothing stored, not even new channel rows.
SELECT throws_ok(
    $$SELECT * FROM switchboard.publish_batch('[
        {"channel": "chat:batch-new", "type": "message", "data": {}, "sender": "user:a"},
        {"channel": "chat:batch-a", "type": "message", "data": {}, "sender": "user:a"},
        {"channel": "chat:batch-a", "type": "Bad", "data": {}, "sender": "user:a"}]')$$,
    'SB003', 'event 2: invalid type: "Bad"', 'a batch with a bad element fails, naming its index');
SELECT is((SELECT count(*) FROM switchboard.channels WHERE name = 'chat:batch-new'), 0::bigint,
          'the failed batch created no channel row');
SELECT is((SELECT last_seq FROM switchboard.channels WHERE name = 'chat:batch-a'), 2::bigint,
          'the failed batch did not move a counter');
SELECT is((SELECT count(*) FROM switchboard.events WHERE channel = 'chat:batch-a'), 2::bigint,
          'the failed batch stored nothing');
SELECT throws_ok(
    $$SELECT * FROM switchboard.publish_batch('[
        {"channel": "chat:batch-a", "type": "message", "data": {}, "sender": "user:a"},
        {"channel": "nosuch:x", "type": "message", "data": {}, "sender": "user:a"}]')$$,
    'SB002', 'event 1: unknown namespace: "nosuch"', 'an unknown namespace fails the batch');

-- Ids in any case are one id; a batch naming channels in no particular
-- order, with names whose byte order and collation order may differ,
-- numbers each channel on its own and returns the elements in input order.
SELECT results_eq(
    $$SELECT ord, channel, seq, duplicate FROM switchboard.publish_batch('[
        {"channel": "chat:case-b", "type": "message", "data": {}, "sender": "user:a",
         "id": "ABCDEF01-2345-4789-ABCD-EF0123456700"},
        {"channel": "chat:Case-B", "type": "message", "data": {}, "sender": "user:a"},
        {"channel": "chat:case-b", "type": "message", "data": {}, "sender": "user:a",
         "id": "abcdef01-2345-4789-abcd-ef0123456700"},
        {"channel": "chat:_case", "type": "message", "data": {}, "sender": "user:a"},
        {"channel": "chat:Case-B", "type": "message", "data": {}, "sender": "user:a"},
        {"channel": "chat:case-b", "type": "message", "data": {}, "sender": "user:a"}]')$$,
    $$VALUES (0, 'chat:case-b', 1::bigint, false), (1, 'chat:Case-B', 1, false),
             (2, 'chat:case-b', 1, true), (3, 'chat:_case', 1, false),
             (4, 'chat:Case-B', 2, false), (5, 'chat:case-b', 2, false)$$,
    'a repeated id in another case is a duplicate; channels numbered on their own');
SELECT results_eq(
    $$SELECT name, last_seq FROM switchboard.channels
       WHERE name IN ('chat:case-b', 'chat:Case-B', 'chat:_case') ORDER BY name COLLATE "C"$$,
    $$VALUES ('chat:Case-B', 2::bigint), ('chat:_case', 1::bigint), ('chat:case-b', 2::bigint)$$,
    'each counter moved by its own new events');

-- A batch over many channels at once, some new and some not, with ids.
SELECT is((SELECT count(*) FROM switchboard.publish_batch(
              (SELECT jsonb_agg(jsonb_build_object('channel', 'chat:wide-' || (g % 300),
                                                   'type', 'message', 'data', '{}'::jsonb,
                                                   'sender', 'user:a',
                                                   'id', gen_random_uuid()) ORDER BY g)
                 FROM generate_series(1, 600) AS g))),
          600::bigint, 'a batch over 300 channels');
SELECT results_eq(
    $$SELECT ord, channel, seq, duplicate FROM switchboard.publish_batch(
        (SELECT jsonb_agg(jsonb_build_object('channel', 'chat:wide-' || (g % 301), 'type', 'message',
                                             'data', '{}'::jsonb, 'sender', 'user:a') ORDER BY g)
           FROM generate_series(0, 301) AS g))
       WHERE ord IN (0, 1, 299, 300, 301)$$,
    $$VALUES (0, 'chat:wide-0', 3::bigint, false), (1, 'chat:wide-1', 3, false),
             (299, 'chat:wide-299', 3, false), (300, 'chat:wide-300', 1, false),
             (301, 'chat:wide-0', 4, false)$$,
    'the next batch over them continues each channel, and starts the new one at 1');

-- After all that, every channel is still gapless.
SELECT is_empty(
    $$SELECT c.name FROM switchboard.channels c
       WHERE c.last_seq <> (SELECT count(*) FROM switchboard.events e WHERE e.channel = c.name)
          OR c.last_seq <> coalesce((SELECT max(e.seq) FROM switchboard.events e
                                      WHERE e.channel = c.name), 0)$$,
    'every channel holds seqs 1..last_seq');

-- The counters' lock order: lock_channels() locks through a sort on name.
SELECT ok(EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'lock_channels'
                     AND prosrc LIKE '%ORDER BY c.name FOR UPDATE%'),
          'lock_channels locks counter rows in channel-name order');
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        RETURN NEXT line;
    END LOOP;
END
$$;
SELECT matches(
    (SELECT string_agg(l, E'\n') FROM pg_temp.plan_of(
        $$SELECT count(*) FROM (
              SELECT 1 FROM switchboard.channels c WHERE c.name = ANY ('{chat:b,chat:a}')
               ORDER BY c.name FOR UPDATE) AS l$$) AS l),
    'LockRows\n *-> +(Sort|Index Scan)',
    'rows are locked above the ordering node, i.e. in name order');

SELECT * FROM finish();
ROLLBACK;
