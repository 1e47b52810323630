-- 14_estimates.sql: the planner's row estimates for the set-returning
-- functions keep the daemons' reads cheap to plan and out of the JIT.
BEGIN;
SELECT plan(4);

SELECT is_empty(
    $$SELECT p.oid::regprocedure::text
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'switchboard' AND p.proretset AND p.prorows = 1000$$,
    'every set-returning function of the schema declares a row estimate');

CREATE FUNCTION pg_temp.plan_cost(query text) RETURNS float8
    LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Total Cost')::float8;
END
$$;

-- The long-poll catch-up read of switchboard-fcgi (fcgi/catchup.c).
SELECT cmp_ok(pg_temp.plan_cost($$
    SELECT c.ord, i.last_seq, i.oldest_seq, e.seq, e.event
      FROM unnest('{chat:a,chat:b,activity:main}'::text[], '{1,NULL,7}'::bigint[])
           WITH ORDINALITY AS c(ch, since, ord)
     CROSS JOIN LATERAL switchboard.channel_info(c.ch) AS i
      LEFT JOIN LATERAL switchboard.events_after(c.ch, coalesce(c.since, i.last_seq), 100) AS e
           ON true
     ORDER BY c.ord, e.seq$$),
    '<', current_setting('jit_above_cost')::float8,
    'the catch-up read of three channels is planned below jit_above_cost');

-- History reads (fcgi/history.c), after and before a seq.
SELECT cmp_ok(pg_temp.plan_cost($$
    SELECT i.last_seq, e.seq, e.event FROM switchboard.channel_info('chat:a') i
      LEFT JOIN switchboard.events_after('chat:a', 0, 1000) e ON true$$),
    '<', current_setting('jit_above_cost')::float8,
    'a history read after a seq is planned below jit_above_cost');
SELECT cmp_ok(pg_temp.plan_cost($$
    SELECT i.last_seq, e.seq, e.event FROM switchboard.channel_info('chat:a') i
      LEFT JOIN switchboard.events_before('chat:a', 50, 1000) e ON true$$),
    '<', current_setting('jit_above_cost')::float8,
    'a history read before a seq is planned below jit_above_cost');

SELECT * FROM finish();
ROLLBACK;
