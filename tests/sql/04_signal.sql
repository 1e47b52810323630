-- 04_signal.sql: ephemeral signals: the event shape with seq null, nothing
-- stored, a clear error when the event does not fit a NOTIFY payload.
-- (Delivery on LISTEN switchboard_signal happens at commit; run-db-tests.sh
-- checks it.)
BEGIN;
SELECT plan(13);

CREATE TEMP TABLE before_counts AS
SELECT (SELECT count(*) FROM switchboard.events) AS events,
       (SELECT count(*) FROM switchboard.channels) AS channels;

SELECT is(switchboard.signal('chat:sig', 'typing', '{"on": true}', 'user:alice')::jsonb
              - 'id' - 'time',
          '{"channel": "chat:sig", "seq": null, "type": "typing", "sender": "user:alice",
            "data": {"on": true}}'::jsonb,
          'signal returns the event with seq null');
SELECT matches(switchboard.signal('chat:sig', 'token', '{"t": "Hel"}', 'agent:writer')::text,
               '^\{"channel":"chat:sig","seq":null,"id":"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}","type":"token","sender":"agent:writer","time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z","data":\{"t": "Hel"\}\}$',
               'signal prints the one event shape');
SELECT isnt(switchboard.signal('chat:sig', 'typing', '{}', 'user:a')::jsonb ->> 'id',
            switchboard.signal('chat:sig', 'typing', '{}', 'user:a')::jsonb ->> 'id',
            'every signal gets a fresh id');
SELECT is((SELECT count(*) FROM switchboard.events), (SELECT events FROM before_counts),
          'signals store no event');
SELECT is((SELECT count(*) FROM switchboard.channels), (SELECT channels FROM before_counts),
          'signals create no channel row');

-- The NOTIFY payload limit: the whole event must fit 7999 bytes.
CREATE TEMP TABLE sizes AS
SELECT 7999 - octet_length(switchboard.event_json('chat:sig', NULL, gen_random_uuid(), 'token',
                                                  'user:a', now(), '{"t": ""}')) AS room;
SELECT lives_ok(
    format($$SELECT switchboard.signal('chat:sig', 'token', jsonb_build_object('t', repeat('x', %s)), 'user:a')$$,
           (SELECT room FROM sizes)),
    'a signal of exactly 7999 bytes is sent');
SELECT is(octet_length(switchboard.signal('chat:sig', 'token',
                           jsonb_build_object('t', repeat('x', (SELECT room FROM sizes))),
                           'user:a')::text),
          7999, 'that signal is 7999 bytes');
SELECT throws_ok(
    format($$SELECT switchboard.signal('chat:sig', 'token', jsonb_build_object('t', repeat('x', %s)), 'user:a')$$,
           (SELECT room + 1 FROM sizes)),
    'SB005', 'too large: signal of 8000 bytes, limit 7999',
    'one byte more is SB005, naming the size and the limit');
SELECT throws_ok(
    $$SELECT switchboard.signal('chat:sig', 'token', jsonb_build_object('t', repeat('x', 70000)), 'user:a')$$,
    'SB005', NULL, 'data over max_data_bytes is SB005 too');

-- Bad input, as for publish.
SELECT throws_ok($$SELECT switchboard.signal('nosuch:x', 'typing', '{}', 'user:a')$$,
                 'SB002', 'unknown namespace: "nosuch"', 'unknown namespace is SB002');
SELECT throws_ok($$SELECT switchboard.signal('chat:x y', 'typing', '{}', 'user:a')$$,
                 'SB001', NULL, 'bad channel is SB001');
SELECT throws_ok($$SELECT switchboard.signal('chat:x', 'Typing', '{}', 'user:a')$$,
                 'SB003', NULL, 'bad type is SB003');
SELECT throws_ok($$SELECT switchboard.signal('chat:x', 'typing', '[]', 'user:a')$$,
                 'SB004', NULL, 'non-object data is SB004');

SELECT * FROM finish();
ROLLBACK;
