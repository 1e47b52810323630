-- 07_tokens.sql: mint_token builds HS256 JWTs that verify with the secret;
-- the secret and minting stay with the owner.
BEGIN;
SELECT plan(32);

CREATE FUNCTION pg_temp.unb64(s text) RETURNS bytea LANGUAGE sql IMMUTABLE
RETURN decode(rpad(translate(s, '-_', '+/'), (length(s) + 3) / 4 * 4, '='), 'base64');
CREATE FUNCTION pg_temp.part(token text, n int) RETURNS text LANGUAGE sql IMMUTABLE
RETURN convert_from(pg_temp.unb64(split_part(token, '.', n)), 'UTF8');
-- Does the token's signature verify with the current secret?
CREATE FUNCTION pg_temp.verifies(token text) RETURNS boolean LANGUAGE sql STABLE
RETURN hmac(convert_to(split_part(token, '.', 1) || '.' || split_part(token, '.', 2), 'UTF8'),
                   pg_temp.unb64(switchboard.token_secret()), 'sha256')
     = pg_temp.unb64(split_part(token, '.', 3));

CREATE TEMP TABLE tok AS
SELECT switchboard.mint_token('alice', 'user', '8 hours', 'chat:*', 'activity:main') AS user_token,
       switchboard.mint_token('root', 'admin', '1 hour') AS admin_token,
       switchboard.mint_token('ops', 'admin', '90 seconds', 'system:*') AS scoped_admin,
       floor(extract(epoch FROM now()))::bigint AS now_s;

SELECT matches((SELECT user_token FROM tok), '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$',
               'three base64url parts without padding; a 32-byte signature');
SELECT is(pg_temp.part((SELECT user_token FROM tok), 1), '{"alg":"HS256","typ":"JWT"}',
          'header is {"alg":"HS256","typ":"JWT"}');
SELECT is(pg_temp.part((SELECT user_token FROM tok), 2),
          '{"sub":"alice","role":"user","ch":["chat:*","activity:main"],"iat":'
          || (SELECT now_s FROM tok) || ',"exp":' || (SELECT now_s + 28800 FROM tok) || '}',
          'claims: compact {"sub","role","ch","iat","exp"}, exp = iat + ttl');
SELECT ok(pg_temp.verifies((SELECT user_token FROM tok)), 'the signature is HMAC-SHA256 with the secret');
SELECT is(pg_temp.part((SELECT admin_token FROM tok), 2),
          '{"sub":"root","role":"admin","iat":' || (SELECT now_s FROM tok)
          || ',"exp":' || (SELECT now_s + 3600 FROM tok) || '}',
          'an admin token without patterns has no ch claim');
SELECT is(pg_temp.part((SELECT scoped_admin FROM tok), 2)::jsonb -> 'ch', '["system:*"]'::jsonb,
          'an admin token with patterns carries them');
SELECT ok(pg_temp.verifies((SELECT admin_token FROM tok)), 'the admin token verifies');
SELECT is((pg_temp.part(switchboard.mint_token('bob', 'reader', '1 day 2 hours', 'chat:team-a.*'), 2)::jsonb
           ->> 'exp')::bigint - (SELECT now_s FROM tok), 93600::bigint,
          'ttl is counted in seconds');
SELECT is(pg_temp.part(switchboard.mint_token(E'\u00e9ve "q"', 'agent', '1 minute', '*'), 2)::jsonb ->> 'sub',
          E'\u00e9ve "q"', 'the subject is JSON-escaped');
SELECT ok(pg_temp.verifies(switchboard.mint_token('a', 'agent', '1 minute',
                                                  VARIADIC (SELECT array_agg('chat:c' || g) FROM generate_series(1, 64) g))),
          '64 patterns are fine');
SELECT cmp_ok(octet_length(switchboard.mint_token('a', 'agent', '1 minute',
                  VARIADIC (SELECT array_agg('chat:' || repeat('n', 127) || g % 10)
                              FROM generate_series(1, 64) g))),
              '<=', 16384, 'a token with 64 of the longest patterns fits token_max');

-- Bad arguments.
SELECT throws_ok($$SELECT switchboard.mint_token('a', 'root', '1 hour', 'chat:*')$$, 'SB008',
                 'invalid parameter: role must be reader, user, agent or admin, not "root"',
                 'an unknown role is SB008');
SELECT throws_ok($$SELECT switchboard.mint_token('a', 'user', '0 seconds', 'chat:*')$$, 'SB008', NULL,
                 'ttl 0 is SB008');
SELECT throws_ok($$SELECT switchboard.mint_token('a', 'user', '-1 hour', 'chat:*')$$, 'SB008', NULL,
                 'a negative ttl is SB008');
