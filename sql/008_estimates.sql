-- 008_estimates: row estimates for the set-returning functions.
--
-- Without them the planner assumes 1,000 rows from every set-returning
-- function, so a read that joins channel_info() to events_after() looks like
-- a million rows: the plan costs past jit_above_cost and PostgreSQL compiles
-- the query with its JIT on every call (about 5 ms each, ten times the read
-- itself). The figures below are what the functions return in practice;
-- they only steer the planner and change no result.

SET LOCAL client_min_messages = warning;
SET LOCAL ROLE switchboard_owner;
SET LOCAL search_path = switchboard, pg_temp;

ALTER FUNCTION channel_info(text) ROWS 1;
ALTER FUNCTION events_after(text, bigint, integer) ROWS 100;
ALTER FUNCTION events_before(text, bigint, integer) ROWS 100;
ALTER FUNCTION publish(text, text, jsonb, text, uuid) ROWS 1;
ALTER FUNCTION publish_batch(jsonb) ROWS 100;
ALTER FUNCTION batch_problem(jsonb, integer) ROWS 1;
ALTER FUNCTION limits() ROWS 20;
ALTER FUNCTION search_activity(text[], text, timestamptz, timestamptz, text, text, integer) ROWS 50;
ALTER FUNCTION presence_list(text) ROWS 20;
ALTER FUNCTION prune_events() ROWS 10;
