-- 004_operations.sql: what operators ask about. The audit trail (connects,
-- disconnects, auth failures, publishes), the nodes (each wsd and fcgi
-- process heartbeats here) and presence (who is connected to which channel,
-- with join/leave signals), retention (prune_events), and the psql views
-- event_log, recent_chat, channel_summary, connected and live_nodes.

SET LOCAL client_min_messages = warning;
SET LOCAL ROLE switchboard_owner;
SET LOCAL search_path = switchboard, pg_temp;

-- --- audit ------------------------------------------------------------------------

CREATE TABLE audit (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    kind    text NOT NULL CONSTRAINT audit_kind_valid
                CHECK (kind IN ('connect', 'disconnect', 'auth_failure', 'publish')),
    node    text,
    subject text,
    channel text,
    remote  text,
    detail  jsonb NOT NULL DEFAULT '{}' CONSTRAINT audit_detail_object
                CHECK (jsonb_typeof(detail) = 'object')
);
CREATE INDEX audit_at_idx ON audit (at);
COMMENT ON TABLE audit IS
    'Audit trail written by the daemons through audit_record(): connects, disconnects, '
    'authentication failures and publishes. Trim it with prune_audit().';
COMMENT ON COLUMN audit.kind IS 'connect, disconnect, auth_failure or publish.';
COMMENT ON COLUMN audit.node IS 'The node (nodes.id) that saw it.';
COMMENT ON COLUMN audit.subject IS 'The token subject, when known.';
COMMENT ON COLUMN audit.channel IS 'The channel concerned, when there is one (not checked).';
COMMENT ON COLUMN audit.remote IS 'The client''s address as the node saw it.';
COMMENT ON COLUMN audit.detail IS 'Anything else, as a JSON object.';

CREATE FUNCTION audit_record(kind text, node text, subject text, channel text, remote text,
                             detail jsonb DEFAULT '{}') RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
