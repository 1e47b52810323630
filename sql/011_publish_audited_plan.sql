-- 011_publish_audited_plan: publish_batch_audited() keeps one plan.
--
-- wsd's group commit calls publish_batch_audited() for every batch, often
-- with a single event when the load is light. Its statement is the same on
-- every call, but the plan cache re-planned it for each call's parameters
-- (custom plans), about 0.1 ms of the 0.6-0.8 ms that one event costs.
-- publish_batch() itself already runs with a generic plan (001, 009).
-- Results, errors and audit rows are unchanged.

SET LOCAL client_min_messages = warning;
SET LOCAL ROLE switchboard_owner;
SET LOCAL search_path = switchboard, pg_temp;

ALTER FUNCTION publish_batch_audited(jsonb, text, jsonb)
    SET plan_cache_mode = force_generic_plan;
