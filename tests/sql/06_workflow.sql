-- 06_workflow.sql: tasks, their state machine and timestamps, and the
-- workflow.stats event published after every change.
BEGIN;
SELECT plan(34);

CREATE TEMP TABLE t (name text PRIMARY KEY, id uuid);

INSERT INTO t SELECT 'a', switchboard.task_create('workflow:t06', 'Import users', '{"batch": 7}');
SELECT isnt((SELECT id FROM t WHERE name = 'a'), NULL, 'task_create returns an id');
SELECT results_eq(
    $$SELECT state, current_step, started_at IS NULL, finished_at IS NULL, metadata
        FROM switchboard.tasks WHERE id = (SELECT id FROM t WHERE name = 'a')$$,
    $$VALUES ('queued', NULL::text, true, true, '{"batch": 7}'::jsonb)$$,
    'a new task is queued, not started, not finished');
SELECT results_eq(
    $$SELECT seq, type, sender FROM switchboard.events WHERE channel = 'workflow:t06' ORDER BY seq$$,
    $$VALUES (1::bigint, 'workflow.stats', 'system:workflow')$$,
    'creating a task published one workflow.stats event');
SELECT is((SELECT data FROM switchboard.events WHERE channel = 'workflow:t06' AND seq = 1),
          '{"queued": 1, "active": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 1,
            "current_task": null}'::jsonb,
          'its data is workflow_stats(channel)');

INSERT INTO t SELECT 'b', switchboard.task_create('workflow:t06', 'Send welcome mail');
INSERT INTO t SELECT 'c', switchboard.task_create('workflow:t06', 'Clean up');
INSERT INTO t VALUES ('given', '33333333-3333-4333-8333-333333333333');
SELECT is(switchboard.task_create('workflow:t06', 'Given id', '{}', '33333333-3333-4333-8333-333333333333'),
          '33333333-3333-4333-8333-333333333333'::uuid, 'task_create keeps a given id');
SELECT is(switchboard.task_create('workflow:t06', 'Given id again', '{}', '33333333-3333-4333-8333-333333333333'),
          '33333333-3333-4333-8333-333333333333'::uuid, 'creating it again is a no-op');
SELECT is((SELECT title FROM switchboard.tasks WHERE id = '33333333-3333-4333-8333-333333333333'),
          'Given id', 'the first title stays');
SELECT throws_ok($$SELECT switchboard.task_create('workflow:t06-other', 'x', '{}',
                                                  '33333333-3333-4333-8333-333333333333')$$,
                 'SB008', NULL, 'the same id on another channel is SB008');

-- queued -> active -> completed
SELECT lives_ok(format($$SELECT switchboard.task_update(%L, 'active', 'reading csv')$$,
                       (SELECT id FROM t WHERE name = 'a')), 'queued -> active');
SELECT results_eq(
    format($$SELECT state, current_step, started_at IS NOT NULL, finished_at IS NULL
               FROM switchboard.tasks WHERE id = %L$$, (SELECT id FROM t WHERE name = 'a')),
    $$VALUES ('active', 'reading csv', true, true)$$,
    'an active task has started_at and its step');
SELECT is(switchboard.workflow_stats('workflow:t06') - 'current_task',
          '{"queued": 3, "active": 1, "completed": 0, "failed": 0, "cancelled": 0, "total": 4}'::jsonb,
          'workflow_stats counts per state');
SELECT is((switchboard.workflow_stats('workflow:t06') -> 'current_task') - 'started_at',
          jsonb_build_object('id', (SELECT id FROM t WHERE name = 'a'), 'title', 'Import users',
                             'current_step', 'reading csv'),
          'current_task is the active task');
SELECT matches(switchboard.workflow_stats('workflow:t06') -> 'current_task' ->> 'started_at',
               '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$',
               'current_task.started_at is printed like event times');
SELECT lives_ok(format($$SELECT switchboard.task_update(%L, current_step => 'writing rows')$$,
                       (SELECT id FROM t WHERE name = 'a')), 'changing only the step');
SELECT is((SELECT state || '/' || current_step FROM switchboard.tasks WHERE id = (SELECT id FROM t WHERE name = 'a')),
          'active/writing rows', 'the state stays');
SELECT lives_ok(format($$SELECT switchboard.task_update(%L, 'completed')$$,
                       (SELECT id FROM t WHERE name = 'a')), 'active -> completed');
