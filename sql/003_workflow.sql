-- 003_workflow.sql: workflow tasks and their statistics. A task lives on a
-- channel (workflow:onboarding) and moves queued -> active -> completed,
-- failed or cancelled (queued may also go straight to cancelled or failed);
-- terminal states are final. Every statement that changes tasks publishes
-- one durable workflow.stats event per touched channel whose data is
-- workflow_stats(channel), so dashboards show real numbers, live.

SET LOCAL client_min_messages = warning;
SET LOCAL ROLE switchboard_owner;
SET LOCAL search_path = switchboard, pg_temp;

CREATE TABLE tasks (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    channel      text NOT NULL REFERENCES channels (name),
    title        text NOT NULL CONSTRAINT tasks_title_length
                     CHECK (octet_length(title) BETWEEN 1 AND 4096),
    state        text NOT NULL DEFAULT 'queued' CONSTRAINT tasks_state_valid
                     CHECK (state IN ('queued', 'active', 'completed', 'failed', 'cancelled')),
    current_step text CONSTRAINT tasks_current_step_length
                     CHECK (octet_length(current_step) <= 4096),
    error        text CONSTRAINT tasks_error_length CHECK (octet_length(error) <= 4096),
    metadata     jsonb NOT NULL DEFAULT '{}' CONSTRAINT tasks_metadata_object
                     CHECK (jsonb_typeof(metadata) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tasks_finished_iff_terminal
        CHECK ((state IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);
CREATE INDEX tasks_channel_state_idx ON tasks (channel, state);
COMMENT ON TABLE tasks IS
    'Workflow tasks. Change them with task_create()/task_update() (or plain DML as the '
    'owner): a trigger enforces the state rules and timestamps, another publishes '
    'workflow.stats on the task''s channel after every statement.';
COMMENT ON COLUMN tasks.channel IS 'The workflow channel the task belongs to, e.g. workflow:onboarding.';
COMMENT ON COLUMN tasks.state IS
    'queued -> active -> completed | failed | cancelled; queued -> cancelled | failed. '
    'Terminal states are final.';
COMMENT ON COLUMN tasks.current_step IS 'Free text: what the task is doing now.';
COMMENT ON COLUMN tasks.error IS 'Why the task failed, when it did.';
COMMENT ON COLUMN tasks.started_at IS 'Set when the task becomes active.';
COMMENT ON COLUMN tasks.finished_at IS 'Set when the task reaches a terminal state.';
COMMENT ON COLUMN tasks.updated_at IS 'Set on every change.';

CREATE FUNCTION task_state_terminal(state text) RETURNS boolean
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN state IN ('completed', 'failed', 'cancelled');
COMMENT ON FUNCTION task_state_terminal(text) IS
    'True for completed, failed and cancelled: states a task never leaves.';

CREATE FUNCTION task_transition_allowed(from_state text, to_state text) RETURNS boolean
    IMMUTABLE PARALLEL SAFE LANGUAGE sql
RETURN (from_state = 'queued' AND to_state IN ('active', 'failed', 'cancelled'))
    OR (from_state = 'active' AND to_state IN ('completed', 'failed', 'cancelled'));
COMMENT ON FUNCTION task_transition_allowed(text, text) IS
    'The task state machine: queued -> active | failed | cancelled, '
    'active -> completed | failed | cancelled.';

-- Row trigger: state rules and timestamps.
CREATE FUNCTION tasks_before_write() RETURNS trigger
    LANGUAGE plpgsql SET search_path = switchboard, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF task_state_terminal(OLD.state) THEN
            RAISE EXCEPTION 'invalid transition: task % is %, a final state', OLD.id, OLD.state
                USING ERRCODE = 'SB012';
        END IF;
        IF NEW.state <> OLD.state AND NOT task_transition_allowed(OLD.state, NEW.state) THEN
            RAISE EXCEPTION 'invalid transition: task % cannot go from % to %',
                OLD.id, OLD.state, NEW.state USING ERRCODE = 'SB012';
        END IF;
        NEW.created_at := OLD.created_at;
        NEW.started_at := CASE WHEN NEW.state = 'active' AND OLD.state <> 'active'
                               THEN now() ELSE OLD.started_at END;
        NEW.finished_at := CASE WHEN task_state_terminal(NEW.state) THEN now() END;
    ELSE
        NEW.created_at := now();
        IF NEW.state IN ('active', 'completed') THEN
            NEW.started_at := coalesce(NEW.started_at, now());
        END IF;
        NEW.finished_at := CASE WHEN task_state_terminal(NEW.state)
                                THEN coalesce(NEW.finished_at, now()) END;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION tasks_before_write() IS
    'Trigger: rejects changes to finished tasks and disallowed state changes (SB012); '
    'sets started_at, finished_at and updated_at.';

CREATE TRIGGER tasks_before_write BEFORE INSERT OR UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_before_write();

CREATE FUNCTION workflow_stats(channel text) RETURNS jsonb
    STABLE LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    PERFORM check_channel(workflow_stats.channel);
    SELECT jsonb_build_object(
               'queued', count(*) FILTER (WHERE t.state = 'queued'),
               'active', count(*) FILTER (WHERE t.state = 'active'),
               'completed', count(*) FILTER (WHERE t.state = 'completed'),
               'failed', count(*) FILTER (WHERE t.state = 'failed'),
               'cancelled', count(*) FILTER (WHERE t.state = 'cancelled'),
               'total', count(*),
               'current_task', (
                   SELECT jsonb_build_object('id', a.id, 'title', a.title,
                                             'current_step', a.current_step,
                                             'started_at', time_text(a.started_at))
                     FROM tasks a
                    WHERE a.channel = workflow_stats.channel AND a.state = 'active'
                    ORDER BY a.started_at DESC, a.id
                    LIMIT 1))
      INTO result
      FROM tasks t
     WHERE t.channel = workflow_stats.channel;
    RETURN result;
END
$$;
COMMENT ON FUNCTION workflow_stats(text) IS
    'Task counts of a channel: {"queued","active","completed","failed","cancelled",'
    '"total","current_task"}; current_task is the most recently started active task '
    '{"id","title","current_step","started_at"} or null. Errors: SB001, SB002.';

-- Statement trigger: one workflow.stats event per channel the statement touched.
CREATE FUNCTION tasks_publish_stats() RETURNS trigger
    LANGUAGE plpgsql SET search_path = switchboard, pg_temp
AS $$
DECLARE
    names text[];
    i integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT n.channel ORDER BY n.channel) INTO names FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(DISTINCT x.channel ORDER BY x.channel) INTO names
          FROM (SELECT n.channel FROM new_rows n UNION SELECT o.channel FROM old_rows o) AS x;
    ELSE
        SELECT array_agg(DISTINCT o.channel ORDER BY o.channel) INTO names FROM old_rows o;
    END IF;
    IF names IS NULL THEN
        RETURN NULL;
    END IF;
    -- Lock the channels first and count afterwards: a concurrent change of
    -- the same channel has then committed, so the numbers published last
    -- include it.
    PERFORM lock_channels(names);
    FOR i IN 0 .. (cardinality(names) - 1) / 1000 LOOP
        PERFORM publish_batch((
            SELECT jsonb_agg(jsonb_build_object(
                       'channel', c.name, 'type', 'workflow.stats',
                       'data', workflow_stats(c.name), 'sender', 'system:workflow')
                       ORDER BY c.name)
              FROM unnest(names[i * 1000 + 1 : i * 1000 + 1000]) AS c(name)));
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION tasks_publish_stats() IS
    'Trigger: after each statement on tasks, publishes one workflow.stats event '
    '(sender system:workflow, data workflow_stats(channel)) per touched channel.';

CREATE TRIGGER tasks_stats_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_publish_stats();
CREATE TRIGGER tasks_stats_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_publish_stats();
CREATE TRIGGER tasks_stats_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tasks_publish_stats();

CREATE FUNCTION task_create(channel text, title text, metadata jsonb DEFAULT '{}',
                            id uuid DEFAULT NULL) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
DECLARE
    new_id uuid := coalesce(task_create.id, gen_random_uuid());
    existing text;
BEGIN
    PERFORM check_channel(task_create.channel);
    IF task_create.title IS NULL OR octet_length(task_create.title) NOT BETWEEN 1 AND 4096 THEN
        RAISE EXCEPTION 'invalid parameter: title must be 1 to 4096 bytes'
            USING ERRCODE = 'SB008';
    END IF;
    IF jsonb_typeof(coalesce(task_create.metadata, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'invalid data: metadata must be a JSON object' USING ERRCODE = 'SB004';
    END IF;
    PERFORM lock_channels(ARRAY[task_create.channel]);
    INSERT INTO tasks AS t (id, channel, title, metadata)
    VALUES (new_id, task_create.channel, task_create.title,
            coalesce(task_create.metadata, '{}'))
    ON CONFLICT ON CONSTRAINT tasks_pkey DO NOTHING;
    IF NOT FOUND THEN
        -- A retry with the same id: fine on the same channel.
        SELECT t.channel INTO existing FROM tasks t WHERE t.id = new_id;
        IF existing IS DISTINCT FROM task_create.channel THEN
            RAISE EXCEPTION 'invalid parameter: task % already exists on channel %',
                new_id, existing USING ERRCODE = 'SB008';
        END IF;
    END IF;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION task_create(text, text, jsonb, uuid) IS
    'Creates a queued task on channel and returns its id (given or generated). '
    'Creating an id that exists on the same channel again changes nothing. '
    'Errors: SB001, SB002, SB004 (metadata), SB008 (title, id used on another channel).';

CREATE FUNCTION task_update(id uuid, state text DEFAULT NULL, current_step text DEFAULT NULL,
                            error text DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
BEGIN
    IF task_update.state IS NOT NULL AND task_update.state NOT IN
           ('queued', 'active', 'completed', 'failed', 'cancelled') THEN
        RAISE EXCEPTION 'invalid parameter: state must be queued, active, completed, failed '
                        'or cancelled, not %', to_json(task_update.state)::text
            USING ERRCODE = 'SB008';
    END IF;
    IF octet_length(task_update.current_step) > 4096 OR octet_length(task_update.error) > 4096 THEN
        RAISE EXCEPTION 'invalid parameter: current_step and error are at most 4096 bytes'
            USING ERRCODE = 'SB008';
    END IF;
    UPDATE tasks t
       SET state = coalesce(task_update.state, t.state),
           current_step = coalesce(task_update.current_step, t.current_step),
           error = coalesce(task_update.error, t.error)
     WHERE t.id = task_update.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'not found: no task %', coalesce(task_update.id::text, 'null')
            USING ERRCODE = 'SB011';
    END IF;
END
$$;
COMMENT ON FUNCTION task_update(uuid, text, text, text) IS
    'Changes a task: state (when not NULL), current_step and error (when not NULL). '
    'Errors: SB008 (unknown state, text too long), SB011 (no such task), '
    'SB012 (transition not allowed, or the task already finished).';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA switchboard FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA switchboard FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    task_create(text, text, jsonb, uuid),
    task_update(uuid, text, text, text)
    TO switchboard_app;
GRANT EXECUTE ON FUNCTION
    workflow_stats(text),
    task_state_terminal(text),
    task_transition_allowed(text, text)
    TO switchboard_app, switchboard_reader;