BEGIN
    IF kind IS NULL OR kind NOT IN ('connect', 'disconnect', 'auth_failure', 'publish') THEN
        RAISE EXCEPTION 'invalid parameter: kind must be connect, disconnect, auth_failure '
                        'or publish, not %', coalesce(to_json(kind)::text, 'null')
            USING ERRCODE = 'SB008';
    END IF;
    IF jsonb_typeof(coalesce(detail, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'invalid data: detail must be a JSON object' USING ERRCODE = 'SB004';
    END IF;
    -- Texts come from the network: bound them rather than reject the record.
    INSERT INTO audit (kind, node, subject, channel, remote, detail)
    VALUES (audit_record.kind, left(audit_record.node, 128), left(audit_record.subject, 256),
            left(audit_record.channel, 256), left(audit_record.remote, 256),
            coalesce(audit_record.detail, '{}'));
END
$$;
COMMENT ON FUNCTION audit_record(text, text, text, text, text, jsonb) IS
    'Appends an audit row. node, subject, channel and remote are cut to 128/256 bytes. '
    'Errors: SB008 (kind), SB004 (detail not an object).';

CREATE FUNCTION prune_audit(older_than interval DEFAULT '90 days') RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF older_than IS NULL OR older_than <= interval '0' THEN
        RAISE EXCEPTION 'invalid parameter: older_than must be positive' USING ERRCODE = 'SB008';
    END IF;
    DELETE FROM audit a WHERE a.at < now() - older_than;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION prune_audit(interval) IS
    'Deletes audit rows older than older_than (default 90 days); returns how many. Owner only.';

-- --- nodes and presence ---------------------------------------------------------------

CREATE TABLE nodes (
    id            text PRIMARY KEY CONSTRAINT nodes_id_valid
                      CHECK (octet_length(id) BETWEEN 1 AND 128 AND sender_valid(id)),
    kind          text NOT NULL CONSTRAINT nodes_kind_valid CHECK (kind IN ('wsd', 'fcgi')),
    host          text NOT NULL DEFAULT '',
    pid           integer,
    started_at    timestamptz NOT NULL DEFAULT now(),
    seen_at       timestamptz NOT NULL DEFAULT now(),
    connections   integer NOT NULL DEFAULT 0 CHECK (connections >= 0),
    subscriptions integer NOT NULL DEFAULT 0 CHECK (subscriptions >= 0),
    detail        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object')
);
CREATE INDEX nodes_seen_at_idx ON nodes (seen_at);
COMMENT ON TABLE nodes IS
    'Every wsd and fcgi process, refreshed by node_heartbeat(). A node whose seen_at is '
    'older than 60 seconds counts as gone (live_nodes); prune_nodes() removes it and its presence.';
COMMENT ON COLUMN nodes.id IS 'Chosen by the process, unique in the cluster, e.g. wsd@host:8080.';
COMMENT ON COLUMN nodes.kind IS 'wsd or fcgi.';
COMMENT ON COLUMN nodes.started_at IS 'First heartbeat of this process (reset when pid changes).';
COMMENT ON COLUMN nodes.seen_at IS 'Last heartbeat.';
COMMENT ON COLUMN nodes.connections IS 'Open client connections (WebSocket, SSE, parked long-polls).';
COMMENT ON COLUMN nodes.subscriptions IS 'Channel subscriptions over all its connections.';

CREATE TABLE presence (
    node      text NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    conn      text NOT NULL CONSTRAINT presence_conn_length CHECK (octet_length(conn) BETWEEN 1 AND 128),
    channel   text NOT NULL CONSTRAINT presence_channel_valid CHECK (channel_valid(channel)),
    subject   text NOT NULL CONSTRAINT presence_subject_valid CHECK (sender_valid(subject)),
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node, conn, channel)
);
CREATE INDEX presence_channel_idx ON presence (channel);
COMMENT ON TABLE presence IS
    'Who is connected to which channel: one row per (node, connection, channel). '
    'Rows of a node disappear with it.';
COMMENT ON COLUMN presence.conn IS 'The connection''s id within its node.';
COMMENT ON COLUMN presence.subject IS 'Who: <role>:<sub> as in the event sender.';

-- A node is live when it sent a heartbeat within this long.
CREATE FUNCTION node_timeout() RETURNS interval
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN interval '60 seconds';
COMMENT ON FUNCTION node_timeout() IS
    'How long a node counts as live after its last heartbeat (60 seconds).';

-- Send presence.join / presence.leave when the channel's namespace has presence.
CREATE FUNCTION presence_signal(what text, node text, conn text, channel text, subject text)
    RETURNS void
    LANGUAGE plpgsql SET search_path = switchboard, pg_temp
AS $$
DECLARE
    remaining integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM namespaces ns
                    WHERE ns.name = split_part(presence_signal.channel, ':', 1)
                      AND ns.presence) THEN
        RETURN;
    END IF;
    SELECT count(*) INTO remaining
      FROM presence p JOIN nodes n ON n.id = p.node
     WHERE p.channel = presence_signal.channel AND p.subject = presence_signal.subject
       AND n.seen_at >= now() - node_timeout();
    PERFORM signal(presence_signal.channel, 'presence.' || what,
                   jsonb_build_object('subject', presence_signal.subject,
                                      'node', presence_signal.node,
                                      'conn', presence_signal.conn,
                                      'connections', remaining),
                   'system:presence');
END
$$;
COMMENT ON FUNCTION presence_signal(text, text, text, text, text) IS
    'Signals presence.<what> on channel (if its namespace has presence) with data '
    '{"subject","node","conn","connections"}; connections counts the subject''s live '
    'connections to the channel after the change.';

CREATE FUNCTION node_heartbeat(id text, kind text, host text, pid integer, connections integer,
                               subscriptions integer, detail jsonb DEFAULT '{}') RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
DECLARE
    old_pid integer;
    r record;
