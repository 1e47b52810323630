-- 15_audit_records.sql: audit records written as a set.
BEGIN;
SELECT plan(12);

DELETE FROM switchboard.audit;

SELECT has_function('switchboard', 'audit_records', ARRAY['jsonb'], 'audit_records(jsonb) exists');
SELECT is_definer('switchboard', 'audit_records', ARRAY['jsonb'], 'audit_records is SECURITY DEFINER');

SELECT is(switchboard.audit_records($$[
    {"kind": "connect", "node": "wsd@t15", "subject": "user:alice", "remote": "10.0.0.1"},
    {"kind": "auth_failure", "node": "wsd@t15", "remote": "10.0.0.2", "detail": {"reason": "expired"}},
    {"kind": "disconnect", "node": "wsd@t15", "subject": "user:alice", "channel": "chat:t15",
     "remote": "10.0.0.1", "detail": null}]$$), 3::bigint,
    'audit_records stores every record and says how many');
SELECT results_eq(
    $$SELECT kind, node, subject, channel, remote, detail FROM switchboard.audit
       WHERE node = 'wsd@t15' ORDER BY id$$,
    $$VALUES ('connect', 'wsd@t15', 'user:alice', NULL, '10.0.0.1', '{}'::jsonb),
             ('auth_failure', 'wsd@t15', NULL, NULL, '10.0.0.2', '{"reason": "expired"}'),
             ('disconnect', 'wsd@t15', 'user:alice', 'chat:t15', '10.0.0.1', '{}')$$,
    'in array order, with absent and null detail stored as {}');
SELECT is(switchboard.audit_records('[]'), 0::bigint, 'an empty array stores nothing');

SELECT is(switchboard.audit_records(jsonb_build_array(jsonb_build_object(
              'kind', 'connect', 'node', repeat('n', 300), 'subject', repeat('s', 300),
              'channel', repeat('c', 300), 'remote', repeat('r', 300)))), 1::bigint,
          'long texts are accepted');
SELECT results_eq(
    $$SELECT length(node), length(subject), length(channel), length(remote)
        FROM switchboard.audit WHERE node LIKE 'nnn%'$$,
    $$VALUES (128, 256, 256, 256)$$,
    'and cut as audit_record() cuts them');

DELETE FROM switchboard.audit;
SELECT throws_ok($$SELECT switchboard.audit_records('{"kind": "connect"}')$$, 'SB004',
                 'invalid data: audit records must be a JSON array', 'an object is SB004');
SELECT throws_ok($$SELECT switchboard.audit_records('[{"kind": "connect"}, {"kind": "login"}]')$$,
                 'SB008',
                 'invalid parameter: audit record 1: kind must be connect, disconnect, '
                 'auth_failure or publish, not "login"',
                 'an unknown kind is SB008 and names the record');
SELECT throws_ok($$SELECT switchboard.audit_records('[{"kind": "connect", "detail": [1]}]')$$,
                 'SB004', 'invalid data: audit record 0: detail must be a JSON object',
                 'a detail that is not an object is SB004');
SELECT is_empty($$SELECT 1 FROM switchboard.audit$$, 'a refused array stores nothing');
SELECT lives_ok($$SET LOCAL ROLE switchboard_app;
                  SELECT switchboard.audit_records('[{"kind": "connect", "node": "wsd@t15"}]');
                  RESET ROLE$$,
                'the app role can write audit records');

SELECT * FROM finish();
ROLLBACK;
