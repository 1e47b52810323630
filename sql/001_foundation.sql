-- 001_foundation.sql: roles, the switchboard schema, namespaces, channels and
-- durable events, and the functions that publish, signal and read them.
--
-- switchboard-migrate runs this file inside one transaction and records it in
-- switchboard.schema_migrations; the file holds no BEGIN or COMMIT itself.
--
-- The seq invariant. Every durable event gets the next value of its channel's
-- counter row (channels.last_seq). The row is locked and updated in the
-- inserting transaction, so seqs are gapless (a rolled-back transaction
-- rolls back its increment too) and in commit order (the next writer of the
-- channel waits for the lock, i.e. for the commit). Several channels are
-- always locked in channel-name order, so two writers cannot deadlock. The
-- idempotency check (channel, id) runs only after the lock is held: a
-- concurrent publish of the same id waits, then finds the first one's row
-- and returns its seq with duplicate = true.
--
-- Limits below are the values of lib/limits.h; switchboard.limits() lists
-- them and tests/db/lib_vs_sql.c compares both sides.

SET LOCAL client_min_messages = warning;

-- Roles are cluster-wide: another database of the cluster may have created
-- them already, or a runner migrating that database may be creating them
-- right now (then our CREATE ROLE fails and we go on).
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['switchboard_owner', 'switchboard_app',
                             'switchboard_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
    -- Whoever migrates must be able to act as the owner.
    IF NOT pg_has_role(session_user, 'switchboard_owner', 'MEMBER') THEN
        EXECUTE format('GRANT switchboard_owner TO %I', session_user);
    END IF;
END
$roles$;

CREATE SCHEMA switchboard AUTHORIZATION switchboard_owner;

-- Everything below is created by, and so owned by, switchboard_owner.
SET LOCAL ROLE switchboard_owner;
SET LOCAL search_path = switchboard, pg_temp;

COMMENT ON SCHEMA switchboard IS
    'switchboard: durable events per channel (gapless seq), ephemeral signals, '
    'activity log, workflow tasks, nodes and presence, tokens. '
    'Publish with switchboard.publish(), read with events_after()/events_before(), '
    'watch with LISTEN switchboard (doorbell) and LISTEN switchboard_signal.';

-- Functions are for nobody unless granted (a per-schema default cannot
-- take away PUBLIC's EXECUTE, so this is per role).
ALTER DEFAULT PRIVILEGES FOR ROLE switchboard_owner
    REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- --- migrations ------------------------------------------------------------

CREATE TABLE schema_migrations (
    version    text PRIMARY KEY CHECK (version ~ '^[0-9]{3}$'),
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE schema_migrations IS
    'One row per applied sql/NNN_name.sql file, written by switchboard-migrate.';
COMMENT ON COLUMN schema_migrations.version IS 'The NNN of the file name.';
COMMENT ON COLUMN schema_migrations.name IS 'The file name without NNN_ and .sql.';
COMMENT ON COLUMN schema_migrations.applied_at IS 'Commit time of the migration.';

-- --- limits and grammar ------------------------------------------------------
-- The grammar regexes use unbounded repetition plus length checks: bounded
-- repetition ({0,127}) makes PostgreSQL's regex engine several times slower,
-- and these run for every published event.

CREATE FUNCTION limits() RETURNS TABLE (name text, value bigint)
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
BEGIN ATOMIC
    SELECT v.name, v.value FROM (VALUES
        ('namespace_max', 32::bigint),
        ('channel_name_max', 128),
        ('channel_max', 161),
        ('type_max', 64),
        ('sender_max', 128),
        ('subject_max', 121),
        ('data_max_default', 65536),
        ('data_max_hard', 1048576),
        ('data_depth_max', 32),
        ('log_message_max', 4096),
        ('notify_payload_max', 7999),
        ('batch_max', 1000),
        ('history_max', 1000),
        ('token_max', 16384),
        ('token_patterns_max', 64),
        ('token_leeway', 30)) AS v(name, value);
END;
COMMENT ON FUNCTION limits() IS
    'The named limits shared with the C library (lib/limits.h without the SB_ '
    'prefix, in lower case). The functions of this schema enforce these values.';

CREATE FUNCTION max_data_bytes() RETURNS integer
    STABLE PARALLEL SAFE LANGUAGE sql
RETURN CASE
    WHEN current_setting('switchboard.max_data_bytes', true) ~ '^[0-9]{1,9}$'
    THEN least(greatest(current_setting('switchboard.max_data_bytes', true)::integer,
                        2), 1048576)
    ELSE 65536
END;
COMMENT ON FUNCTION max_data_bytes() IS
    'Largest event data accepted, in bytes of compact JSON: the setting '
    'switchboard.max_data_bytes (ALTER DATABASE ... SET switchboard.max_data_bytes = n) '
    'clamped to data_max_hard, else data_max_default.';

CREATE FUNCTION namespace_valid(name text) RETURNS boolean
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN name ~ '^[a-z][a-z0-9_]*$' AND octet_length(name) <= 32;
COMMENT ON FUNCTION namespace_valid(text) IS
    'True when name matches the namespace grammar ^[a-z][a-z0-9_]{0,31}$.';

CREATE FUNCTION channel_valid(channel text) RETURNS boolean
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN channel ~ '^[a-z][a-z0-9_]*:[A-Za-z0-9_][A-Za-z0-9_./-]*$'
   AND strpos(channel, ':') <= 33
   AND octet_length(channel) - strpos(channel, ':') <= 128;
COMMENT ON FUNCTION channel_valid(text) IS
    'True when channel is namespace:name, name ^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,127}$ '
    '(at most 161 bytes in all).';

CREATE FUNCTION type_valid(type text) RETURNS boolean
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN octet_length(type) <= 64
   AND type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'
   AND (octet_length(type) <= 32 OR type !~ '[^.]{33}');
COMMENT ON FUNCTION type_valid(text) IS
    'True when type is dotted lower-case identifiers of at most 32 bytes each, '
    '64 bytes in all (message, tool_call, workflow.stats).';

CREATE FUNCTION sender_valid(sender text) RETURNS boolean
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN octet_length(sender) BETWEEN 1 AND 128
   AND sender !~ '[\u0001-\u001f\u007f-\u009f]';
COMMENT ON FUNCTION sender_valid(text) IS
    'True when sender is 1 to 128 bytes without control characters '
    '(U+0001..U+001F, U+007F..U+009F).';

CREATE FUNCTION uuid_text_valid(id text) RETURNS boolean
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN octet_length(id) = 36
   AND id ~ '^[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+$'
   AND strpos(id, '-') = 9 AND substr(id, 14, 1) = '-'
   AND substr(id, 19, 1) = '-' AND substr(id, 24, 1) = '-';
COMMENT ON FUNCTION uuid_text_valid(text) IS
    'True when id is a UUID in canonical text form (8-4-4-4-12 hex digits, any case).';

CREATE FUNCTION compact_length(data jsonb) RETURNS integer
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN octet_length(regexp_replace(data::text, '("(?:[^"\\]|\\.)*")|([:,]) ',
                                   '\1\2', 'g'));
COMMENT ON FUNCTION compact_length(jsonb) IS
    'Bytes of data as compact JSON (jsonb prints a space after each : and , '
    'outside strings; this drops them). The unit of max_data_bytes, as in C.';

CREATE FUNCTION log_problem(data jsonb) RETURNS text
    STABLE PARALLEL SAFE LANGUAGE sql
RETURN CASE
    WHEN jsonb_typeof(data) IS DISTINCT FROM 'object'
        THEN 'log entry must be a JSON object'
    WHEN data - ARRAY['level', 'message', 'metadata'] <> '{}'::jsonb
        THEN format('unknown key %s in log entry',
                    to_json((SELECT min(k) FROM jsonb_object_keys(
                        data - ARRAY['level', 'message', 'metadata']) AS k))::text)
    WHEN jsonb_typeof(data -> 'level') IS DISTINCT FROM 'string'
      OR data ->> 'level' NOT IN ('info', 'success', 'warning', 'error')
        THEN 'log level must be info, success, warning or error'
    WHEN NOT data ? 'message' THEN 'log entry needs a message'
    WHEN jsonb_typeof(data -> 'message') <> 'string'
        THEN 'log message must be a string'
    WHEN data ->> 'message' = '' THEN 'log message is empty'
    WHEN octet_length(data ->> 'message') > 4096
        THEN 'log message longer than 4096 bytes'
    WHEN data ? 'metadata' AND jsonb_typeof(data -> 'metadata') <> 'object'
        THEN 'log metadata must be an object'
END;
COMMENT ON FUNCTION log_problem(jsonb) IS
    'NULL when data is a valid activity log entry {"level": info|success|warning|error, '
    '"message": 1..4096 bytes, "metadata": object?} and nothing else; otherwise what is wrong.';

CREATE FUNCTION log_valid(data jsonb) RETURNS boolean
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN jsonb_typeof(data) = 'object'
   AND data - ARRAY['level', 'message', 'metadata'] = '{}'::jsonb
   AND coalesce(jsonb_typeof(data -> 'level') = 'string'
                AND data ->> 'level' IN ('info', 'success', 'warning', 'error'), false)
   AND coalesce(jsonb_typeof(data -> 'message') = 'string', false)
   AND data ->> 'message' <> ''
   AND octet_length(data ->> 'message') <= 4096
   AND coalesce(jsonb_typeof(data -> 'metadata') = 'object', true);
COMMENT ON FUNCTION log_valid(jsonb) IS
    'True exactly when log_problem(data) is NULL; a single expression, so that a '
    'query calling it has it inlined (log_problem is not).';

CREATE FUNCTION event_problem(channel text, type text, data jsonb, sender text,
                              max_bytes integer) RETURNS text
    STABLE PARALLEL SAFE LANGUAGE sql
RETURN CASE
    WHEN channel IS NULL THEN 'SB001 invalid channel: missing or not a string'
    WHEN NOT channel_valid(channel)
        THEN 'SB001 invalid channel: ' || to_json(left(channel, 170))::text
    WHEN type IS NULL THEN 'SB003 invalid type: missing or not a string'
    WHEN NOT type_valid(type)
        THEN 'SB003 invalid type: ' || to_json(left(type, 80))::text
    WHEN jsonb_typeof(data) IS DISTINCT FROM 'object'
        THEN 'SB004 invalid data: not a JSON object'
    WHEN octet_length(data::text) > max_bytes AND compact_length(data) > max_bytes
        THEN format('SB005 too large: data of %s bytes, limit %s',
                    compact_length(data), max_bytes)
    WHEN jsonb_path_exists(data, 'strict $.**{32 to last} ? (@.type() == "object" || @.type() == "array")')
        THEN 'SB004 invalid data: nested deeper than 32 levels'
    WHEN type = 'log' AND NOT log_valid(data)
        THEN 'SB004 invalid data: ' || log_problem(data)
    WHEN sender IS NULL THEN 'SB007 invalid sender: missing or not a string'
    WHEN NOT sender_valid(sender)
        THEN 'SB007 invalid sender: must be 1 to 128 bytes without control characters'
END;
COMMENT ON FUNCTION event_problem(text, text, jsonb, text, integer) IS
    'NULL when an event is valid; otherwise its first problem as "SQLSTATE message" '
    '(SB001 channel, SB003 type, SB004 data, SB005 size over max_bytes, SB007 sender). '
    'Whether the namespace exists is checked separately (SB002).';

-- Raise a problem as returned by event_problem(): "SB0xx message".
CREATE FUNCTION raise_problem(problem text, prefix text DEFAULT '') RETURNS void
    LANGUAGE plpgsql SET search_path = switchboard, pg_temp
AS $$
DECLARE
    code text := left(problem, 5);
    message text := prefix || substr(problem, 7);
    hint text := CASE code
        WHEN 'SB001' THEN 'A channel is namespace:name, namespace ^[a-z][a-z0-9_]{0,31}$, '
                          'name ^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,127}$.'
        WHEN 'SB002' THEN 'Namespaces are the rows of switchboard.namespaces.'
        WHEN 'SB003' THEN 'A type is ^[a-z][a-z0-9_]{0,31}(\.[a-z][a-z0-9_]{0,31})*$, '
                          'at most 64 bytes.'
    END;
BEGIN
    IF hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
    END IF;
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, HINT = hint;
END
$$;
COMMENT ON FUNCTION raise_problem(text, text) IS
    'Raises "SB0xx message" (see event_problem) with that SQLSTATE, prefix before the message.';

CREATE FUNCTION base64url(bytes bytea) RETURNS text
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN translate(rtrim(replace(encode(bytes, 'base64'), E'\n', ''), '='), '+/', '-_');
COMMENT ON FUNCTION base64url(bytea) IS
    'bytes as base64url without padding (RFC 4648 section 5), as in JWTs and cursors.';

-- --- namespaces, channels, events --------------------------------------------

CREATE TABLE namespaces (
    name        text PRIMARY KEY CONSTRAINT namespaces_name_valid CHECK (namespace_valid(name)),
    description text NOT NULL DEFAULT '',
    presence    boolean NOT NULL DEFAULT false,
    retention   interval CHECK (retention > interval '0'),
    max_events  bigint CHECK (max_events > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE namespaces IS
    'The channel namespaces this database accepts, with their retention policy. '
    'A channel whose namespace is not here is rejected (SB002 unknown_namespace).';
COMMENT ON COLUMN namespaces.name IS 'The part of a channel before the colon.';
COMMENT ON COLUMN namespaces.presence IS
    'When true, presence_join/presence_leave send presence.join/presence.leave signals.';
COMMENT ON COLUMN namespaces.retention IS
    'prune_events() deletes events older than this; NULL keeps them.';
COMMENT ON COLUMN namespaces.max_events IS
    'prune_events() keeps only the newest max_events per channel; NULL: no cap.';

INSERT INTO namespaces (name, description, presence, retention) VALUES
    ('chat', 'conversations between users and agents', true, interval '90 days'),
    ('activity', 'activity log entries (type log)', false, interval '30 days'),
    ('workflow', 'workflow task statistics', false, interval '30 days'),
    ('metrics', 'metric samples', false, interval '7 days'),
    ('alerts', 'alerts raised for operators', false, interval '30 days'),
    ('agent', 'agent progress, tool calls and results', false, interval '30 days'),
    ('system', 'switchboard''s own events', false, NULL);

-- The CHECK constraint on channel names spells the grammar out instead of
-- calling channel_valid(): PostgreSQL re-inlines a function called by a
-- CHECK for every statement that writes the table, and every publish
-- updates a counter row. tests/sql/01_schema.sql holds both to the same cases.
CREATE TABLE channels (
    name       text PRIMARY KEY CONSTRAINT channels_name_valid CHECK (
                   name ~ '^[a-z][a-z0-9_]*:[A-Za-z0-9_][A-Za-z0-9_./-]*$'
                   AND strpos(name, ':') <= 33
                   AND octet_length(name) - strpos(name, ':') <= 128),
    namespace  text NOT NULL REFERENCES namespaces (name),
    last_seq   bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    pruned_seq bigint NOT NULL DEFAULT 0 CHECK (pruned_seq >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT channels_namespace_matches CHECK (namespace = split_part(name, ':', 1)),
    CONSTRAINT channels_pruned_le_last CHECK (pruned_seq <= last_seq)
);
COMMENT ON TABLE channels IS
    'One counter row per channel ever published to. Never delete a row: its '
    'last_seq is what keeps seqs from restarting (a row whose channel still has '
    'events cannot be deleted or renamed).';
COMMENT ON COLUMN channels.last_seq IS
    'Seq of the channel''s newest durable event; locked and incremented by the '
    'publishing transaction (gapless, in commit order).';
COMMENT ON COLUMN channels.pruned_seq IS
    'Events with seq <= pruned_seq were deleted by retention; the oldest kept is pruned_seq + 1.';
COMMENT ON COLUMN channels.updated_at IS 'Time of the newest publish.';

-- events has no foreign key to channels and no CHECK on type, sender and
-- log entries. The key's check ran a query and locked the counter row for
-- every event: about 6 us of CPU per event of a batch. A CHECK is parsed
-- again for every statement that writes the table, the functions it calls
-- inlined again, and then run row by row: about 230 us per statement for
-- type_valid(), sender_valid() and log_problem(), and still about 50 us with
-- the expressions written out, plus about 1 us per event. The publish
-- functions validate every event and create and lock the counter row before
-- they insert, so both hold by construction; events_check() keeps them for
-- anything else (an owner's plain INSERT or UPDATE), once per statement and
-- set-wide: about 60 us per statement and well under 1 us per event.
CREATE TABLE events (
    channel    text NOT NULL,
    seq        bigint NOT NULL CHECK (seq > 0),
    id         uuid NOT NULL,
    type       text NOT NULL,
    sender     text NOT NULL,
    data       jsonb NOT NULL CONSTRAINT events_data_object CHECK (jsonb_typeof(data) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, seq),
    CONSTRAINT events_channel_id_key UNIQUE (channel, id)
);
COMMENT ON TABLE events IS
    'Durable events. The primary key (channel, seq) serves events_after() and '
    'events_before() as index range scans; (channel, id) makes publishing idempotent. '
    'Write through publish()/publish_batch() only: they assign seq. Every event''s '
    'channel has a counter row at or above its seq, and its type, sender and log '
    'entry are well formed (checked per statement by events_check()).';
COMMENT ON COLUMN events.seq IS 'Per-channel sequence number: 1, 2, 3, ... without gaps.';
COMMENT ON COLUMN events.id IS
    'Client-chosen or generated UUID; publishing the same id again returns the original seq.';
COMMENT ON COLUMN events.type IS 'Event type, e.g. message, tool_call, workflow.stats, log.';
COMMENT ON COLUMN events.sender IS 'Who published: <role>:<subject> as set by the server.';
COMMENT ON COLUMN events.data IS 'The payload: always a JSON object.';
COMMENT ON COLUMN events.created_at IS 'Time of the publishing transaction; printed as "time".';

-- What a foreign key events.channel -> channels and CHECKs on type, sender
-- and log entries would hold, kept by triggers: every event's channel has a
-- counter row at or above the event's seq (which a foreign key would not
-- check), its type, sender and log entry are well formed (check_violation
-- otherwise, as type_valid(), sender_valid() and log_valid() say), and a
-- counter row whose channel has events is neither deleted nor renamed
-- (foreign_key_violation). The events side runs once per statement over the
-- statement's new rows, with one regular expression per field for all of
-- them; publish_batch's insert and counter update are one statement, so it
-- sees the counters moved.
CREATE FUNCTION events_check() RETURNS trigger
    LANGUAGE plpgsql SET search_path = switchboard, pg_temp
AS $$
DECLARE
    good boolean;
    missing text;
    bad record;
BEGIN
    SELECT (SELECT bool_and(coalesce(
                            octet_length(n.type) <= 64
                            AND (octet_length(n.type) <= 32 OR n.type !~ '[^.]{33}')
                            AND strpos(n.type, E'\n') = 0
                            AND octet_length(n.sender) BETWEEN 1 AND 128
                            AND (n.type <> 'log' OR log_valid(n.data)), false))
                   -- type_valid()'s grammar, one type per line (none holds a newline)
                   AND string_agg(n.type, E'\n')
                       ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\n[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*)*$'
                   AND string_agg(n.sender, '') !~ '[\u0001-\u001f\u007f-\u009f]'
              FROM new_rows n),
           (SELECT r.channel
              FROM (SELECT n.channel, max(n.seq) AS seq FROM new_rows n GROUP BY n.channel) AS r
              LEFT JOIN channels c ON c.name = r.channel
             WHERE c.name IS NULL OR c.last_seq < r.seq
             LIMIT 1)
      INTO good, missing;
    IF good IS NOT TRUE THEN
        SELECT n.channel, n.seq,
               CASE WHEN NOT type_valid(n.type) THEN 'type'
                    WHEN NOT sender_valid(n.sender) THEN 'sender'
                    ELSE 'log entry' END AS what
          INTO bad
          FROM new_rows n
         WHERE NOT (type_valid(n.type) AND sender_valid(n.sender)
                    AND (n.type <> 'log' OR log_valid(n.data)))
         ORDER BY n.channel, n.seq
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION '% on table "events": malformed % in channel % seq %',
                lower(TG_OP), bad.what, to_json(bad.channel)::text, bad.seq
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF missing IS NOT NULL THEN
        SELECT max(n.seq) AS seq,
               (SELECT c.last_seq FROM channels c WHERE c.name = missing) AS last_seq
          INTO bad
          FROM new_rows n WHERE n.channel = missing;
        RAISE EXCEPTION '% on table "events": channel % %', lower(TG_OP), to_json(missing)::text,
            CASE WHEN bad.last_seq IS NULL THEN 'has no counter row in channels'
                 ELSE format('has last_seq %s, below seq %s', bad.last_seq, bad.seq) END
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Store events with switchboard.publish() or publish_batch(): '
                         'they assign seq and move the counter row.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION events_check() IS
    'Statement trigger on events: raises check_violation unless every new row has a valid '
    'type, sender and (type log) log entry, and foreign_key_violation unless every new '
    'row''s channel has a counter row with last_seq >= its seq.';

CREATE TRIGGER events_check_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION events_check();
CREATE TRIGGER events_check_update AFTER UPDATE ON events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION events_check();

CREATE FUNCTION channels_keep_events() RETURNS trigger
    LANGUAGE plpgsql SET search_path = switchboard, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM events) THEN
            RAISE EXCEPTION 'cannot truncate channels while events has rows'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END IF;
    IF (TG_OP = 'DELETE' OR NEW.name IS DISTINCT FROM OLD.name)
       AND EXISTS (SELECT 1 FROM events e WHERE e.channel = OLD.name) THEN
        RAISE EXCEPTION '% on table "channels": channel % still has events', lower(TG_OP),
            to_json(OLD.name)::text
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION channels_keep_events() IS
    'Trigger on channels: raises foreign_key_violation when a counter row whose channel '
    'has events would be deleted, renamed or truncated.';

CREATE TRIGGER channels_keep_events BEFORE DELETE OR UPDATE OF name ON channels
    FOR EACH ROW EXECUTE FUNCTION channels_keep_events();
CREATE TRIGGER channels_keep_events_truncate BEFORE TRUNCATE ON channels
    FOR EACH STATEMENT EXECUTE FUNCTION channels_keep_events();

-- --- the event shape ------------------------------------------------------------

CREATE FUNCTION time_text(t timestamptz) RETURNS text
    STABLE PARALLEL SAFE LANGUAGE sql
RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
COMMENT ON FUNCTION time_text(timestamptz) IS
    'A time as the event shape prints it: UTC, RFC 3339, 6 fractional digits, Z.';

CREATE FUNCTION event_json(channel text, seq bigint, id uuid, type text, sender text,
                           created_at timestamptz, data jsonb) RETURNS text
    STABLE PARALLEL SAFE LANGUAGE sql
RETURN '{"channel":' || to_json(channel)::text
    || ',"seq":' || coalesce(seq::text, 'null')
    || ',"id":"' || id::text
    || '","type":' || to_json(type)::text
    || ',"sender":' || to_json(sender)::text
    || ',"time":"' || time_text(created_at)
    || '","data":' || data::text || '}';
COMMENT ON FUNCTION event_json(text, bigint, uuid, text, text, timestamptz, jsonb) IS
    'The one event shape: {"channel","seq","id","type","sender","time","data"} in that '
    'order, compact; seq null for signals; data as jsonb prints it.';

-- --- publishing ---------------------------------------------------------------

CREATE TYPE publish_result AS (seq bigint, id uuid, duplicate boolean);
COMMENT ON TYPE publish_result IS 'What publish() returns for its event.';

-- SB001 for a bad channel, SB002 when its namespace does not exist.
CREATE FUNCTION check_channel(channel text) RETURNS void
    STABLE LANGUAGE plpgsql SET search_path = switchboard, pg_temp
AS $$
BEGIN
    IF channel IS NULL OR NOT channel_valid(channel) THEN
        PERFORM raise_problem('SB001 invalid channel: '
                              || coalesce(to_json(left(channel, 170))::text, 'null'));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM namespaces n WHERE n.name = split_part(channel, ':', 1)) THEN
        PERFORM raise_problem('SB002 unknown namespace: '
                              || to_json(split_part(channel, ':', 1))::text);
    END IF;
END
$$;
COMMENT ON FUNCTION check_channel(text) IS
    'Raises SB001 when channel breaks the grammar, SB002 when its namespace is unknown.';

-- Create the missing counter rows, then lock all of them in name order.
CREATE FUNCTION lock_channels(names text[]) RETURNS bigint[]
    LANGUAGE plpgsql SET search_path = switchboard, pg_temp
AS $$
DECLARE
    lasts bigint[];
    missing text;
BEGIN
    -- In name order too: a concurrent insert of the same name waits for us
    -- (or we for it), like a row lock.
    INSERT INTO channels (name, namespace)
    SELECT s.n, split_part(s.n, ':', 1)
      FROM (SELECT DISTINCT u.n FROM unnest(names) AS u(n)) AS s
     WHERE NOT EXISTS (SELECT 1 FROM channels c WHERE c.name = s.n)
       AND EXISTS (SELECT 1 FROM namespaces ns WHERE ns.name = split_part(s.n, ':', 1))
     ORDER BY s.n
    ON CONFLICT (name) DO NOTHING;

    -- A new statement, so a new snapshot: rows inserted concurrently and
    -- committed while we waited are visible here. LockRows sits above the
    -- Sort, so the rows are locked in name order; a row updated by the
    -- transaction we waited for is returned as it committed, so last_seq is
    -- the current value (and stays it while we hold the lock).
    WITH locked AS MATERIALIZED (
        SELECT c.name, c.last_seq FROM channels c WHERE c.name = ANY (names)
         ORDER BY c.name FOR UPDATE)
    SELECT array_agg(l.last_seq ORDER BY u.i)
      INTO lasts
      FROM unnest(names) WITH ORDINALITY AS u(n, i) LEFT JOIN locked l ON l.name = u.n;
    IF array_position(lasts, NULL) IS NOT NULL THEN
        missing := names[array_position(lasts, NULL)];
        PERFORM check_channel(missing);
    END IF;
    RETURN lasts;
END
$$;
COMMENT ON FUNCTION lock_channels(text[]) IS
    'Creates the counter rows of channels not yet used (their namespace must exist, '
    'else SB002), locks all the given channels FOR UPDATE in channel-name order and '
    'returns their last_seq, element by element as in names.';

-- Send the doorbell: fragments are "\"channel\":seq", in channel order; each
-- NOTIFY payload stays within notify_payload_max (7999 bytes).
CREATE FUNCTION ring(fragments text[]) RETURNS void
    LANGUAGE plpgsql SET search_path = switchboard, pg_temp
AS $$
DECLARE
    f text;
    payload text := '';
BEGIN
    FOREACH f IN ARRAY coalesce(fragments, '{}') LOOP
        IF payload <> '' AND octet_length(payload) + octet_length(f) + 3 > 7999 THEN
            PERFORM pg_notify('switchboard', '{' || payload || '}');
            payload := '';
        END IF;
        payload := CASE WHEN payload = '' THEN f ELSE payload || ',' || f END;
    END LOOP;
    IF payload <> '' THEN
        PERFORM pg_notify('switchboard', '{' || payload || '}');
    END IF;
END
$$;
COMMENT ON FUNCTION ring(text[]) IS
    'NOTIFY switchboard with {"channel":last_seq,...}, split only when the payload '
    'would exceed 7999 bytes. Listeners then read the events with events_after().';

CREATE FUNCTION publish(channel text, type text, data jsonb, sender text,
                        id uuid DEFAULT NULL)
    RETURNS SETOF publish_result
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    problem text;
    new_id uuid;
    found_seq bigint;
    new_seq bigint;
BEGIN
    problem := event_problem(publish.channel, publish.type, publish.data,
                             publish.sender, max_data_bytes());
    IF problem IS NOT NULL THEN
        PERFORM raise_problem(problem);
    END IF;
    new_seq := (lock_channels(ARRAY[publish.channel]))[1] + 1;

    -- Only now, with the counter row locked: a concurrent publish of the
    -- same id has committed (we see its row) or rolled back.
    IF publish.id IS NOT NULL THEN
        SELECT e.seq INTO found_seq FROM events e
         WHERE e.channel = publish.channel AND e.id = publish.id;
        IF found THEN
            RETURN NEXT ROW(found_seq, publish.id, true)::publish_result;
            RETURN;
        END IF;
    END IF;

    new_id := coalesce(publish.id, gen_random_uuid());
    UPDATE channels c SET last_seq = new_seq, updated_at = now()
     WHERE c.name = publish.channel;
    INSERT INTO events (channel, seq, id, type, sender, data)
    VALUES (publish.channel, new_seq, new_id, publish.type, publish.sender, publish.data);
    PERFORM ring(ARRAY[to_json(publish.channel)::text || ':' || new_seq]);
    RETURN NEXT ROW(new_seq, new_id, false)::publish_result;
END
$$;
COMMENT ON FUNCTION publish(text, text, jsonb, text, uuid) IS
    'Stores one durable event and returns (seq, id, duplicate). The channel row is '
    'created on first use when its namespace exists. An id already stored on the '
    'channel returns the original seq with duplicate = true and stores nothing. '
    'Rings the doorbell (NOTIFY switchboard) once. Errors: SB001..SB005, SB007.';

-- The first bad element of a publish_batch() input, checked element by
-- element as publish() checks one event. publish_batch() calls it only when
-- its set-wide checks found something, so it is the one place that words the
-- error (and decides a case the set-wide checks merely suspected).
CREATE FUNCTION batch_problem(events jsonb, max_bytes integer)
    RETURNS TABLE (ord integer, problem text)
    STABLE PARALLEL SAFE LANGUAGE sql
BEGIN ATOMIC
    SELECT p.ord, p.problem
      FROM (
        SELECT q.ord,
               CASE
                 WHEN jsonb_typeof(q.e) <> 'object'
                     THEN 'SB004 invalid data: event is not a JSON object'
                 ELSE coalesce(
                     event_problem(q.channel, q.type, q.data, q.sender, max_bytes),
                     CASE WHEN jsonb_typeof(q.e -> 'id') <> 'null'
                           AND NOT coalesce(uuid_text_valid(q.id_text), false)
                          THEN 'SB006 invalid id: not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)'
                     END,
                     CASE WHEN NOT EXISTS (SELECT 1 FROM namespaces ns
                                            WHERE ns.name = split_part(q.channel, ':', 1))
                          THEN 'SB002 unknown namespace: '
                               || to_json(split_part(q.channel, ':', 1))::text
                     END)
               END AS problem
          FROM (
            SELECT (t.o - 1)::integer AS ord, t.e,
                   CASE WHEN jsonb_typeof(t.e -> 'channel') = 'string' THEN t.e ->> 'channel' END AS channel,
                   CASE WHEN jsonb_typeof(t.e -> 'type') = 'string' THEN t.e ->> 'type' END AS type,
                   t.e -> 'data' AS data,
                   CASE WHEN jsonb_typeof(t.e -> 'sender') = 'string' THEN t.e ->> 'sender' END AS sender,
                   CASE WHEN jsonb_typeof(t.e -> 'id') = 'string' THEN t.e ->> 'id' END AS id_text
              FROM jsonb_array_elements(batch_problem.events) WITH ORDINALITY AS t(e, o)
          ) AS q
        OFFSET 0  -- keeps p from being flattened: problem is computed once per element
      ) AS p
     WHERE p.problem IS NOT NULL
     ORDER BY p.ord
     LIMIT 1;
END;
COMMENT ON FUNCTION batch_problem(jsonb, integer) IS
    'The lowest index of a publish_batch() input whose element is invalid, with its problem '
    'as "SQLSTATE message" (as event_problem, plus SB006 id and SB002 namespace); no row '
    'when every element is valid.';

-- publish_batch() does all it can before taking the counter locks, because
-- batches over the same channels queue for those locks until they commit:
-- one statement parses and validates the whole input and leaves it in arrays,
-- in (channel, input) order, with each element's place among its channel's
-- new events. Under the locks it looks the given ids up, stores the events
-- and moves the counters in one statement, rings the doorbell and returns.
-- A batch with an id stored before or repeated in it takes a general
-- statement that numbers the new events around those.
--
-- The validation is set-wide: one regular expression per field over the
-- whole batch and each channel checked once, where checking element by
-- element cost about three times as much. What it rejects, or cannot rule
-- out (data over max_data_bytes before counting it compact), is looked at
-- element by element by batch_problem(), which words the error for the lowest
-- bad index as publish() would.
CREATE FUNCTION publish_batch(events jsonb)
    RETURNS TABLE (ord integer, channel text, seq bigint, id uuid, duplicate boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = switchboard, pg_temp
    -- The statements below are the same every call; without this the
    -- planner re-plans the channel check on every call.
    SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    n integer;
    max_bytes integer := max_data_bytes();
    good boolean;
    given integer;     -- elements that carry an id
    bad record;
    names text[];      -- the distinct channels, in byte order
    counts integer[];  -- events per channel, as names
    lasts bigint[];    -- last_seq per channel, as names, read under the lock
    -- One element per input element, in (channel, input) order:
    e_ord integer[];
    e_channel text[];
    e_type text[];
    e_data jsonb[];
    e_sender text[];
    e_given text[];    -- the id as sent, NULL when none
    e_idt text[];      -- the id to store, as text: as sent or generated
    e_id uuid[];       -- the same as uuid
    e_ci integer[];    -- index of the channel in names
    e_k integer[];     -- 1, 2, ... within the channel, in input order
    dup boolean := false;
    r_ord integer[];
    r_channel text[];
    r_seq bigint[];
    r_id uuid[];
    r_dup boolean[];
    bell text[];
BEGIN
    IF jsonb_typeof(publish_batch.events) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'invalid parameter: events must be a JSON array'
            USING ERRCODE = 'SB008';
    END IF;
    n := jsonb_array_length(publish_batch.events);
    IF n = 0 THEN
        RAISE EXCEPTION 'invalid parameter: empty batch' USING ERRCODE = 'SB008';
    ELSIF n > 1000 THEN
        RAISE EXCEPTION 'too large: batch of % events, limit 1000', n
            USING ERRCODE = 'SB005';
    END IF;

    -- Parse and validate every element before touching any table.
    SELECT w.good
           AND (SELECT bool_and(coalesce(channel_valid(c.name), false)
                                AND EXISTS (SELECT 1 FROM namespaces ns
                                             WHERE ns.name = split_part(c.name, ':', 1)))
                  FROM unnest(w.names) AS c(name)),
           w.given, w.names, w.counts, w.ords, w.channels, w.types, w.datas, w.senders,
           w.ids, w.new_ids, w.cis, w.ks
      INTO good, given, names, counts, e_ord, e_channel, e_type, e_data, e_sender,
           e_given, e_idt, e_ci, e_k
      FROM (
        -- (bool_and skips NULLs, so every per-element test is coalesced:
        -- a missing field must count as a failure.)
        SELECT bool_and(coalesce(
                        x.shape_ok
                        AND octet_length(x.type) <= 64
                        AND (octet_length(x.type) <= 32 OR x.type !~ '[^.]{33}')
                        AND (x.type <> 'log' OR log_valid(x.data))
                        AND x.data_len <= max_bytes
                        AND (x.data_len < 66  -- 33 nested containers print at least 66 bytes
                             OR NOT jsonb_path_exists(x.data, 'strict $.**{32 to last} ? (@.type() == "object" || @.type() == "array")'))
                        AND strpos(x.type, E'\n') = 0
                        AND octet_length(x.sender) BETWEEN 1 AND 128
                        AND (x.id IS NULL
                             OR (x.id LIKE '________-____-____-____-____________'
                                 AND strpos(x.id, ',') = 0)), false))
               -- Types: the grammar of type_valid() over all of them at once,
               -- one per line (above: none holds a newline).
               AND string_agg(x.type, E'\n')
                   ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\n[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*)*$'
               -- Senders: no control character in any of them.
               AND string_agg(x.sender, '') !~ '[\u0001-\u001f\u007f-\u009f]'
               -- Ids: 36 characters each, dashes where a UUID has them and no
               -- comma (above), each of five runs of hex digits.
               AND coalesce(string_agg(x.id, ',')
                            ~ '^[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+(,[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+)*$',
                            true) AS good,
               count(x.id)::integer AS given,
               array_agg(x.channel ORDER BY x.channel COLLATE "C") FILTER (WHERE x.k = 1) AS names,
               array_agg(x.cnt ORDER BY x.channel COLLATE "C") FILTER (WHERE x.k = 1) AS counts,
               array_agg(x.ord) AS ords, array_agg(x.channel) AS channels,
               array_agg(x.type) AS types, array_agg(x.data) AS datas,
               array_agg(x.sender) AS senders, array_agg(x.id) AS ids,
               array_agg(coalesce(x.id, gen_random_uuid()::text)) AS new_ids,
               array_agg(x.ci) AS cis, array_agg(x.k) AS ks
          FROM (
            -- One sort, by bytes: a channel name is ASCII, and its place in
            -- names only has to agree with ci (the locks are taken in name
            -- order by lock_channels whatever the order of names).
            SELECT y.*,
                   dense_rank() OVER (ORDER BY y.channel COLLATE "C")::integer AS ci,
                   row_number() OVER (PARTITION BY y.channel COLLATE "C" ORDER BY y.ord)::integer AS k,
                   count(*) OVER (PARTITION BY y.channel COLLATE "C")::integer AS cnt
              FROM (
                SELECT (t.o - 1)::integer AS ord,
                       t.e ->> 'channel' AS channel, t.e ->> 'type' AS type,
                       t.e -> 'data' AS data, t.e ->> 'sender' AS sender, t.e ->> 'id' AS id,
                       octet_length((t.e -> 'data')::text) AS data_len,
                       jsonb_typeof(t.e) = 'object'
                       AND jsonb_typeof(t.e -> 'type') = 'string'
                       AND jsonb_typeof(t.e -> 'data') = 'object'
                       AND jsonb_typeof(t.e -> 'sender') = 'string' AS shape_ok
                  FROM jsonb_array_elements(publish_batch.events) WITH ORDINALITY AS t(e, o)
                OFFSET 0  -- keeps y from being flattened: each field is extracted once
              ) AS y
          ) AS x
      ) AS w;
    IF good IS NOT TRUE THEN
        SELECT p.ord, p.problem INTO bad FROM batch_problem(publish_batch.events, max_bytes) AS p;
        IF FOUND THEN
            PERFORM raise_problem(bad.problem, format('event %s: ', bad.ord));
        END IF;
    END IF;
    -- Valid, so every id is a UUID; the generated ones went through text too.
    e_id := e_idt::uuid[];

    lasts := lock_channels(names);

    -- Only now, with the counter rows locked: a concurrent publish of one of
    -- our ids has committed (we see its row) or rolled back. (Looking the
    -- ids up before the lock as well would not spare this: batches that
    -- wait for each other's locks store, in between, about as many events
    -- as they look up.)
    -- (A scalar subquery, not EXISTS: the planner may turn an EXISTS into one
    -- scan of all events into a hash table, and with a generic plan made while
    -- the table was small it would keep doing that as the table grows.)
    IF given > 0 THEN
        SELECT EXISTS (
            SELECT 1 FROM unnest(e_channel, e_id, e_given) AS u(channel, id, given)
             WHERE u.given IS NOT NULL
             GROUP BY u.channel, u.id
            HAVING count(*) > 1
                OR (SELECT true FROM events e WHERE e.channel = u.channel AND e.id = u.id))
          INTO dup;
    END IF;

    IF NOT dup THEN
        -- Every element is a new event: seq = last_seq + its place in the channel.
        WITH ins AS (
            INSERT INTO events (channel, seq, id, type, sender, data)
            SELECT u.channel, lasts[u.ci] + u.k, u.id, u.type, u.sender, u.data
              FROM unnest(e_channel, e_ci, e_k, e_id, e_type, e_sender, e_data)
                   AS u(channel, ci, k, id, type, sender, data)
        )
        UPDATE channels c SET last_seq = u.last + u.added, updated_at = now()
          FROM unnest(names, lasts, counts) AS u(name, last, added)
         WHERE c.name = u.name;
        PERFORM ring((SELECT array_agg(to_json(u.name)::text || ':' || (u.last + u.added)
                                       ORDER BY u.name)
                        FROM unnest(names, lasts, counts) AS u(name, last, added)));
        RETURN QUERY
            SELECT u.ord, u.channel, lasts[u.ci] + u.k, u.id, false
              FROM unnest(e_ord, e_channel, e_ci, e_k, e_id) AS u(ord, channel, ci, k, id)
             ORDER BY u.ord;
        RETURN;
    END IF;

    -- Some ids are stored already or repeated in the batch: those elements
    -- return the original seq, the others are numbered around them.
    WITH src AS (
        SELECT u.ord, u.channel, u.type, u.data, u.sender, u.id, u.given IS NOT NULL AS given,
               lasts[u.ci] AS last
          FROM unnest(e_ord, e_channel, e_type, e_data, e_sender, e_id, e_given, e_ci)
               AS u(ord, channel, type, data, sender, id, given, ci)
    ), known AS (
        SELECT s.*,
               CASE WHEN s.given THEN
                   (SELECT e.seq FROM events e WHERE e.channel = s.channel AND e.id = s.id)
               END AS stored_seq,
               min(s.ord) OVER (PARTITION BY s.channel, s.id) AS first_ord
          FROM src s
    ), numbered AS (
        SELECT k.*, (k.stored_seq IS NULL AND k.ord = k.first_ord) AS is_new,
               k.last + count(*) FILTER (WHERE k.stored_seq IS NULL AND k.ord = k.first_ord)
                              OVER (PARTITION BY k.channel ORDER BY k.ord) AS new_seq
          FROM known k
    ), outcome AS (
        SELECT nb.*,
               coalesce(nb.stored_seq,
                        max(nb.new_seq) FILTER (WHERE nb.is_new)
                            OVER (PARTITION BY nb.channel, nb.id)) AS out_seq
          FROM numbered nb
    ), ins AS (
        INSERT INTO events (channel, seq, id, type, sender, data)
        SELECT o.channel, o.new_seq, o.id, o.type, o.sender, o.data
          FROM outcome o WHERE o.is_new
    ), upd AS (
        UPDATE channels c
           SET last_seq = k.last_seq, updated_at = now()
          FROM (SELECT o.channel, max(o.new_seq) AS last_seq FROM outcome o
                 WHERE o.is_new GROUP BY o.channel) AS k
         WHERE c.name = k.channel
        RETURNING c.name, c.last_seq
    )
    SELECT array_agg(o.ord ORDER BY o.ord), array_agg(o.channel ORDER BY o.ord),
           array_agg(o.out_seq ORDER BY o.ord), array_agg(o.id ORDER BY o.ord),
           array_agg(NOT o.is_new ORDER BY o.ord),
           (SELECT array_agg(to_json(u.name)::text || ':' || u.last_seq ORDER BY u.name)
              FROM upd u)
      INTO r_ord, r_channel, r_seq, r_id, r_dup, bell
      FROM outcome o;

    PERFORM ring(bell);
    RETURN QUERY SELECT * FROM unnest(r_ord, r_channel, r_seq, r_id, r_dup);
END
$$;
COMMENT ON FUNCTION publish_batch(jsonb) IS
    'Stores a JSON array of 1..1000 events {"channel","type","data","sender","id"?} '
    'in one transaction and returns (ord, channel, seq, id, duplicate) per input '
    'element (ord is its 0-based index). Every element is validated first: one bad '
    'element stores nothing and the error names its index. Counter rows are locked '
    'in channel-name order and updated once per channel; a repeated id (stored '
    'before, or earlier in the batch) returns the original seq with duplicate = true. '
    'One doorbell NOTIFY per call (several only when the payload would exceed 7999 bytes).';

CREATE FUNCTION signal(channel text, type text, data jsonb, sender text) RETURNS json
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
DECLARE
    problem text;
    payload text;
BEGIN
    problem := event_problem(signal.channel, signal.type, signal.data, signal.sender,
                             max_data_bytes());
    IF problem IS NOT NULL THEN
        PERFORM raise_problem(problem);
    END IF;
    PERFORM check_channel(signal.channel);
    payload := event_json(signal.channel, NULL, gen_random_uuid(), signal.type,
                          signal.sender, now(), signal.data);
    IF octet_length(payload) > 7999 THEN
        RAISE EXCEPTION 'too large: signal of % bytes, limit 7999', octet_length(payload)
            USING ERRCODE = 'SB005',
                  HINT = 'A signal travels as a NOTIFY payload; publish large data as a durable event.';
    END IF;
    PERFORM pg_notify('switchboard_signal', payload);
    RETURN payload::json;
END
$$;
COMMENT ON FUNCTION signal(text, text, jsonb, text) IS
    'Sends an ephemeral event (seq null, fresh id, time now()) as NOTIFY '
    'switchboard_signal with the event JSON as payload, stores nothing, returns it. '
    'SB005 when the event would exceed 7999 bytes.';

-- --- reading ------------------------------------------------------------------------

CREATE FUNCTION check_history_max(max integer) RETURNS void
    IMMUTABLE LANGUAGE plpgsql SET search_path = switchboard, pg_temp
AS $$
BEGIN
    IF max IS NULL OR max < 1 OR max > 1000 THEN
        RAISE EXCEPTION 'invalid parameter: max must be 1 to 1000, not %',
            coalesce(max::text, 'null') USING ERRCODE = 'SB008';
    END IF;
END
$$;
COMMENT ON FUNCTION check_history_max(integer) IS
    'Raises SB008 unless 1 <= max <= history_max (1000).';

CREATE FUNCTION events_after(channel text, since bigint, max integer DEFAULT 100)
    RETURNS TABLE (seq bigint, event text)
    STABLE LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM check_channel(events_after.channel);
    IF events_after.since IS NULL OR events_after.since < 0 THEN
        RAISE EXCEPTION 'invalid cursor: since must be a seq >= 0, not %',
            coalesce(events_after.since::text, 'null') USING ERRCODE = 'SB010';
    END IF;
    PERFORM check_history_max(events_after.max);
    RETURN QUERY
        SELECT e.seq, event_json(e.channel, e.seq, e.id, e.type, e.sender,
                                 e.created_at, e.data)
          FROM events e
         WHERE e.channel = events_after.channel AND e.seq > events_after.since
         ORDER BY e.seq
         LIMIT events_after.max;
END
$$;
COMMENT ON FUNCTION events_after(text, bigint, integer) IS
    'Events of channel with seq > since, ascending, at most max (1..1000): an index '
    'range scan on the primary key. Resume with since = the last seq seen. '
    'If since < channel_info().pruned_seq, events were pruned in between. '
    'Errors: SB001, SB002, SB008 (max), SB010 (since < 0).';

CREATE FUNCTION events_before(channel text, before bigint, max integer DEFAULT 100)
    RETURNS TABLE (seq bigint, event text)
    STABLE LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM check_channel(events_before.channel);
    IF events_before.before IS NOT NULL AND events_before.before < 1 THEN
        RAISE EXCEPTION 'invalid cursor: before must be a seq >= 1, not %',
            events_before.before USING ERRCODE = 'SB010';
    END IF;
    PERFORM check_history_max(events_before.max);
    RETURN QUERY
        SELECT b.seq, b.event FROM (
            SELECT e.seq, event_json(e.channel, e.seq, e.id, e.type, e.sender,
                                     e.created_at, e.data) AS event
              FROM events e
             WHERE e.channel = events_before.channel
               AND e.seq < coalesce(events_before.before, 9223372036854775807)
             ORDER BY e.seq DESC
             LIMIT events_before.max) AS b
         ORDER BY b.seq;
END
$$;
COMMENT ON FUNCTION events_before(text, bigint, integer) IS
    'The max (1..1000) events of channel just below seq before, returned ascending '
    '(paging back); before NULL means the newest. A backward index range scan on the '
    'primary key. Errors: SB001, SB002, SB008 (max), SB010 (before < 1).';

CREATE TYPE channel_info_row AS (
    channel text, namespace text, last_seq bigint, pruned_seq bigint,
    oldest_seq bigint, created_at timestamptz, updated_at timestamptz);
COMMENT ON TYPE channel_info_row IS 'What channel_info() returns.';

CREATE FUNCTION channel_info(channel text) RETURNS SETOF channel_info_row
    STABLE LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
BEGIN
    PERFORM check_channel(channel_info.channel);
    RETURN QUERY
        SELECT c.name, c.namespace, c.last_seq, c.pruned_seq, c.pruned_seq + 1,
               c.created_at, c.updated_at
          FROM channels c WHERE c.name = channel_info.channel;
    IF NOT FOUND THEN
        -- Valid but never published to: an empty channel at seq 0.
        RETURN NEXT ROW(channel_info.channel, split_part(channel_info.channel, ':', 1),
                        0::bigint, 0::bigint, 1::bigint, NULL::timestamptz,
                        NULL::timestamptz)::channel_info_row;
    END IF;
END
$$;
COMMENT ON FUNCTION channel_info(text) IS
    'One row: channel, namespace, last_seq, pruned_seq, oldest_seq (= pruned_seq + 1), '
    'created_at, updated_at. A valid channel never published to gives last_seq 0 and '
    'NULL times. Errors: SB001, SB002.';

-- --- privileges -------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA switchboard FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA switchboard FROM PUBLIC;
GRANT USAGE ON SCHEMA switchboard TO switchboard_app, switchboard_reader;

GRANT EXECUTE ON FUNCTION
    publish(text, text, jsonb, text, uuid),
    publish_batch(jsonb),
    signal(text, text, jsonb, text)
    TO switchboard_app;
GRANT EXECUTE ON FUNCTION
    events_after(text, bigint, integer),
    events_before(text, bigint, integer),
    channel_info(text),
    limits(),
    max_data_bytes(),
    event_json(text, bigint, uuid, text, text, timestamptz, jsonb),
    time_text(timestamptz),
    namespace_valid(text),
    channel_valid(text),
    type_valid(text),
    sender_valid(text),
    uuid_text_valid(text),
    base64url(bytea)
    TO switchboard_app, switchboard_reader;
