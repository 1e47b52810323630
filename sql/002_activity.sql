-- 002_activity.sql: the activity log. An entry is a durable event of type
-- "log" whose data is {"level", "message", "metadata"?} (the events table's
-- CHECK enforces the shape); log_activity() publishes one, search_activity()
-- finds them by level, text, time range and channel, newest first, paged
-- with an opaque keyset cursor.

SET LOCAL client_min_messages = warning;
SET LOCAL ROLE switchboard_owner;
SET LOCAL search_path = switchboard, pg_temp;

-- Newest-first paging over log entries: (created_at, channel, seq) is the
-- keyset, scanned backward.
CREATE INDEX events_log_time_idx ON events (created_at, channel, seq)
    WHERE type = 'log';
COMMENT ON INDEX events_log_time_idx IS
    'Activity log entries by time: search_activity() paging, recent_activity, activity_by_level.';

-- Full text over the message. 'simple' keeps every word (no stemming, no
-- stop words): log messages are identifiers and error text, not prose.
CREATE INDEX events_log_text_idx ON events
    USING gin (to_tsvector('simple'::regconfig, data ->> 'message'))
    WHERE type = 'log';
COMMENT ON INDEX events_log_text_idx IS
    'Full-text index over activity log messages for search_activity(query => ...).';

