-- 010_audit_records: audit records written as a set.
--
-- The daemons keep audit records (connects, disconnects, auth failures) in
-- memory and write them about once a second, up to 250 in one statement.
-- Calling audit_record() once per row cost about 21 us of database time per
-- record, most of it the PL/pgSQL call; a connection storm of 10,000
-- clients made that 0.2 s of database time for the audit trail alone.
-- audit_records() checks the whole array in one pass and inserts it with one
-- INSERT ... SELECT (about 5 us per record). Rows, cuts and errors are those
-- of audit_record().

SET LOCAL client_min_messages = warning;
SET LOCAL ROLE switchboard_owner;
SET LOCAL search_path = switchboard, pg_temp;

CREATE FUNCTION audit_records(records jsonb) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = switchboard, pg_temp
AS $$
DECLARE
    bad record;
    n bigint;
BEGIN
    IF jsonb_typeof(records) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'invalid data: audit records must be a JSON array'
            USING ERRCODE = 'SB004';
    END IF;
    SELECT r.ord - 1 AS i, r.v INTO bad
      FROM jsonb_array_elements(records) WITH ORDINALITY AS r(v, ord)
     WHERE jsonb_typeof(r.v) <> 'object'
        OR r.v ->> 'kind' IS NULL
        OR r.v ->> 'kind' NOT IN ('connect', 'disconnect', 'auth_failure', 'publish')
        OR coalesce(jsonb_typeof(r.v -> 'detail'), 'null') NOT IN ('object', 'null')
     ORDER BY r.ord
     LIMIT 1;
    IF FOUND THEN
        IF jsonb_typeof(bad.v) <> 'object' THEN
            RAISE EXCEPTION 'invalid data: audit record % is not a JSON object', bad.i
                USING ERRCODE = 'SB004';
        ELSIF coalesce(jsonb_typeof(bad.v -> 'detail'), 'null') NOT IN ('object', 'null') THEN
            RAISE EXCEPTION 'invalid data: audit record %: detail must be a JSON object', bad.i
                USING ERRCODE = 'SB004';
        END IF;
        RAISE EXCEPTION 'invalid parameter: audit record %: kind must be connect, disconnect, '
                        'auth_failure or publish, not %', bad.i,
                        coalesce((bad.v -> 'kind')::text, 'null')
            USING ERRCODE = 'SB008';
    END IF;
    -- Texts come from the network: bound them rather than reject the record.
    INSERT INTO audit (kind, node, subject, channel, remote, detail)
    SELECT r.kind, left(r.node, 128), left(r.subject, 256), left(r.channel, 256),
           left(r.remote, 256), coalesce(r.detail, '{}')
      FROM jsonb_to_recordset(records)
           AS r(kind text, node text, subject text, channel text, remote text, detail jsonb);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION audit_records(jsonb) IS
    'Appends a JSON array of audit records {"kind","node"?,"subject"?,"channel"?,"remote"?,'
    '"detail"?} in one statement and returns how many. Cuts texts as audit_record() does; '
    'one bad record stores nothing and the error names its 0-based index. '
    'Errors: SB004 (not an array, a record not an object, detail not an object), SB008 (kind).';

REVOKE ALL ON FUNCTION audit_records(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_records(jsonb) TO switchboard_app;
