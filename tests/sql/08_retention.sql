-- 08_retention.sql: prune_events() deletes by namespace policy (age and
-- count), raises pruned_seq and never touches last_seq.
BEGIN;
SELECT plan(22);

INSERT INTO switchboard.namespaces (name, description, max_events)
VALUES ('t08cap', 'test: keep the newest 3', 3);
INSERT INTO switchboard.namespaces (name, description, retention, max_events)
VALUES ('t08both', 'test: 1 day and 4 events', interval '1 day', 4);

SELECT is((SELECT count(*) FROM switchboard.publish_batch(
              (SELECT jsonb_agg(jsonb_build_object('channel', c, 'type', 'sample',
                                                   'data', jsonb_build_object('n', g),
                                                   'sender', 'system:test') ORDER BY c, g)
                 FROM generate_series(1, 10) AS g,
                      unnest(ARRAY['metrics:t08-age', 'metrics:t08-mixed', 'metrics:t08-all',
                                   't08cap:x', 't08both:x', 'system:t08']) AS c))),
          60::bigint, 'ten events on each of six channels');

-- metrics keeps 7 days. Age some events.
UPDATE switchboard.events SET created_at = now() - interval '8 days'
 WHERE channel = 'metrics:t08-age' AND seq <= 4;
-- Not a prefix: 1..3 and 5 old, 4 young. Only 1..3 may go.
UPDATE switchboard.events SET created_at = now() - interval '8 days'
 WHERE channel = 'metrics:t08-mixed' AND seq IN (1, 2, 3, 5);
UPDATE switchboard.events SET created_at = now() - interval '30 days'
 WHERE channel IN ('metrics:t08-all', 'system:t08');
-- t08both: 1 day or 4 events, whichever deletes more: 2 days old up to seq 7.
UPDATE switchboard.events SET created_at = now() - interval '2 days'
 WHERE channel = 't08both:x' AND seq <= 7;

CREATE TEMP TABLE pruned AS
SELECT * FROM switchboard.prune_events() WHERE channel LIKE '%t08%';

SELECT results_eq(
    $$SELECT channel, deleted FROM pruned ORDER BY channel$$,
    $$VALUES ('metrics:t08-age', 4::bigint), ('metrics:t08-all', 10::bigint),
             ('metrics:t08-mixed', 3::bigint), ('t08both:x', 7::bigint), ('t08cap:x', 7::bigint)$$,
    'prune_events reports what it deleted per channel');
SELECT results_eq(
    $$SELECT name, last_seq, pruned_seq FROM switchboard.channels WHERE name LIKE '%t08%' ORDER BY name$$,
    $$VALUES ('metrics:t08-age', 10::bigint, 4::bigint), ('metrics:t08-all', 10, 10),
             ('metrics:t08-mixed', 10, 3), ('system:t08', 10, 0), ('t08both:x', 10, 7),
             ('t08cap:x', 10, 7)$$,
    'pruned_seq rises, last_seq stays');
SELECT results_eq(
    $$SELECT min(seq), max(seq), count(*) FROM switchboard.events WHERE channel = 'metrics:t08-age'$$,
    $$VALUES (5::bigint, 10::bigint, 6::bigint)$$,
    'age: events older than the retention are gone, the rest kept');
SELECT results_eq(
    $$SELECT array_agg(seq ORDER BY seq) FROM switchboard.events WHERE channel = 'metrics:t08-mixed'$$,
    $$VALUES ('{4,5,6,7,8,9,10}'::bigint[])$$,
    'age: only a prefix is pruned (an old event after a young one stays)');
SELECT is((SELECT count(*) FROM switchboard.events WHERE channel = 'metrics:t08-all'), 0::bigint,
          'age: a channel with only old events is emptied');
SELECT results_eq(
    $$SELECT array_agg(seq ORDER BY seq) FROM switchboard.events WHERE channel = 't08cap:x'$$,
    $$VALUES ('{8,9,10}'::bigint[])$$,
    'max_events: the newest 3 are kept');
SELECT results_eq(
    $$SELECT array_agg(seq ORDER BY seq) FROM switchboard.events WHERE channel = 't08both:x'$$,
    $$VALUES ('{8,9,10}'::bigint[])$$,
    'both policies: whichever deletes more wins');
SELECT is((SELECT count(*) FROM switchboard.events WHERE channel = 'system:t08'), 10::bigint,
          'a namespace without a policy keeps everything');

-- Readers see where history starts.
SELECT results_eq(
    $$SELECT last_seq, pruned_seq, oldest_seq FROM switchboard.channel_info('metrics:t08-age')$$,
    $$VALUES (10::bigint, 4::bigint, 5::bigint)$$,
    'channel_info: oldest_seq = pruned_seq + 1');
SELECT results_eq(
    $$SELECT min(seq) FROM switchboard.events_after('metrics:t08-age', 0)$$,
    $$VALUES (5::bigint)$$,
    'events_after(0) starts at oldest_seq');
SELECT results_eq(
    $$SELECT last_seq, oldest_seq FROM switchboard.channel_info('metrics:t08-all')$$,
    $$VALUES (10::bigint, 11::bigint)$$,
    'an emptied channel: oldest_seq = last_seq + 1');
SELECT is_empty($$SELECT * FROM switchboard.events_after('metrics:t08-all', 0)$$,
                'an emptied channel has no history');

-- Seqs never restart.
SELECT results_eq(
    $$SELECT seq FROM switchboard.publish('metrics:t08-all', 'sample', '{}', 'system:test')$$,
    $$VALUES (11::bigint)$$,
    'the next publish on an emptied channel gets seq 11');
SELECT results_eq(
    $$SELECT seq FROM switchboard.publish('t08cap:x', 'sample', '{}', 'system:test')$$,
    $$VALUES (11::bigint)$$,
    'the next publish on a capped channel gets seq 11');

-- Again: only what the policy now asks.
CREATE TEMP TABLE pruned2 AS
SELECT * FROM switchboard.prune_events() WHERE channel LIKE '%t08%';
SELECT results_eq(
    $$SELECT channel, deleted FROM pruned2 ORDER BY channel$$,
    $$VALUES ('t08cap:x', 1::bigint)$$,
    'a second prune deletes only the one event now over the cap');
SELECT is((SELECT pruned_seq FROM switchboard.channels WHERE name = 't08cap:x'), 8::bigint,
          'and raises pruned_seq by one');
SELECT is((SELECT last_seq FROM switchboard.channels WHERE name = 't08cap:x'), 11::bigint,
          'last_seq untouched');
SELECT is_empty($$SELECT c.name FROM switchboard.channels c
                   WHERE c.last_seq - c.pruned_seq <> (SELECT count(*) FROM switchboard.events e
                                                        WHERE e.channel = c.name)$$,
                'every channel keeps exactly seqs pruned_seq+1 .. last_seq');

-- Owner only.
SELECT function_privs_are('switchboard', 'prune_events', ARRAY[]::text[], 'switchboard_app',
                          ARRAY[]::text[], 'app may not prune');
SELECT throws_ok($$SET LOCAL ROLE switchboard_app; SELECT * FROM switchboard.prune_events()$$,
                 '42501', NULL, 'app cannot run prune_events');
SELECT lives_ok($$SET LOCAL ROLE switchboard_owner; SELECT * FROM switchboard.prune_events(); RESET ROLE$$,
                'switchboard_owner can');

SELECT * FROM finish();
ROLLBACK;