SELECT throws_ok($$SELECT switchboard.mint_token('a', 'user', '1 hour')$$, 'SB008',
                 'invalid parameter: a user token needs at least one channel pattern',
                 'a non-admin token without patterns is SB008');
SELECT throws_ok($$SELECT switchboard.mint_token('a', 'user', '1 hour', 'chat:a*b')$$, 'SB001',
                 'invalid channel: pattern "chat:a*b"', 'a * inside a pattern is SB001');
SELECT throws_ok($$SELECT switchboard.mint_token('a', 'user', '1 hour', 'Chat:*')$$, 'SB001', NULL,
                 'a bad namespace in a pattern is SB001');
SELECT throws_ok($$SELECT switchboard.mint_token('', 'user', '1 hour', 'chat:*')$$, 'SB008', NULL,
                 'an empty subject is SB008');
SELECT lives_ok($$SELECT switchboard.mint_token(repeat('s', 121), 'reader', '1 hour', 'chat:*')$$,
                'a 121-byte subject is accepted (reader:<sub> fits a 128-byte sender)');
SELECT throws_ok($$SELECT switchboard.mint_token(repeat('s', 122), 'reader', '1 hour', 'chat:*')$$,
                 'SB008', 'invalid parameter: subject must be 1 to 121 bytes without control characters',
                 'a 122-byte subject is SB008');
SELECT throws_ok($$SELECT switchboard.mint_token('a', 'user', '1 hour',
                       VARIADIC (SELECT array_agg('chat:c' || g) FROM generate_series(1, 65) g))$$,
                 'SB008', 'invalid parameter: 65 channel patterns, limit 64', '65 patterns is SB008');

-- The pattern grammar, as lib/channel.c has it.
SELECT results_eq(
    $$SELECT p, switchboard.pattern_valid(p) FROM unnest(ARRAY[
        '*', 'c*', 'chat*', 'chat:*', 'chat:team-a.*', 'chat:agent-42', 'chat:a/b*',
        'chat:**', 'chat', '*chat', 'chat:.a*', 'Chat:*', ':*', 'chat:a b*',
        repeat('a', 32) || '*', repeat('a', 33) || '*',
        'chat:' || repeat('n', 128) || '*', 'chat:' || repeat('n', 129) || '*']) WITH ORDINALITY AS u(p, o)
       ORDER BY o$$,
    $$VALUES ('*', true), ('c*', true), ('chat*', true), ('chat:*', true), ('chat:team-a.*', true),
             ('chat:agent-42', true), ('chat:a/b*', true), ('chat:**', false), ('chat', false),
             ('*chat', false), ('chat:.a*', false), ('Chat:*', false), (':*', false),
             ('chat:a b*', false), (repeat('a', 32) || '*', true), (repeat('a', 33) || '*', false),
             ('chat:' || repeat('n', 128) || '*', true), ('chat:' || repeat('n', 129) || '*', false)$$,
    'pattern_valid accepts channels and prefixes ending in *');

-- The secret.
SELECT is(octet_length(pg_temp.unb64(switchboard.token_secret())), 32, 'the secret is 32 bytes');
SELECT matches(switchboard.token_secret(), '^[A-Za-z0-9_-]{43}$', 'token_secret() is base64url');
CREATE TEMP TABLE old_secret AS SELECT switchboard.token_secret() AS s;
SELECT lives_ok('SELECT switchboard.rotate_token_secret()', 'rotate_token_secret');
SELECT isnt(switchboard.token_secret(), (SELECT s FROM old_secret), 'the secret changed');
SELECT ok(NOT pg_temp.verifies((SELECT user_token FROM tok)), 'old tokens no longer verify');
SELECT ok(pg_temp.verifies(switchboard.mint_token('alice', 'user', '1 hour', 'chat:*')),
          'new tokens verify with the new secret');

-- Owner only.
SELECT throws_ok($$SET LOCAL ROLE switchboard_app; SELECT switchboard.token_secret()$$, '42501', NULL,
                 'app cannot read the secret');
SELECT throws_ok($$SET LOCAL ROLE switchboard_app; SELECT switchboard.rotate_token_secret()$$, '42501', NULL,
                 'app cannot rotate the secret');
SELECT throws_ok($$SET LOCAL ROLE switchboard_reader; SELECT switchboard.mint_token('x', 'admin', '1 hour')$$,
                 '42501', NULL, 'reader cannot mint');
SELECT lives_ok($$SET LOCAL ROLE switchboard_owner; SELECT switchboard.mint_token('x', 'admin', '1 hour');
                  RESET ROLE$$,
                'switchboard_owner can mint');

SELECT * FROM finish();
ROLLBACK;