BEGIN
    IF node_heartbeat.id IS NULL OR NOT sender_valid(node_heartbeat.id) THEN
        RAISE EXCEPTION 'invalid parameter: node id must be 1 to 128 bytes without control characters'
            USING ERRCODE = 'SB008';
    END IF;
    IF node_heartbeat.kind IS NULL OR node_heartbeat.kind NOT IN ('wsd', 'fcgi') THEN
        RAISE EXCEPTION 'invalid parameter: kind must be wsd or fcgi' USING ERRCODE = 'SB008';
    END IF;
    IF coalesce(node_heartbeat.connections, 0) < 0 OR coalesce(node_heartbeat.subscriptions, 0) < 0 THEN
        RAISE EXCEPTION 'invalid parameter: connections and subscriptions must be >= 0'
            USING ERRCODE = 'SB008';
    END IF;
    IF jsonb_typeof(coalesce(node_heartbeat.detail, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'invalid data: detail must be a JSON object' USING ERRCODE = 'SB004';
    END IF;

    SELECT n.pid INTO old_pid FROM nodes n WHERE n.id = node_heartbeat.id FOR UPDATE;
    IF FOUND AND old_pid IS DISTINCT FROM node_heartbeat.pid THEN
        -- The id was reused by a new process: the old one's connections are gone.
        FOR r IN DELETE FROM presence p WHERE p.node = node_heartbeat.id RETURNING p.* LOOP
            PERFORM presence_signal('leave', r.node, r.conn, r.channel, r.subject);
        END LOOP;
    END IF;
    INSERT INTO nodes AS n (id, kind, host, pid, connections, subscriptions, detail)
    VALUES (node_heartbeat.id, node_heartbeat.kind, coalesce(node_heartbeat.host, ''),
            node_heartbeat.pid, coalesce(node_heartbeat.connections, 0),
            coalesce(node_heartbeat.subscriptions, 0), coalesce(node_heartbeat.detail, '{}'))
    ON CONFLICT ON CONSTRAINT nodes_pkey DO UPDATE
       SET kind = EXCLUDED.kind, host = EXCLUDED.host, pid = EXCLUDED.pid,
           started_at = CASE WHEN n.pid IS DISTINCT FROM EXCLUDED.pid
                             THEN now() ELSE n.started_at END,
           seen_at = now(), connections = EXCLUDED.connections,
           subscriptions = EXCLUDED.subscriptions, detail = EXCLUDED.detail;
END
$$;
COMMENT ON FUNCTION node_heartbeat(text, text, text, integer, integer, integer, jsonb) IS
    'Registers or refreshes a node (call it every few seconds). When the id comes back '
    'with another pid, the previous process''s presence rows are dropped (with leave '
    'signals). Errors: SB008, SB004 (detail).';

CREATE FUNCTION node_drop(ids text[]) RETURNS integer
    LANGUAGE plpgsql SET search_path = switchboard, pg_temp
AS $$
DECLARE
    r record;
    n integer;
BEGIN
    FOR r IN DELETE FROM presence p WHERE p.node = ANY (ids) RETURNING p.* LOOP
        PERFORM presence_signal('leave', r.node, r.conn, r.channel, r.subject);
    END LOOP;
    DELETE FROM nodes n WHERE n.id = ANY (ids);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION node_drop(text[]) IS
    'Deletes nodes and their presence rows, signalling presence.leave for each; returns how many nodes.';

CREATE FUNCTION node_gone(id text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
BEGIN
    PERFORM node_drop(ARRAY[node_gone.id]);
END
$$;
COMMENT ON FUNCTION node_gone(text) IS
    'A node shuts down: removes it and its presence rows (signalling presence.leave).';

CREATE FUNCTION prune_nodes(max_age interval DEFAULT '60 seconds') RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
BEGIN
    IF max_age IS NULL OR max_age <= interval '0' THEN
        RAISE EXCEPTION 'invalid parameter: max_age must be positive' USING ERRCODE = 'SB008';
    END IF;
    RETURN node_drop(ARRAY(SELECT n.id FROM nodes n WHERE n.seen_at < now() - max_age
                            ORDER BY n.id));
END
$$;
COMMENT ON FUNCTION prune_nodes(interval) IS
    'Removes nodes without a heartbeat for max_age (default 60 seconds) and their '
    'presence rows (signalling presence.leave); returns how many nodes.';

CREATE FUNCTION presence_join(node text, conn text, channel text, subject text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
BEGIN
    PERFORM check_channel(presence_join.channel);
    IF presence_join.subject IS NULL OR NOT sender_valid(presence_join.subject) THEN
        RAISE EXCEPTION 'invalid sender: subject must be 1 to 128 bytes without control characters'
            USING ERRCODE = 'SB007';
    END IF;
    IF presence_join.conn IS NULL OR octet_length(presence_join.conn) NOT BETWEEN 1 AND 128 THEN
        RAISE EXCEPTION 'invalid parameter: conn must be 1 to 128 bytes' USING ERRCODE = 'SB008';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = presence_join.node) THEN
        RAISE EXCEPTION 'not found: no node % (send node_heartbeat first)',
            coalesce(to_json(presence_join.node)::text, 'null') USING ERRCODE = 'SB011';
    END IF;
    INSERT INTO presence (node, conn, channel, subject)
    VALUES (presence_join.node, presence_join.conn, presence_join.channel, presence_join.subject)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        PERFORM presence_signal('join', presence_join.node, presence_join.conn,
                                presence_join.channel, presence_join.subject);
    END IF;
END
$$;
COMMENT ON FUNCTION presence_join(text, text, text, text) IS
    'Records that connection conn of node is on channel as subject, and signals '
    'presence.join when the namespace has presence (not again for a repeated join). '
    'Errors: SB001, SB002, SB007 (subject), SB008 (conn), SB011 (unknown node).';

CREATE FUNCTION presence_leave(node text, conn text, channel text DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    FOR r IN DELETE FROM presence p
              WHERE p.node = presence_leave.node AND p.conn = presence_leave.conn
                AND (presence_leave.channel IS NULL OR p.channel = presence_leave.channel)
             RETURNING p.* LOOP
        PERFORM presence_signal('leave', r.node, r.conn, r.channel, r.subject);
    END LOOP;
END
$$;
COMMENT ON FUNCTION presence_leave(text, text, text) IS
    'Connection conn of node left channel (every channel when channel is NULL, e.g. on '
    'disconnect); signals presence.leave for each row removed.';

CREATE FUNCTION presence_list(channel text)
    RETURNS TABLE (subject text, node text, conn text, joined_at timestamptz)
    STABLE LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM check_channel(presence_list.channel);
    RETURN QUERY
        SELECT p.subject, p.node, p.conn, p.joined_at
          FROM presence p JOIN nodes n ON n.id = p.node
         WHERE p.channel = presence_list.channel
           AND n.seen_at >= now() - node_timeout()
         ORDER BY p.joined_at, p.subject, p.node, p.conn;
END
$$;
COMMENT ON FUNCTION presence_list(text) IS
    'Who is on channel now: one row per connection on a live node, oldest join first. '
    'Errors: SB001, SB002.';

-- --- retention --------------------------------------------------------------------------

CREATE FUNCTION prune_events() RETURNS TABLE (channel text, deleted bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r record;
    cut bigint;
    keep_from bigint;
    n bigint;
    names text[] := '{}';
    cuts bigint[] := '{}';
    counts bigint[] := '{}';
BEGIN
    -- One pruner at a time.
    PERFORM pg_advisory_xact_lock(hashtext('switchboard.prune_events'));
    FOR r IN
        SELECT c.name, c.last_seq, c.pruned_seq, ns.retention, ns.max_events
          FROM channels c JOIN namespaces ns ON ns.name = c.namespace
         WHERE (ns.retention IS NOT NULL OR ns.max_events IS NOT NULL)
           AND c.last_seq > c.pruned_seq
         ORDER BY c.name
    LOOP
        cut := r.pruned_seq;
        IF r.max_events IS NOT NULL THEN
            cut := greatest(cut, r.last_seq - r.max_events);
        END IF;
        IF r.retention IS NOT NULL THEN
            -- Keep everything from the first event young enough to keep: the
            -- pruned part stays a prefix (seq <= pruned_seq), so readers can
            -- tell exactly what is gone.
            SELECT e.seq - 1 INTO keep_from FROM events e
             WHERE e.channel = r.name AND e.seq > r.pruned_seq
               AND e.created_at >= now() - r.retention
             ORDER BY e.seq LIMIT 1;
            cut := greatest(cut, coalesce(keep_from, r.last_seq));
        END IF;
        CONTINUE WHEN cut <= r.pruned_seq;
        DELETE FROM events e WHERE e.channel = r.name AND e.seq > r.pruned_seq AND e.seq <= cut;
        GET DIAGNOSTICS n = ROW_COUNT;
        names := names || r.name;
        cuts := cuts || cut;
        counts := counts || n;
    END LOOP;

    -- Deleting takes no counter lock, so publishers go on meanwhile. The
    -- counters are locked only now, in name order like every writer does,
    -- and held just until commit.
    IF cardinality(names) > 0 THEN
        PERFORM lock_channels(names);
        UPDATE channels c SET pruned_seq = greatest(c.pruned_seq, v.cut)
          FROM unnest(names, cuts) AS v(name, cut)
         WHERE c.name = v.name;
    END IF;
    RETURN QUERY SELECT v.name, v.n FROM unnest(names, counts) AS v(name, n);
END
$$;
COMMENT ON FUNCTION prune_events() IS
    'Retention: per namespace policy (namespaces.retention, namespaces.max_events) deletes '
    'the oldest events of each channel and raises channels.pruned_seq. last_seq is never '
    'touched, so seqs never restart. Returns (channel, deleted) for each channel pruned. '
    'Counter rows are locked only at the end, so publishing goes on while it deletes. '
    'Owner only; run it from cron or a timer, e.g. psql -c ''SELECT * FROM switchboard.prune_events()''.';

-- --- views --------------------------------------------------------------------------------

CREATE VIEW event_log AS
SELECT e.channel, e.seq, e.id, e.type, e.sender, e.created_at AS time, e.data,
       event_json(e.channel, e.seq, e.id, e.type, e.sender, e.created_at, e.data) AS event
  FROM events e;
COMMENT ON VIEW event_log IS
    'Every stored event with its JSON as delivered to clients. Filter by channel (and seq) '
    'to use the primary key: SELECT event FROM switchboard.event_log WHERE channel = '
    '''chat:a'' AND seq > 100 ORDER BY seq;';
COMMENT ON COLUMN event_log.event IS 'The event JSON, byte for byte as every path sends it.';

CREATE VIEW recent_chat AS
SELECT e.created_at AS time, e.channel, e.seq, e.sender, e.type,
       e.data ->> 'text' AS text, e.data, e.id
  FROM channels c
 CROSS JOIN LATERAL (
        SELECT * FROM events x
         WHERE x.channel = c.name AND x.seq > c.last_seq - 100
         ORDER BY x.seq DESC) AS e
 WHERE c.namespace = 'chat'
   AND c.updated_at > now() - interval '24 hours'
   AND e.created_at > now() - interval '24 hours'
 ORDER BY e.created_at DESC, e.channel, e.seq DESC;
COMMENT ON VIEW recent_chat IS
    'Chat events of the last 24 hours, newest first, at most the newest 100 per channel; '
    'text is data->>''text''.';

CREATE VIEW live_nodes AS
SELECT n.id, n.kind, n.host, n.pid, n.started_at, n.seen_at,
       now() - n.started_at AS uptime, n.connections, n.subscriptions, n.detail
  FROM nodes n
 WHERE n.seen_at >= now() - node_timeout()
 ORDER BY n.kind, n.id;
COMMENT ON VIEW live_nodes IS
    'Nodes that sent a heartbeat in the last 60 seconds, with their connection counts.';

CREATE VIEW connected AS
SELECT p.channel, p.subject, p.node, p.conn, p.joined_at, n.kind, n.host
  FROM presence p JOIN nodes n ON n.id = p.node
 WHERE n.seen_at >= now() - node_timeout()
 ORDER BY p.channel, p.joined_at, p.subject;
COMMENT ON VIEW connected IS
    'Who is connected to which channel, on live nodes: one row per connection and channel.';

CREATE VIEW channel_summary AS
SELECT c.name AS channel, c.namespace, c.last_seq, c.pruned_seq,
       c.last_seq - c.pruned_seq AS stored,
       c.created_at, c.updated_at AS last_publish,
       coalesce(pc.connections, 0) AS connections,
       coalesce(pc.subjects, 0) AS subjects
  FROM channels c
  LEFT JOIN (SELECT p.channel, count(*) AS connections, count(DISTINCT p.subject) AS subjects
               FROM presence p JOIN nodes n ON n.id = p.node
              WHERE n.seen_at >= now() - node_timeout()
              GROUP BY p.channel) AS pc ON pc.channel = c.name
 ORDER BY c.updated_at DESC;
COMMENT ON VIEW channel_summary IS
    'Every channel: its seq counters, how many events are stored (last_seq - pruned_seq), '
    'when it was last published to, and how many connections and subjects are present.';
COMMENT ON COLUMN channel_summary.stored IS 'Events kept: seqs pruned_seq+1 .. last_seq.';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA switchboard FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA switchboard FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    audit_record(text, text, text, text, text, jsonb),
    node_heartbeat(text, text, text, integer, integer, integer, jsonb),
    node_gone(text),
    prune_nodes(interval),
    presence_join(text, text, text, text),
    presence_leave(text, text, text)
    TO switchboard_app;
GRANT EXECUTE ON FUNCTION
    presence_list(text),
    node_timeout()
    TO switchboard_app, switchboard_reader;
GRANT SELECT ON event_log, recent_chat, live_nodes, connected, channel_summary
    TO switchboard_app, switchboard_reader;
