-- 13_tasks_read.sql: task_get() and task_list(): the task shape, newest
-- first, paging by task id, the state filter, bad parameters, privileges.
BEGIN;
SELECT plan(26);

SELECT has_function('switchboard', 'task_get', ARRAY['uuid'], 'task_get(uuid) exists');
SELECT has_function('switchboard', 'task_list', ARRAY['text', 'text', 'integer', 'uuid'],
                    'task_list(text, text, integer, uuid) exists');
SELECT is_definer('switchboard', 'task_get', ARRAY['uuid']::name[], 'task_get is SECURITY DEFINER');
SELECT is_definer('switchboard', 'task_list', ARRAY['text', 'text', 'integer', 'uuid']::name[],
                  'task_list is SECURITY DEFINER');
SELECT has_index('switchboard', 'tasks', 'tasks_channel_created_idx',
                 'tasks are indexed by channel, newest first');

-- Five tasks: 'one' and 'two' made older (with the triggers, which keep
-- created_at, switched off for that); three made together share one time
-- and are ordered by id.
CREATE TEMP TABLE t (n integer PRIMARY KEY, id uuid);
INSERT INTO t VALUES (1, switchboard.task_create('workflow:t13', 'one', '{"k": [1, 2]}'));
INSERT INTO t VALUES (2, switchboard.task_create('workflow:t13', 'two'));
SET LOCAL session_replication_role = replica;
UPDATE switchboard.tasks SET created_at = now() - interval '5 minutes' WHERE id = (SELECT id FROM t WHERE n = 1);
UPDATE switchboard.tasks SET created_at = now() - interval '4 minutes' WHERE id = (SELECT id FROM t WHERE n = 2);
SET LOCAL session_replication_role = origin;
INSERT INTO t SELECT 2 + g, switchboard.task_create('workflow:t13', 'same ' || g) FROM generate_series(1, 3) g;
SELECT switchboard.task_update((SELECT id FROM t WHERE n = 2), 'active', 'step a');
SELECT switchboard.task_update((SELECT id FROM t WHERE n = 2), 'failed', NULL, 'boom');
INSERT INTO t VALUES (9, switchboard.task_create('workflow:t13-other', 'elsewhere'));

SELECT is(
    (SELECT array_agg(k ORDER BY o) FROM json_object_keys(switchboard.task_get((SELECT id FROM t WHERE n = 1)))
                                          WITH ORDINALITY AS x(k, o)),
    ARRAY['id', 'channel', 'title', 'state', 'current_step', 'error', 'metadata', 'created_at',
          'started_at', 'finished_at', 'updated_at'],
    'task_get has the members of the task shape, in order');
SELECT is(switchboard.task_get((SELECT id FROM t WHERE n = 1))::jsonb
              - 'created_at' - 'updated_at',
          jsonb_build_object('id', (SELECT id FROM t WHERE n = 1), 'channel', 'workflow:t13',
                             'title', 'one', 'state', 'queued', 'current_step', NULL,
                             'error', NULL, 'metadata', '{"k": [1, 2]}'::jsonb,
                             'started_at', NULL, 'finished_at', NULL),
          'task_get: a queued task, nulls as JSON null, metadata as stored');
SELECT matches(switchboard.task_get((SELECT id FROM t WHERE n = 1)) ->> 'created_at',
               '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$', 'times are RFC 3339 UTC with microseconds');
SELECT is((SELECT (j ->> 'state', j ->> 'current_step', j ->> 'error', j ->> 'started_at' IS NOT NULL,
                   j ->> 'finished_at' IS NOT NULL)::text
             FROM switchboard.task_get((SELECT id FROM t WHERE n = 2)) AS j),
          '(failed,"step a",boom,t,t)', 'task_get: a failed task with its step, error and times');
SELECT is(switchboard.task_get(switchboard.task_create('workflow:t13-other', 'fresh')) ->> 'title',
          'fresh', 'task_get sees a task created in the same statement');
SELECT throws_ok($$SELECT switchboard.task_get('00000000-0000-4000-8000-000000000000')$$,
                 'SB011', NULL, 'task_get of an unknown id is SB011');