SELECT is((SELECT finished_at IS NOT NULL FROM switchboard.tasks WHERE id = (SELECT id FROM t WHERE name = 'a')),
          true, 'a completed task has finished_at');

-- Other transitions.
SELECT lives_ok(format($$SELECT switchboard.task_update(%L, 'cancelled')$$,
                       (SELECT id FROM t WHERE name = 'b')), 'queued -> cancelled');
SELECT lives_ok(format($$SELECT switchboard.task_update(%L, 'failed', error => 'no input')$$,
                       (SELECT id FROM t WHERE name = 'c')), 'queued -> failed, with an error');
SELECT is((SELECT error FROM switchboard.tasks WHERE id = (SELECT id FROM t WHERE name = 'c')),
          'no input', 'the error is stored');
SELECT throws_ok(format($$SELECT switchboard.task_update(%L, 'completed')$$,
                        '33333333-3333-4333-8333-333333333333'),
                 'SB012', 'invalid transition: task 33333333-3333-4333-8333-333333333333 cannot go from queued to completed',
                 'queued -> completed is SB012');
SELECT throws_ok(format($$SELECT switchboard.task_update(%L, 'active')$$,
                        (SELECT id FROM t WHERE name = 'a')),
                 'SB012', NULL, 'completed -> active is SB012');
SELECT throws_ok(format($$SELECT switchboard.task_update(%L, current_step => 'again')$$,
                        (SELECT id FROM t WHERE name = 'b')),
                 'SB012', NULL, 'a cancelled task cannot change at all');
SELECT throws_ok(format($$SELECT switchboard.task_update(%L, 'paused')$$,
                        (SELECT id FROM t WHERE name = 'given')),
                 'SB008', NULL, 'an unknown state is SB008');
SELECT throws_ok($$SELECT switchboard.task_update('44444444-4444-4444-8444-444444444444', 'active')$$,
                 'SB011', NULL, 'an unknown task is SB011');
SELECT throws_ok(format($$UPDATE switchboard.tasks SET state = 'queued' WHERE id = %L$$,
                        (SELECT id FROM t WHERE name = 'c')),
                 'SB012', NULL, 'the rules hold for plain UPDATEs too');

-- One stats event per change, the last one matching the table.
SELECT is((SELECT count(*) FROM switchboard.events WHERE channel = 'workflow:t06' AND type = 'workflow.stats'),
          9::bigint, 'one workflow.stats event per task change (4 creates, 5 updates)');
SELECT is((SELECT e.data FROM switchboard.events e WHERE e.channel = 'workflow:t06'
            ORDER BY e.seq DESC LIMIT 1),
          switchboard.workflow_stats('workflow:t06'),
          'the newest stats event matches workflow_stats()');
SELECT is(switchboard.workflow_stats('workflow:t06') - 'current_task',
          '{"queued": 1, "active": 0, "completed": 1, "failed": 1, "cancelled": 1, "total": 4}'::jsonb,
          'final counts');

-- A statement touching two channels publishes once per channel.
INSERT INTO switchboard.channels (name, namespace) VALUES ('workflow:t06-two', 'workflow');
INSERT INTO switchboard.tasks (channel, title)
VALUES ('workflow:t06-two', 'x'), ('workflow:t06-two', 'y'), ('workflow:t06', 'z');
SELECT results_eq(
    $$SELECT channel, count(*) FROM switchboard.events
       WHERE channel IN ('workflow:t06', 'workflow:t06-two') AND type = 'workflow.stats'
       GROUP BY channel ORDER BY channel$$,
    $$VALUES ('workflow:t06', 10::bigint), ('workflow:t06-two', 1::bigint)$$,
    'a three-row INSERT on two channels published one event per channel');
SELECT is((SELECT (e.data ->> 'total')::int FROM switchboard.events e WHERE e.channel = 'workflow:t06-two'),
          2, 'that event counts both new tasks');

SELECT throws_ok($$SELECT switchboard.task_create('nosuch:x', 'x')$$, 'SB002', NULL,
                 'task_create on an unknown namespace is SB002');
SELECT throws_ok($$SELECT switchboard.task_create('workflow:x', '')$$, 'SB008', NULL,
                 'an empty title is SB008');
SELECT throws_ok($$SELECT switchboard.task_create('workflow:x', 't', '[]')$$, 'SB004', NULL,
                 'array metadata is SB004');

SELECT * FROM finish();
ROLLBACK;
