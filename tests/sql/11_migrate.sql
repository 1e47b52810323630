-- 11_migrate.sql: what switchboard-migrate recorded, and what a migration
-- leaves behind.
BEGIN;
SELECT plan(10);

SELECT has_pk('switchboard', 'schema_migrations', 'schema_migrations has a primary key');
SELECT col_is_pk('switchboard', 'schema_migrations', 'version', 'keyed by version');
SELECT results_eq(
    $$SELECT version, name FROM switchboard.schema_migrations ORDER BY version$$,
    $$VALUES ('001', 'foundation'), ('002', 'activity'), ('003', 'workflow'),
             ('004', 'operations'), ('005', 'tokens'), ('006', 'metrics'),
             ('007', 'tasks_read'), ('008', 'estimates'),
             ('009', 'publish_batch_unique'), ('010', 'audit_records'),
             ('011', 'publish_audited_plan')$$,
    'every migration is recorded once, with its name');
SELECT is_empty($$SELECT version FROM switchboard.schema_migrations WHERE applied_at IS NULL
                    OR applied_at > now()$$,
                'every migration has its applied_at');
SELECT ok((SELECT bool_and(a.applied_at <= b.applied_at)
             FROM switchboard.schema_migrations a
             JOIN switchboard.schema_migrations b ON b.version > a.version),
          'migrations were applied in version order');
SELECT throws_ok($$INSERT INTO switchboard.schema_migrations (version, name) VALUES ('1', 'x')$$,
                 '23514', NULL, 'a version is three digits');
SELECT has_extension('pgcrypto', 'pgcrypto is installed (tokens)');
-- The roles are group roles; logins are granted them.
SELECT is_empty($$SELECT rolname FROM pg_roles WHERE rolname LIKE 'switchboard\_%' AND rolcanlogin$$,
                'the switchboard roles cannot log in');
SELECT is((SELECT count(*) FROM pg_namespace WHERE nspname = 'switchboard'), 1::bigint,
          'one switchboard schema');

SELECT ok((SELECT proconfig @> ARRAY['plan_cache_mode=force_generic_plan']
              FROM pg_proc WHERE oid = 'switchboard.publish_batch_audited(jsonb, text, jsonb)'::regprocedure),
          'publish_batch_audited keeps one generic plan (011)');

SELECT * FROM finish();
ROLLBACK;
