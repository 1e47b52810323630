-- 10_bad_input.sql: every malformed input gets its SQLSTATE and a clear
-- message, and nothing is stored. The grammar is the one of lib/channel.c
-- and lib/envelope.c.
BEGIN;
SELECT plan(113);

SELECT is((SELECT seq FROM switchboard.publish('chat:t10', 'message', '{}', 'user:a')), 1::bigint,
          'a first good event');
CREATE TEMP TABLE counts AS
SELECT (SELECT count(*) FROM switchboard.events) AS events,
       (SELECT count(*) FROM switchboard.channels) AS channels;

-- --- channels ------------------------------------------------------------------

SELECT throws_ok(format('SELECT * FROM switchboard.publish(%L, ''message'', ''{}'', ''user:a'')', ch),
                 'SB001', NULL, 'channel ' || coalesce(to_json(left(ch, 40))::text, 'NULL') || ' is SB001')
  FROM unnest(ARRAY['', 'nocolon', 'Chat:x', '1chat:x', '_chat:x', 'chat:', ':x', 'chat:x y',
                    'chat:.x', 'chat:-x', 'chat:/x', 'chat:x:y', E'chat:\u00e9', E'chat:x\n',
                    'chat:x;y', 'chat:x*', repeat('a', 33) || ':x', 'chat:' || repeat('n', 129)]) AS ch;
SELECT throws_ok($$SELECT * FROM switchboard.publish(NULL, 'message', '{}', 'user:a')$$,
                 'SB001', 'invalid channel: missing or not a string', 'a NULL channel is SB001');
SELECT throws_ok($$SELECT * FROM switchboard.publish('chat x', 'message', '{}', 'user:a')$$,
                 'SB001', 'invalid channel: "chat x"', 'the message quotes the channel');
SELECT throws_ok(format('SELECT * FROM switchboard.publish(%L, ''message'', ''{}'', ''user:a'')',
                        repeat('a', 32) || ':x'),
                 'SB002', NULL, 'a 32-byte namespace is grammatical (and unknown: SB002)');
SELECT lives_ok(format('SELECT * FROM switchboard.publish(%L, ''message'', ''{}'', ''user:a'')',
                       'chat:' || repeat('n', 128)),
                'a 128-byte name is fine');
SELECT lives_ok($$SELECT * FROM switchboard.publish('chat:A-z_0.9/x', 'message', '{}', 'user:a')$$,
                'every allowed character of a name');
SELECT throws_ok($$SELECT * FROM switchboard.publish('nosuch:x', 'message', '{}', 'user:a')$$,
                 'SB002', 'unknown namespace: "nosuch"', 'an unknown namespace is SB002');

-- --- types ------------------------------------------------------------------------

SELECT throws_ok(format('SELECT * FROM switchboard.publish(''chat:t10'', %L, ''{}'', ''user:a'')', ty),
                 'SB003', NULL, 'type ' || coalesce(to_json(left(ty, 40))::text, 'NULL') || ' is SB003')
  FROM unnest(ARRAY['', 'Message', '1msg', '_msg', 'msg.', '.msg', 'msg..x', 'msg-x', 'msg x',
                    'a.1b', repeat('a', 33), 'a.' || repeat('b', 33),
                    repeat('a', 32) || '.' || repeat('b', 31) || '.c', NULL]) AS ty;
SELECT lives_ok(format('SELECT * FROM switchboard.publish(''chat:t10-types'', %L, ''{}'', ''user:a'')',
                       repeat('a', 32) || '.' || repeat('b', 31)),
                'a 64-byte type of two 32-byte-or-less parts is fine');
SELECT lives_ok($$SELECT * FROM switchboard.publish('chat:t10-types', 'workflow.stats.v2_x', '{}', 'user:a')$$,
                'a dotted type is fine');

-- --- data ----------------------------------------------------------------------------

SELECT throws_ok(format('SELECT * FROM switchboard.publish(''chat:t10'', ''message'', %L::jsonb, ''user:a'')', d),
                 'SB004', 'invalid data: not a JSON object', 'data ' || coalesce(d, 'NULL') || ' is SB004')
  FROM unnest(ARRAY['[]', '[{}]', '"text"', '1', 'true', 'null', NULL]) AS d;

-- Depth: the data object is level 1; 32 levels are fine, 33 are not.
SELECT lives_ok(format('SELECT * FROM switchboard.publish(''chat:t10-deep'', ''message'', %L, ''user:a'')',
                       repeat('{"a":', 31) || '{}' || repeat('}', 31)),
                '32 nested objects are fine');
