-- 006_metrics.sql: what the daemons read and write besides events. The
-- metrics overview (metrics_overview(), the snapshot of PROTOCOL.md 4.12
-- and 5.13), the namespaces whose channels keep presence
-- (presence_namespaces(), so the daemons need not know the policy table),
-- and group-committed publishes with their audit rows written in the same
-- statement, one per sender, address and channel (publish_batch_audited()).

SET LOCAL client_min_messages = warning;
SET LOCAL ROLE switchboard_owner;
SET LOCAL search_path = switchboard, pg_temp;

-- --- metrics overview ------------------------------------------------------------

-- The overview counts the events of a window (up to 168 hours) by namespace
-- and type: a range of this index read without touching the table.
CREATE INDEX events_created_at_idx ON events (created_at) INCLUDE (channel, type);
COMMENT ON INDEX events_created_at_idx IS
    'Events by time, with channel and type: metrics_overview() counts a window from the '
    'index alone.';
CREATE INDEX tasks_created_at_idx ON tasks (created_at);
COMMENT ON INDEX tasks_created_at_idx IS
    'Tasks by creation time: metrics_overview() counts the tasks created within a window.';

CREATE FUNCTION metrics_overview(window_hours integer) RETURNS json
    STABLE LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
    -- Planned with the window's start known, so the estimate of the rows in
    -- the window (and the choice of an index range scan) is right.
    SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    since timestamptz := now() - make_interval(
        hours => greatest(1, least(168, coalesce(metrics_overview.window_hours, 24))));
    result json;
BEGIN
    WITH e AS MATERIALIZED (
        SELECT split_part(x.channel, ':', 1) AS ns, x.type, count(*) AS c
          FROM events x
         WHERE x.created_at >= since
         GROUP BY 1, 2
    ), l AS MATERIALIZED (
        SELECT x.data ->> 'level' AS level, count(*) AS c
          FROM events x
         WHERE x.type = 'log' AND x.created_at >= since
         GROUP BY 1
    ), t AS MATERIALIZED (
        SELECT x.state, count(*) AS c
          FROM tasks x
         WHERE x.created_at >= since
         GROUP BY 1
    ), n AS MATERIALIZED (
        SELECT v.kind, count(*) AS c, sum(v.connections) AS conns,
               sum(v.subscriptions) AS subs
          FROM live_nodes v
         GROUP BY v.kind
    )
    SELECT json_build_object(
        'events', json_build_object(
            'total', (SELECT coalesce(sum(e.c), 0) FROM e),
            'by_namespace', (SELECT coalesce(json_object_agg(y.ns, y.c ORDER BY y.ns), '{}')
                               FROM (SELECT e.ns, sum(e.c) AS c FROM e GROUP BY e.ns) AS y)),
        'chat', (SELECT json_build_object(
                     'messages', coalesce(sum(e.c) FILTER (WHERE e.type = 'message'), 0),
                     'replies', coalesce(sum(e.c) FILTER (WHERE e.type = 'reply'), 0),
                     'tool_calls', coalesce(sum(e.c) FILTER (WHERE e.type = 'tool_call'), 0),
                     'errors', coalesce(sum(e.c) FILTER (WHERE e.type = 'error'), 0),
                     'cancelled', coalesce(sum(e.c) FILTER (WHERE e.type = 'cancelled'), 0))
                   FROM e WHERE e.ns = 'chat'),
        'activity', (SELECT json_build_object(
                         'info', coalesce(sum(l.c) FILTER (WHERE l.level = 'info'), 0),
                         'success', coalesce(sum(l.c) FILTER (WHERE l.level = 'success'), 0),
                         'warning', coalesce(sum(l.c) FILTER (WHERE l.level = 'warning'), 0),
                         'error', coalesce(sum(l.c) FILTER (WHERE l.level = 'error'), 0))
                       FROM l),
        'tasks', (SELECT json_build_object(
                      'queued', coalesce(sum(t.c) FILTER (WHERE t.state = 'queued'), 0),
                      'active', coalesce(sum(t.c) FILTER (WHERE t.state = 'active'), 0),
                      'completed', coalesce(sum(t.c) FILTER (WHERE t.state = 'completed'), 0),
                      'failed', coalesce(sum(t.c) FILTER (WHERE t.state = 'failed'), 0),
                      'cancelled', coalesce(sum(t.c) FILTER (WHERE t.state = 'cancelled'), 0),
                      'total', coalesce(sum(t.c), 0))
                    FROM t),
        'nodes', (SELECT json_build_object(
                      'wsd', coalesce(sum(n.c) FILTER (WHERE n.kind = 'wsd'), 0),
                      'fcgi', coalesce(sum(n.c) FILTER (WHERE n.kind = 'fcgi'), 0))
                    FROM n),
        'connections', (SELECT coalesce(sum(n.conns), 0) FROM n),
        'subscriptions', (SELECT coalesce(sum(n.subs), 0) FROM n))
      INTO result;
    RETURN result;