SELECT is((SELECT array_agg(x ->> 'title' ORDER BY o)
             FROM json_array_elements(switchboard.task_list('workflow:t13') -> 'tasks')
                  WITH ORDINALITY AS a(x, o)),
          (SELECT array_agg(title ORDER BY created_at DESC, id DESC) FROM switchboard.tasks
            WHERE channel = 'workflow:t13'),
          'task_list: every task of the channel, newest first (ties by id)');
SELECT is((SELECT (x #>> '{tasks,4,title}') || ' ' || (x #>> '{tasks,3,title}') FROM switchboard.task_list('workflow:t13') x),
          'one two', 'the oldest come last');
SELECT is(switchboard.task_list('workflow:t13') ->> 'more', 'false', 'one page: more is false');
SELECT is(json_array_length(switchboard.task_list('workflow:t13', NULL, 2) -> 'tasks'), 2,
          'max bounds the page');
SELECT is(switchboard.task_list('workflow:t13', NULL, 2) ->> 'more', 'true', 'more is true before the end');

-- Paging: page after page with after = the last id returned gives each task once.
SELECT is((WITH RECURSIVE pages(k, page, last) AS (
               SELECT 1, switchboard.task_list('workflow:t13', NULL, 2),
                      (switchboard.task_list('workflow:t13', NULL, 2) #>> '{tasks,1,id}')::uuid
             UNION ALL
               SELECT k + 1, switchboard.task_list('workflow:t13', NULL, 2, last),
                      (SELECT (x -> 'tasks' -> (json_array_length(x -> 'tasks') - 1) ->> 'id')::uuid
                         FROM switchboard.task_list('workflow:t13', NULL, 2, last) x)
                 FROM pages WHERE (page ->> 'more')::boolean AND k < 10)
           SELECT array_agg(e ->> 'title' ORDER BY k, o)
             FROM pages, json_array_elements(page -> 'tasks') WITH ORDINALITY AS a(e, o)),
          (SELECT array_agg(title ORDER BY created_at DESC, id DESC) FROM switchboard.tasks
            WHERE channel = 'workflow:t13'),
          'paging by after visits every task once, in order');
SELECT is(switchboard.task_list('workflow:t13', NULL, 100, (SELECT id FROM t WHERE n = 1))::text,
          '{"tasks":[],"more":false}', 'after the oldest: an empty last page');

SELECT is((SELECT array_agg(x ->> 'title')
             FROM json_array_elements(switchboard.task_list('workflow:t13', 'failed') -> 'tasks') x),
          ARRAY['two'], 'state filters');
SELECT is(switchboard.task_list('workflow:t13-none')::text, '{"tasks":[],"more":false}',
          'a channel without tasks: an empty page');

SELECT throws_ok($$SELECT switchboard.task_list('workflow:t13', 'sleeping')$$, 'SB008',
                 NULL, 'an unknown state is SB008');
SELECT throws_ok($$SELECT switchboard.task_list('workflow:t13', NULL, 0)$$, 'SB008', NULL,
                 'max 0 is SB008');
SELECT throws_ok($$SELECT switchboard.task_list('workflow:t13', NULL, 1001)$$, 'SB008', NULL,
                 'max 1001 is SB008');
SELECT throws_ok(format($$SELECT switchboard.task_list('workflow:t13', NULL, 10, %L)$$,
                        (SELECT id FROM t WHERE n = 9)),
                 'SB008', NULL, 'after naming a task of another channel is SB008');
SELECT throws_ok($$SELECT switchboard.task_list('nowhere:x')$$, 'SB002', NULL,
                 'an unknown namespace is SB002');

SELECT ok(has_function_privilege('switchboard_reader', 'switchboard.task_list(text, text, integer, uuid)',
                                 'EXECUTE')
          AND has_function_privilege('switchboard_app', 'switchboard.task_get(uuid)', 'EXECUTE')
          AND NOT has_function_privilege('switchboard_app', 'switchboard.task_json(switchboard.tasks)',
                                         'EXECUTE'),
          'the app and reader roles read tasks through the functions only');

SELECT * FROM finish();
ROLLBACK;