SELECT throws_ok(format('SELECT * FROM switchboard.publish(''chat:t10'', ''message'', %L, ''user:a'')',
                        repeat('{"a":', 32) || '{}' || repeat('}', 32)),
                 'SB004', 'invalid data: nested deeper than 32 levels', '33 nested objects are SB004');
SELECT lives_ok(format('SELECT * FROM switchboard.publish(''chat:t10-deep'', ''message'', %L, ''user:a'')',
                       '{"a":' || repeat('[', 31) || repeat(']', 31) || '}'),
                'an object holding 31 nested arrays is fine');
SELECT throws_ok(format('SELECT * FROM switchboard.publish(''chat:t10'', ''message'', %L, ''user:a'')',
                        '{"a":' || repeat('[', 32) || '1' || repeat(']', 32) || '}'),
                 'SB004', NULL, 'an object holding 32 nested arrays is SB004');

-- Size, counted as compact JSON (as lib/envelope.c counts it).
SELECT is(switchboard.compact_length('{"a": 1, "b": [1, 2], "c": "x: y, z", "d": {"e": null}}'),
          octet_length('{"a":1,"b":[1,2],"c":"x: y, z","d":{"e":null}}'),
          'compact_length drops only the separators'' spaces');
SELECT is(switchboard.compact_length(E'{"a": "q\\": , \\\\", "b": ", "}'::jsonb),
          octet_length(E'{"a":"q\\": , \\\\","b":", "}'),
          'compact_length is not fooled by escaped quotes');
SET LOCAL switchboard.max_data_bytes = 100;
SELECT lives_ok(format('SELECT * FROM switchboard.publish(''chat:t10-size'', ''message'', %L, ''user:a'')',
                       '{"t":"' || repeat('x', 92) || '"}'),
                'data of exactly max_data_bytes (100, compact) is fine');
SELECT throws_ok(format('SELECT * FROM switchboard.publish(''chat:t10'', ''message'', %L, ''user:a'')',
                        '{"t":"' || repeat('x', 93) || '"}'),
                 'SB005', 'too large: data of 101 bytes, limit 100', 'one byte more is SB005');
SELECT throws_ok(format($$SELECT * FROM switchboard.publish_batch('[{"channel": "chat:t10", "type": "m",
                            "data": {}, "sender": "u"}, {"channel": "chat:t10", "type": "m",
                            "data": %s, "sender": "u"}]')$$, '{"t":"' || repeat('x', 93) || '"}'),
                 'SB005', 'event 1: too large: data of 101 bytes, limit 100', 'the same in a batch');
RESET switchboard.max_data_bytes;
SELECT throws_ok($$SELECT * FROM switchboard.publish('chat:t10', 'message',
                       jsonb_build_object('t', repeat('x', 65536)), 'user:a')$$,
                 'SB005', NULL, 'over the default 65536 is SB005');
SELECT throws_ok($$SELECT '{"a": "\u0000"}'::jsonb$$, '22P05', NULL,
                 '\u0000 cannot even reach the functions: jsonb rejects it');
SELECT throws_ok($$SELECT convert_from('\xc328'::bytea, 'UTF8')$$, '22021', NULL,
                 'invalid UTF-8 cannot become text');

-- --- activity log entries ------------------------------------------------------------------

SELECT throws_ok(format('SELECT * FROM switchboard.publish(''activity:t10'', ''log'', %L, ''user:a'')', d),
                 'SB004', 'invalid data: ' || msg, 'log data ' || d || ' is SB004')
  FROM (VALUES
    ('{}', 'log level must be info, success, warning or error'),
    ('{"level": "debug", "message": "x"}', 'log level must be info, success, warning or error'),
    ('{"level": 1, "message": "x"}', 'log level must be info, success, warning or error'),
    ('{"level": "info"}', 'log entry needs a message'),
    ('{"level": "info", "message": 5}', 'log message must be a string'),
    ('{"level": "info", "message": ""}', 'log message is empty'),
    ('{"level": "info", "message": "x", "metadata": []}', 'log metadata must be an object'),
    ('{"level": "info", "message": "x", "metadata": null}', 'log metadata must be an object'),
    ('{"level": "info", "message": "x", "extra": 1}', 'unknown key "extra" in log entry')) AS v(d, msg);
SELECT throws_ok(format('SELECT * FROM switchboard.publish(''activity:t10'', ''log'', %L, ''user:a'')',
                        jsonb_build_object('level', 'info', 'message', repeat('x', 4097))),
                 'SB004', 'invalid data: log message longer than 4096 bytes', 'a 4097-byte message is SB004');