CREATE FUNCTION log_activity(channel text, level text, message text,
                             metadata jsonb DEFAULT '{}',
                             sender text DEFAULT current_user,
                             id uuid DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
DECLARE
    result bigint;
BEGIN
    IF level IS NULL OR level NOT IN ('info', 'success', 'warning', 'error') THEN
        RAISE EXCEPTION 'invalid parameter: level must be info, success, warning or error, not %',
            coalesce(to_json(level)::text, 'null') USING ERRCODE = 'SB008';
    END IF;
    SELECT p.seq INTO result
      FROM publish(log_activity.channel, 'log',
                   jsonb_build_object('level', log_activity.level,
                                      'message', log_activity.message,
                                      'metadata', coalesce(log_activity.metadata, '{}')),
                   log_activity.sender, log_activity.id) AS p;
    RETURN result;
END
$$;
COMMENT ON FUNCTION log_activity(text, text, text, jsonb, text, uuid) IS
    'Publishes an activity log entry (type log, data {"level","message","metadata"}) '
    'on channel and returns its seq. sender defaults to the calling role. '
    'Errors: as publish(); SB008 for a level other than info, success, warning, error; '
    'SB004 for an empty or over 4096-byte message or non-object metadata.';

-- The opaque cursor of search_activity(): base64url of "time|seq|channel".
CREATE FUNCTION activity_cursor(created_at timestamptz, channel text, seq bigint)
    RETURNS text STABLE PARALLEL SAFE LANGUAGE sql
RETURN base64url(convert_to(time_text(created_at) || '|' || seq || '|' || channel, 'UTF8'));
COMMENT ON FUNCTION activity_cursor(timestamptz, text, bigint) IS
    'Encodes a search_activity() position (time, channel, seq) as an opaque base64url string.';

CREATE TYPE activity_row AS (cursor text, seq bigint, event text);
COMMENT ON TYPE activity_row IS 'What search_activity() returns: a cursor, the seq, the event JSON.';

CREATE FUNCTION search_activity(levels text[] DEFAULT NULL, query text DEFAULT NULL,
                                since timestamptz DEFAULT NULL,
                                until timestamptz DEFAULT NULL,
                                channel text DEFAULT NULL, cursor text DEFAULT NULL,
                                max integer DEFAULT 50)
    RETURNS SETOF activity_row
    STABLE LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
DECLARE
    tsq tsquery;
    decoded text;
    c_time timestamptz;
    c_seq bigint;
    c_channel text;
    sql text;
BEGIN
    IF search_activity.levels IS NOT NULL AND (
           cardinality(search_activity.levels) = 0
        OR EXISTS (SELECT 1 FROM unnest(search_activity.levels) AS l(v)
                    WHERE l.v IS NULL
                       OR l.v NOT IN ('info', 'success', 'warning', 'error'))) THEN
        RAISE EXCEPTION 'invalid parameter: levels must be some of info, success, warning, error'
            USING ERRCODE = 'SB008';
    END IF;
    PERFORM check_history_max(search_activity.max);
    IF search_activity.channel IS NOT NULL THEN
        PERFORM check_channel(search_activity.channel);
    END IF;
    IF search_activity.query IS NOT NULL AND btrim(search_activity.query) <> '' THEN
        tsq := websearch_to_tsquery('simple', search_activity.query);
        -- Only punctuation: no words to look for, so no text filter.
        IF numnode(tsq) = 0 THEN
            tsq := NULL;
        END IF;
    END IF;
    IF search_activity.cursor IS NOT NULL THEN
        BEGIN
            decoded := convert_from(decode(
                rpad(translate(search_activity.cursor, '-_', '+/'),
                     (octet_length(search_activity.cursor) + 3) / 4 * 4, '='),
                'base64'), 'UTF8');
            IF decoded !~ '^[0-9T:.Z-]+\|[0-9]+\|' THEN
                RAISE EXCEPTION 'bad cursor';
            END IF;
            c_time := split_part(decoded, '|', 1)::timestamptz;
            c_seq := split_part(decoded, '|', 2)::bigint;
            c_channel := substr(decoded, strpos(decoded, '|') + 1);
            c_channel := substr(c_channel, strpos(c_channel, '|') + 1);
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION 'invalid cursor: pass the cursor of the last row of the previous page'
                USING ERRCODE = 'SB010';
        END;
        IF NOT channel_valid(c_channel) THEN
            RAISE EXCEPTION 'invalid cursor: pass the cursor of the last row of the previous page'
                USING ERRCODE = 'SB010';
        END IF;
    END IF;

    -- Only the filters asked for, so every call is planned with its own
    -- conditions (time index, text index or both).
    sql := 'SELECT activity_cursor(e.created_at, e.channel, e.seq), e.seq, '
        || 'event_json(e.channel, e.seq, e.id, e.type, e.sender, e.created_at, e.data) '
        || 'FROM events e WHERE e.type = ''log''';
    IF search_activity.levels IS NOT NULL THEN
        sql := sql || ' AND e.data ->> ''level'' = ANY ($1)';
    END IF;
    IF tsq IS NOT NULL THEN
        sql := sql || ' AND to_tsvector(''simple''::regconfig, e.data ->> ''message'') @@ $2';
    END IF;
    IF search_activity.since IS NOT NULL THEN
        sql := sql || ' AND e.created_at >= $3';
    END IF;
    IF search_activity.until IS NOT NULL THEN
        sql := sql || ' AND e.created_at < $4';
    END IF;
    IF search_activity.channel IS NOT NULL THEN
        sql := sql || ' AND e.channel = $5';
    END IF;
    IF c_time IS NOT NULL THEN
        sql := sql || ' AND (e.created_at, e.channel, e.seq) < ($6, $7, $8)';
    END IF;
    sql := sql || ' ORDER BY e.created_at DESC, e.channel DESC, e.seq DESC LIMIT $9';
    RETURN QUERY EXECUTE sql
        USING search_activity.levels, tsq, search_activity.since, search_activity.until,
              search_activity.channel, c_time, c_channel, c_seq, search_activity.max;
END
$$;
COMMENT ON FUNCTION search_activity(text[], text, timestamptz, timestamptz, text, text, integer) IS
    'Activity log entries, newest first, at most max (1..1000, default 50): levels '
    '(some of info, success, warning, error), query (web-search syntax over the '
    'message: words, "phrases", or, -not), since (inclusive) and until (exclusive), '
    'channel. Each row carries an opaque cursor: pass the last row''s cursor to get '
    'the next page. Errors: SB001/SB002 (channel), SB008 (levels, max), SB010 (cursor).';

CREATE VIEW recent_activity AS
SELECT e.created_at AS time,
       e.channel,
       e.seq,
       e.data ->> 'level' AS level,
       e.data ->> 'message' AS message,
       coalesce(e.data -> 'metadata', '{}'::jsonb) AS metadata,
       e.sender,
       e.id
  FROM events e
 WHERE e.type = 'log'
   AND e.created_at > now() - interval '24 hours'
 ORDER BY e.created_at DESC, e.channel DESC, e.seq DESC;
COMMENT ON VIEW recent_activity IS
    'Activity log entries of the last 24 hours, newest first, with level, message '
    'and metadata as columns. E.g. SELECT * FROM switchboard.recent_activity WHERE '
    'level = ''error'' LIMIT 20;';
COMMENT ON COLUMN recent_activity.level IS 'info, success, warning or error.';
COMMENT ON COLUMN recent_activity.metadata IS 'The entry''s metadata object ({} when none).';

CREATE VIEW activity_by_level AS
SELECT l.level,
       count(e.seq) FILTER (WHERE e.created_at > now() - interval '1 hour') AS last_hour,
       count(e.seq) AS last_day
  FROM (VALUES (1, 'info'), (2, 'success'), (3, 'warning'), (4, 'error'))
       AS l(ord, level)
  LEFT JOIN events e
         ON e.type = 'log'
        AND e.data ->> 'level' = l.level
        AND e.created_at > now() - interval '24 hours'
 GROUP BY l.ord, l.level
 ORDER BY l.ord;
COMMENT ON VIEW activity_by_level IS
    'Activity log entries per level in the last hour and the last 24 hours.';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA switchboard FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA switchboard FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    log_activity(text, text, text, jsonb, text, uuid)
    TO switchboard_app;
GRANT EXECUTE ON FUNCTION
    search_activity(text[], text, timestamptz, timestamptz, text, text, integer),
    activity_cursor(timestamptz, text, bigint)
    TO switchboard_app, switchboard_reader;
GRANT SELECT ON recent_activity, activity_by_level
    TO switchboard_app, switchboard_reader;
