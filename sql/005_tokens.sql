-- 005_tokens.sql: the token secret and minting. Daemons verify HS256 JWTs
-- (lib/token.c) with the secret kept here; an operator mints tokens from
-- psql:
--   SELECT switchboard.mint_token('alice', 'user', '8 hours', 'chat:*', 'activity:main');
-- Only switchboard_owner (and superusers) can read the secret or mint.

SET LOCAL client_min_messages = warning;

-- hmac() and gen_random_bytes(). A trusted extension: the migrating role
-- can create it. If it is already installed in another schema, that schema
-- is used (see the search_path below).
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;

SET LOCAL ROLE switchboard_owner;
DO $path$
DECLARE
    schema_name name;
BEGIN
    SELECT n.nspname INTO schema_name
      FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
     WHERE x.extname = 'pgcrypto';
    PERFORM set_config('search_path',
        CASE WHEN schema_name = 'switchboard' THEN 'switchboard, pg_temp'
             ELSE format('switchboard, %I, pg_temp', schema_name) END, true);
END
$path$;

CREATE TABLE secrets (
    name       text PRIMARY KEY,
    value      bytea NOT NULL CONSTRAINT secrets_value_length CHECK (octet_length(value) >= 32),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE secrets IS
    'Secret keys, readable by switchboard_owner only. Row "token" is the HS256 key of '
    'client tokens (32 random bytes); give it to the daemons as token_secret() prints it.';
COMMENT ON COLUMN secrets.value IS 'The raw key bytes.';
COMMENT ON COLUMN secrets.updated_at IS 'When the key was generated (rotate_token_secret()).';

INSERT INTO secrets (name, value) VALUES ('token', gen_random_bytes(32));

CREATE FUNCTION pattern_valid(pattern text) RETURNS boolean
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN channel_valid(pattern)
    OR (right(pattern, 1) = '*'
        AND (pattern = '*'
             OR (left(pattern, -1) ~ '^[a-z][a-z0-9_]*$' AND octet_length(pattern) <= 33)
             OR (left(pattern, -1) ~ '^[a-z][a-z0-9_]*:([A-Za-z0-9_][A-Za-z0-9_./-]*)?$'
                 AND strpos(pattern, ':') <= 33
                 AND octet_length(pattern) - 1 - strpos(pattern, ':') <= 128)));
COMMENT ON FUNCTION pattern_valid(text) IS
    'True when pattern is a channel, or the start of one followed by a final * '
    '(chat:*, chat:team-a.*, *), as lib/channel.c accepts.';

CREATE FUNCTION mint_token(subject text, role text, ttl interval,
                           VARIADIC channels text[] DEFAULT '{}') RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
AS $$
DECLARE
    -- base64url of {"alg":"HS256","typ":"JWT"}
    header constant text := 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9';
    patterns text[] := coalesce(mint_token.channels, '{}');
    issued bigint := floor(extract(epoch FROM now()))::bigint;
    expires bigint;
    bad text;
    claims text;
    signing_input text;
    key bytea;
    token text;
BEGIN
    IF mint_token.subject IS NULL OR NOT sender_valid(mint_token.subject)
       OR octet_length(mint_token.subject) > 121 THEN
        RAISE EXCEPTION 'invalid parameter: subject must be 1 to 121 bytes without control characters'
            USING ERRCODE = 'SB008';
    END IF;
    IF mint_token.role IS NULL OR mint_token.role NOT IN ('reader', 'user', 'agent', 'admin') THEN
        RAISE EXCEPTION 'invalid parameter: role must be reader, user, agent or admin, not %',
            coalesce(to_json(mint_token.role)::text, 'null') USING ERRCODE = 'SB008';
    END IF;
    IF mint_token.ttl IS NULL OR mint_token.ttl <= interval '0' THEN
        RAISE EXCEPTION 'invalid parameter: ttl must be positive, not %',
            coalesce(mint_token.ttl::text, 'null') USING ERRCODE = 'SB008';
    END IF;
    IF cardinality(patterns) > 64 THEN
        RAISE EXCEPTION 'invalid parameter: % channel patterns, limit 64', cardinality(patterns)
            USING ERRCODE = 'SB008';
    END IF;
    SELECT coalesce(to_json(left(p.v, 170))::text, 'null') INTO bad
      FROM unnest(patterns) AS p(v)
     WHERE p.v IS NULL OR NOT pattern_valid(p.v)
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'invalid channel: pattern %', bad USING ERRCODE = 'SB001',
            HINT = 'A pattern is a channel, or the start of one followed by *: chat:*, chat:team-a.*, *.';
    END IF;
    IF cardinality(patterns) = 0 AND mint_token.role <> 'admin' THEN
        RAISE EXCEPTION 'invalid parameter: a % token needs at least one channel pattern',
            mint_token.role USING ERRCODE = 'SB008';
    END IF;

    expires := issued + ceil(extract(epoch FROM mint_token.ttl))::bigint;
    claims := '{"sub":' || to_json(mint_token.subject)::text
        || ',"role":' || to_json(mint_token.role)::text
        || CASE WHEN cardinality(patterns) > 0 THEN
               ',"ch":[' || (SELECT string_agg(to_json(p.v)::text, ',' ORDER BY p.o)
                               FROM unnest(patterns) WITH ORDINALITY AS p(v, o)) || ']'
           ELSE '' END
        || ',"iat":' || issued || ',"exp":' || expires || '}';
    signing_input := header || '.' || base64url(convert_to(claims, 'UTF8'));

    SELECT s.value INTO key FROM secrets s WHERE s.name = 'token';
    IF key IS NULL THEN
        RAISE EXCEPTION 'no token secret: run switchboard.rotate_token_secret()';
    END IF;
    token := signing_input || '.'
        || base64url(hmac(convert_to(signing_input, 'UTF8'), key, 'sha256'));
    IF octet_length(token) > 16384 THEN
        RAISE EXCEPTION 'too large: token of % bytes, limit 16384', octet_length(token)
            USING ERRCODE = 'SB005';
    END IF;
    RETURN token;
END
$$;
COMMENT ON FUNCTION mint_token(text, text, interval, text[]) IS
    'A signed HS256 JWT: header {"alg":"HS256","typ":"JWT"}, claims {"sub","role","ch",'
    '"iat","exp"} (ch omitted for an admin token without patterns, which then covers '
    'every channel). role: reader, user, agent or admin; ttl > 0; up to 64 channel '
    'patterns (a channel, or a prefix ending in *). Owner only. '
    'Errors: SB001 (pattern), SB008 (subject, role, ttl, pattern count), SB005.';

CREATE FUNCTION token_secret() RETURNS text
    STABLE LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT
BEGIN ATOMIC
    SELECT base64url(s.value) FROM secrets s WHERE s.name = 'token';
END;
COMMENT ON FUNCTION token_secret() IS
    'The token secret as base64url text, the form the daemons take (token_secret or '
    'token_secret_file). Owner only.';

CREATE FUNCTION rotate_token_secret() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
AS $$
BEGIN
    INSERT INTO secrets AS s (name, value) VALUES ('token', gen_random_bytes(32))
    ON CONFLICT ON CONSTRAINT secrets_pkey
    DO UPDATE SET value = EXCLUDED.value, updated_at = now();
END
$$;
COMMENT ON FUNCTION rotate_token_secret() IS
    'Replaces the token secret with 32 new random bytes: every token minted before '
    'stops verifying once the daemons load the new secret. Owner only.';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA switchboard FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA switchboard FROM PUBLIC;
-- Nothing here is granted: secrets, mint_token, token_secret and
-- rotate_token_secret stay with switchboard_owner.