SELECT lives_ok(format('SELECT * FROM switchboard.publish(''activity:t10'', ''log'', %L, ''user:a'')',
                       jsonb_build_object('level', 'success', 'message', repeat(E'\u00e9 ', 1365) || 'x',
                                          'metadata', '{"k": [1]}'::jsonb)),
                'a 4096-byte message with metadata is fine');

-- --- senders ----------------------------------------------------------------------------------

SELECT throws_ok(format('SELECT * FROM switchboard.publish(''chat:t10'', ''message'', ''{}'', %L)', s),
                 'SB007', NULL, 'sender ' || coalesce(to_json(left(s, 20))::text, 'NULL') || ' is SB007')
  FROM unnest(ARRAY['', repeat('x', 129), repeat(E'\u00e9', 65), E'user:\ta', E'user:\na', E'user:\u007f',
                    E'user:\u0085', NULL]) AS s;
SELECT lives_ok(format('SELECT * FROM switchboard.publish(''chat:t10-senders'', ''message'', ''{}'', %L)',
                       repeat(E'\u00e9', 64)),
                'a 128-byte sender of 64 two-byte characters is fine');

-- --- batches -----------------------------------------------------------------------------------

SELECT throws_ok(format('SELECT * FROM switchboard.publish_batch(%L)', b), code, msg, descr)
  FROM (VALUES
    ('{}', 'SB008', 'invalid parameter: events must be a JSON array', 'a batch that is not an array'),
    ('"x"', 'SB008', 'invalid parameter: events must be a JSON array', 'a batch that is a string'),
    ('[]', 'SB008', 'invalid parameter: empty batch', 'an empty batch'),
    ('[1]', 'SB004', 'event 0: invalid data: event is not a JSON object', 'an element that is not an object'),
    ('[{"type": "m", "data": {}, "sender": "u"}]', 'SB001',
     'event 0: invalid channel: missing or not a string', 'an element without channel'),
    ('[{"channel": 5, "type": "m", "data": {}, "sender": "u"}]', 'SB001',
     'event 0: invalid channel: missing or not a string', 'a numeric channel'),
    ('[{"channel": "chat:t10", "type": true, "data": {}, "sender": "u"}]', 'SB003',
     'event 0: invalid type: missing or not a string', 'a boolean type'),
    ('[{"channel": "chat:t10", "type": "m", "sender": "u"}]', 'SB004',
     'event 0: invalid data: not a JSON object', 'an element without data'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}}]', 'SB007',
     'event 0: invalid sender: missing or not a string', 'an element without sender'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": 7}]', 'SB007',
     'event 0: invalid sender: missing or not a string', 'a numeric sender'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": "u"},
       {"channel": "chat:t10", "type": "m", "data": {}, "sender": "u"},
       {"channel": "chat:t10", "type": "m", "data": {}, "sender": "u"},
       {"channel": "chat:t10", "type": "m", "data": {}, "sender": "u", "id": "x"}]', 'SB006',
     'event 3: invalid id: not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)', 'a bad id at index 3'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": "u",
        "id": "{0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11}"}]', 'SB006',
     'event 0: invalid id: not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)', 'a UUID in braces'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": "u",
        "id": "0b7c2f4e5d1a4c559a8e2f3c1d0e9b11"}]', 'SB006',
     'event 0: invalid id: not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)', 'a UUID without dashes'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": "u",
        "id": "0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b1g"}]', 'SB006',
     'event 0: invalid id: not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)', 'a UUID with a non-hex digit'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": "u", "id": 12}]', 'SB006',
     'event 0: invalid id: not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)', 'a numeric id'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": "u"},
       {"channel": "nosuch:t10", "type": "m", "data": {}, "sender": "u"}]', 'SB002',
     'event 1: unknown namespace: "nosuch"', 'an unknown namespace at index 1'),
    ('[{"channel": "nosuch:t10", "type": "m", "data": {}, "sender": "u"},
       {"channel": "chat:t10", "type": "Bad", "data": {}, "sender": "u"}]', 'SB002',
     'event 0: unknown namespace: "nosuch"', 'the lowest bad index is reported')
    ,
    -- The batch is validated set-wide first; these cases are crafted so
    -- that only a check of each element on its own catches them.
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": "u",
        "id": "0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11"},
       {"channel": "chat:t10", "type": "m", "data": {}, "sender": "u",
        "id": "0b7c2f4e-5d1a-4c55-9a8e-2f,a-b-c-d-e"}]', 'SB006',
     'event 1: invalid id: not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)',
     'an id that reads as two UUID-like runs'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": "u",
        "id": "0b7c2f4e-5d1a-4c55-9a8e-2f3c-d0e9b11"}]', 'SB006',
     'event 0: invalid id: not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)', 'an id with a fifth dash'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": "u",
        "id": ["0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9"]}]', 'SB006',
     'event 0: invalid id: not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)', 'an id that is an array'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": "u"},
       {"channel": "chat:t10", "type": "a\nb", "data": {}, "sender": "u"}]', 'SB003',
     'event 1: invalid type: "a\nb"', 'a type holding a newline'),
    ('[{"channel": "chat:t10", "type": true, "data": {}, "sender": "u"}]', 'SB003',
     'event 0: invalid type: missing or not a string', 'a type that is true'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": {"a": 1}}]', 'SB007',
     'event 0: invalid sender: missing or not a string', 'a sender that is an object'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": "u"},
       {"channel": "chat:t10", "type": "m", "data": {}, "sender": "u\u0007"}]', 'SB007',
     'event 1: invalid sender: must be 1 to 128 bytes without control characters',
     'a sender with a control character'),
    ('[{"channel": "chat:t10", "type": "m", "data": [], "sender": "u"}]', 'SB004',
     'event 0: invalid data: not a JSON object', 'data that is an array'),
    ('[{"channel": "chat:t10", "type": "m", "data": {}, "sender": "u"},
       {"type": "m", "data": {}, "sender": "u"}]', 'SB001',
     'event 1: invalid channel: missing or not a string', 'a channel missing beside a good one'),
    ('[{"channel": "activity:t10", "type": "log", "data": {"level": "info", "message": "x"},
        "sender": "u"},
       {"channel": "activity:t10", "type": "log", "data": {"level": "loud", "message": "x"},
        "sender": "u"}]', 'SB004',
     'event 1: invalid data: log level must be info, success, warning or error',
     'a bad log entry in a batch')
  ) AS v(b, code, msg, descr);