END
$$;
COMMENT ON FUNCTION metrics_overview(integer) IS
    'The metrics snapshot of PROTOCOL.md 4.12 for the last window_hours hours (clamped to '
    '1..168; NULL means 24): {"events":{"total","by_namespace"},"chat":{"messages","replies",'
    '"tool_calls","errors","cancelled"},"activity":{"info","success","warning","error"},'
    '"tasks":{"queued","active","completed","failed","cancelled","total"},"nodes":{"wsd",'
    '"fcgi"},"connections","subscriptions"}. Events and tasks count within the window '
    '(tasks by creation time, in their current state); nodes, connections and subscriptions '
    'are the live nodes'' current figures. by_namespace keys are in name order.';

-- --- namespace policy for the daemons --------------------------------------------------

CREATE FUNCTION presence_namespaces() RETURNS SETOF text
    STABLE ROWS 10 LANGUAGE sql SECURITY DEFINER SET search_path = switchboard, pg_temp
BEGIN ATOMIC
    SELECT ns.name FROM namespaces ns WHERE ns.presence ORDER BY ns.name;
END;
COMMENT ON FUNCTION presence_namespaces() IS
    'The namespaces whose channels keep presence (namespaces.presence), in name order: '
    'the daemons record presence only for channels of these namespaces.';

-- --- publishes with their audit rows ---------------------------------------------------

CREATE FUNCTION publish_batch_audited(events jsonb, node text, remotes jsonb DEFAULT '[]')
    RETURNS TABLE (ord integer, channel text, seq bigint, id uuid, duplicate boolean)
    ROWS 100 LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF jsonb_typeof(coalesce(publish_batch_audited.remotes, '[]')) <> 'array' THEN
        RAISE EXCEPTION 'invalid parameter: remotes must be a JSON array'
            USING ERRCODE = 'SB008';
    END IF;
    -- One audit row per (sender, address, channel) of the call, not per
    -- event: events already records each event's sender, id, type and time.
    -- For a group commit of 1,000 events a row per event costs about a third
    -- more than publish_batch() alone; a row per group, under a tenth.
    RETURN QUERY
        WITH p AS MATERIALIZED (
            SELECT b.ord, b.channel, b.seq, b.id, b.duplicate
              FROM publish_batch(publish_batch_audited.events) AS b
        ), a AS (
            INSERT INTO audit (kind, node, subject, channel, remote, detail)
            SELECT 'publish', left(publish_batch_audited.node, 128), g.subject, g.channel,
                   g.remote,
                   jsonb_build_object('events', count(*),
                                      'seqs', jsonb_agg(g.seq ORDER BY g.seq),
                                      'duplicates', count(*) FILTER (WHERE g.duplicate))
              FROM (
                -- Texts come from the network: bound them as audit_record()
                -- does, and group by what is stored. Grouping needs equality
                -- only: byte order ("C") sorts them cheaper than a locale.
                SELECT p.ord, p.seq, p.duplicate,
                       left(x.e ->> 'sender', 256) COLLATE "C" AS subject,
                       left(p.channel, 256) COLLATE "C" AS channel,
                       left(publish_batch_audited.remotes ->> p.ord, 256) COLLATE "C" AS remote
                  FROM p JOIN jsonb_array_elements(publish_batch_audited.events)
                              WITH ORDINALITY AS x(e, o) ON x.o = p.ord + 1
              ) AS g
             GROUP BY g.subject, g.remote, g.channel
             ORDER BY min(g.ord)
        )
        SELECT p.ord, p.channel, p.seq, p.id, p.duplicate FROM p;
END
$$;
COMMENT ON FUNCTION publish_batch_audited(jsonb, text, jsonb) IS
    'publish_batch(events), plus one audit row per (sender, remote, channel) of the call, '
    'written in the same statement (kind publish; node; subject = the sender; remote = '
    'remotes->>ord, the client''s address, NULL past the end of remotes; detail '
    '{"events": n, "seqs": [...], "duplicates": d}: the group''s element count, the seq each '
    'element is stored under, ascending, one per element, and how many were answered as '
    'duplicates). Rows are in the order of each group''s first element. The events table '
    'holds each event''s id, type and time; only what was stored is audited. Returns what '
    'publish_batch returns; raises what it raises, and SB008 when remotes is not an array.';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA switchboard FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA switchboard FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    metrics_overview(integer),
    presence_namespaces()
    TO switchboard_app, switchboard_reader;
GRANT EXECUTE ON FUNCTION
    publish_batch_audited(jsonb, text, jsonb)
    TO switchboard_app;
