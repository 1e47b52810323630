-- 007_tasks_read.sql: reading workflow tasks as the application roles may.
-- task_get(id) returns one task and task_list(channel, state, max, after)
-- a page of a channel's tasks, newest first, both in the JSON shape of
-- PROTOCOL.md section 5.12:
--   {"id","channel","title","state","current_step","error","metadata",
--    "created_at","started_at","finished_at","updated_at"}
-- (times as time_text() prints them, null when not set). Who may read which
-- channel is the caller's business (the token check happens in the daemons),
-- as for events_after().

SET LOCAL client_min_messages = warning;
SET LOCAL ROLE switchboard_owner;
SET LOCAL search_path = switchboard, pg_temp;

-- Newest first within a channel, the order task_list() pages in.
CREATE INDEX tasks_channel_created_idx ON tasks (channel, created_at DESC, id DESC);

-- Compact and in the protocol's order, as event_json() prints events
-- (json_build_object would add spaces, jsonb would reorder the members).
CREATE FUNCTION task_json(t tasks) RETURNS json
    STABLE PARALLEL SAFE LANGUAGE sql
RETURN ('{"id":"' || t.id::text
    || '","channel":' || to_json(t.channel)::text
    || ',"title":' || to_json(t.title)::text
    || ',"state":' || to_json(t.state)::text
    || ',"current_step":' || coalesce(to_json(t.current_step)::text, 'null')
    || ',"error":' || coalesce(to_json(t.error)::text, 'null')
    || ',"metadata":' || t.metadata::text
    || ',"created_at":' || to_json(time_text(t.created_at))::text
    || ',"started_at":' || coalesce(to_json(time_text(t.started_at))::text, 'null')
    || ',"finished_at":' || coalesce(to_json(time_text(t.finished_at))::text, 'null')
    || ',"updated_at":' || to_json(time_text(t.updated_at))::text || '}')::json;
COMMENT ON FUNCTION task_json(tasks) IS
    'A task as the protocol shows it, compact: {"id","channel","title","state",'
    '"current_step","error","metadata","created_at","started_at","finished_at",'
    '"updated_at"}; times as time_text() prints them, null when not set.';

-- VOLATILE, not STABLE: a STABLE function reads with the snapshot of the
-- calling statement, so SELECT task_get(task_create(...)) would not see the
-- task it just created.
CREATE FUNCTION task_get(id uuid) RETURNS json
    VOLATILE LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
DECLARE
    result json;
BEGIN
    SELECT task_json(t) INTO result FROM tasks t WHERE t.id = task_get.id;
    IF result IS NULL THEN
        RAISE EXCEPTION 'not found: no task %', coalesce(task_get.id::text, 'null')
            USING ERRCODE = 'SB011';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION task_get(uuid) IS
    'One task as task_json() shows it. Errors: SB011 (no such task). VOLATILE so that '
    'task_get(task_create(...)) in one statement sees the new task.';

CREATE FUNCTION task_list(channel text, state text DEFAULT NULL, max integer DEFAULT 100,
                          after uuid DEFAULT NULL) RETURNS json
    STABLE LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
DECLARE
    after_created timestamptz;
    page text;
    more boolean;
BEGIN
    PERFORM check_channel(task_list.channel);
    IF task_list.state IS NOT NULL AND task_list.state NOT IN
           ('queued', 'active', 'completed', 'failed', 'cancelled') THEN
        RAISE EXCEPTION 'invalid parameter: state must be queued, active, completed, failed '
                        'or cancelled, not %', to_json(task_list.state)::text
            USING ERRCODE = 'SB008';
    END IF;
    PERFORM check_history_max(task_list.max);
    IF task_list.after IS NOT NULL THEN
        SELECT t.created_at INTO after_created FROM tasks t
         WHERE t.id = task_list.after AND t.channel = task_list.channel;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'invalid parameter: after: no task % on channel %',
                task_list.after, to_json(task_list.channel)::text USING ERRCODE = 'SB008';
        END IF;
    END IF;
    -- One row more than asked for says whether there is another page.
    SELECT coalesce(string_agg(task_json(p.t)::text, ',' ORDER BY p.k)
                        FILTER (WHERE p.k <= task_list.max), ''),
           count(*) > task_list.max
      INTO page, more
      FROM (SELECT x AS t, row_number() OVER (ORDER BY x.created_at DESC, x.id DESC) AS k
              FROM tasks x
             WHERE x.channel = task_list.channel
               AND (task_list.state IS NULL OR x.state = task_list.state)
               AND (task_list.after IS NULL
                    OR (x.created_at, x.id) < (after_created, task_list.after))
             ORDER BY x.created_at DESC, x.id DESC
             LIMIT task_list.max + 1) AS p;
    RETURN ('{"tasks":[' || page || '],"more":' || more::text || '}')::json;
END
$$;
COMMENT ON FUNCTION task_list(text, text, integer, uuid) IS
    'A page of a channel''s tasks, newest first (created_at, then id): {"tasks":[...],'
    '"more":bool}, at most max (1..1000) tasks, only those in state when given, and only '
    'those after the task after (the last id of the previous page). Errors: SB001, '
    'SB002 (channel), SB008 (unknown state, max out of range, after not a task of the '
    'channel).';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA switchboard FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    task_get(uuid),
    task_list(text, text, integer, uuid)
    TO switchboard_app, switchboard_reader;