SELECT throws_ok(format($$SELECT * FROM switchboard.publish_batch('[{"channel": "chat:t10", "type": "m",
                            "data": {}, "sender": "u"}, {"channel": "chat:t10", "type": "m",
                            "data": %s, "sender": "u"}]')$$, repeat('{"a":', 32) || '{}' || repeat('}', 32)),
                 'SB004', 'event 1: invalid data: nested deeper than 32 levels',
                 '33 nested objects in a batch are SB004');
SELECT lives_ok(format($$SELECT * FROM switchboard.publish_batch('[{"channel": "chat:t10-deep", "type": "m",
                           "data": %s, "sender": "u"}]')$$, repeat('{"a":', 31) || '{}' || repeat('}', 31)),
                '32 nested objects in a batch are fine');
SET LOCAL switchboard.max_data_bytes = 100;
SELECT is((SELECT count(*) FROM switchboard.publish_batch(
              jsonb_build_array(jsonb_build_object('channel', 'chat:t10-size', 'type', 'm', 'sender', 'u',
                                                   'data', (SELECT jsonb_object_agg('k' || g, g)
                                                              FROM generate_series(10, 20) AS g))))),
          1::bigint, 'data of 100 bytes compact (more as jsonb prints it) is fine in a batch');
RESET switchboard.max_data_bytes;
SELECT throws_ok($$SELECT * FROM switchboard.publish_batch((
                     SELECT jsonb_agg(jsonb_build_object('channel', 'chat:t10', 'type', 'm',
                                                         'data', '{}'::jsonb, 'sender', 'u'))
                       FROM generate_series(1, 1001)))$$,
                 'SB005', 'too large: batch of 1001 events, limit 1000', '1001 events are SB005');

-- --- and nothing was stored --------------------------------------------------------------------

DELETE FROM switchboard.events WHERE channel LIKE 'chat:t10-%' OR channel LIKE 'activity:t10%'
   OR channel = 'chat:' || repeat('n', 128) OR channel = 'chat:A-z_0.9/x';
DELETE FROM switchboard.channels WHERE name LIKE 'chat:t10-%' OR name LIKE 'activity:t10%'
   OR name = 'chat:' || repeat('n', 128) OR name = 'chat:A-z_0.9/x';
SELECT results_eq(
    $$SELECT (SELECT count(*) FROM switchboard.events), (SELECT count(*) FROM switchboard.channels)$$,
    $$SELECT events, channels FROM counts$$,
    'no failed call stored an event or created a channel');
SELECT is((SELECT seq FROM switchboard.publish('chat:t10', 'message', '{}', 'user:a')), 2::bigint,
          'after all those failures the next event on chat:t10 gets seq 2');

SELECT * FROM finish();
ROLLBACK;
