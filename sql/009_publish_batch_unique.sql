-- 009_publish_batch_unique: publish_batch() finds stored and repeated ids
-- with the unique index it inserts into, instead of looking each one up
-- first.
--
-- The counter rows stay locked from lock_channels() until the commit, so
-- everything publish_batch() does after taking them serialises publishers
-- of the same channels. Looking up every given id before the insert cost
-- about 3 us per event of that time, and the insert checks the same unique
-- index (channel, id) again anyway. Now the insert runs first, in a
-- subtransaction: when it meets a stored or repeated id it is rolled back
-- (the counter locks belong to the transaction and stay) and the path that
-- numbers around known ids runs, as before. Results, errors and the
-- doorbell are unchanged.

SET LOCAL client_min_messages = warning;
SET LOCAL ROLE switchboard_owner;
SET LOCAL search_path = switchboard, pg_temp;

CREATE OR REPLACE FUNCTION publish_batch(events jsonb)
    RETURNS TABLE (ord integer, channel text, seq bigint, id uuid, duplicate boolean)
    ROWS 100 LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = switchboard, pg_temp
    -- The statements below are the same every call; without this the
    -- planner re-plans the channel check on every call.
    SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    n integer;
    max_bytes integer := max_data_bytes();
    good boolean;
    bad record;
    names text[];      -- the distinct channels, in byte order
    counts integer[];  -- events per channel, as names
    lasts bigint[];    -- last_seq per channel, as names, read under the lock
    -- One element per input element, in (channel, input) order:
    e_ord integer[];
    e_channel text[];
    e_type text[];
    e_data jsonb[];
    e_sender text[];
    e_given text[];    -- the id as sent, NULL when none
    e_idt text[];      -- the id to store, as text: as sent or generated
    e_id uuid[];       -- the same as uuid
    e_ci integer[];    -- index of the channel in names
    e_k integer[];     -- 1, 2, ... within the channel, in input order
    dup boolean := false;
    r_ord integer[];
    r_channel text[];
    r_seq bigint[];
    r_id uuid[];
    r_dup boolean[];
    bell text[];
BEGIN
    IF jsonb_typeof(publish_batch.events) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'invalid parameter: events must be a JSON array'
            USING ERRCODE = 'SB008';
    END IF;
    n := jsonb_array_length(publish_batch.events);
    IF n = 0 THEN
        RAISE EXCEPTION 'invalid parameter: empty batch' USING ERRCODE = 'SB008';
    ELSIF n > 1000 THEN
        RAISE EXCEPTION 'too large: batch of % events, limit 1000', n
            USING ERRCODE = 'SB005';
    END IF;

    -- Parse and validate every element before touching any table.
    SELECT w.good
           AND (SELECT bool_and(coalesce(channel_valid(c.name), false)
                                AND EXISTS (SELECT 1 FROM namespaces ns
                                             WHERE ns.name = split_part(c.name, ':', 1)))
                  FROM unnest(w.names) AS c(name)),
           w.names, w.counts, w.ords, w.channels, w.types, w.datas, w.senders,
           w.ids, w.new_ids, w.cis, w.ks
      INTO good, names, counts, e_ord, e_channel, e_type, e_data, e_sender,
           e_given, e_idt, e_ci, e_k
      FROM (
        -- (bool_and skips NULLs, so every per-element test is coalesced:
        -- a missing field must count as a failure.)
        SELECT bool_and(coalesce(
                        x.shape_ok
                        AND octet_length(x.type) <= 64
                        AND (octet_length(x.type) <= 32 OR x.type !~ '[^.]{33}')
                        AND (x.type <> 'log' OR log_valid(x.data))
                        AND x.data_len <= max_bytes
                        AND (x.data_len < 66  -- 33 nested containers print at least 66 bytes
                             OR NOT jsonb_path_exists(x.data, 'strict $.**{32 to last} ? (@.type() == "object" || @.type() == "array")'))
                        AND strpos(x.type, E'\n') = 0
                        AND octet_length(x.sender) BETWEEN 1 AND 128
                        AND (x.id IS NULL
                             OR (x.id LIKE '________-____-____-____-____________'
                                 AND strpos(x.id, ',') = 0)), false))
               -- Types: the grammar of type_valid() over all of them at once,
               -- one per line (above: none holds a newline).
               AND string_agg(x.type, E'\n')
                   ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\n[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*)*$'
               -- Senders: no control character in any of them.
               AND string_agg(x.sender, '') !~ '[\u0001-\u001f\u007f-\u009f]'
               -- Ids: 36 characters each, dashes where a UUID has them and no
               -- comma (above), each of five runs of hex digits.
               AND coalesce(string_agg(x.id, ',')
                            ~ '^[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+(,[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+-[0-9A-Fa-f]+)*$',
                            true) AS good,
               array_agg(x.channel ORDER BY x.channel COLLATE "C") FILTER (WHERE x.k = 1) AS names,
               array_agg(x.cnt ORDER BY x.channel COLLATE "C") FILTER (WHERE x.k = 1) AS counts,
               array_agg(x.ord) AS ords, array_agg(x.channel) AS channels,
               array_agg(x.type) AS types, array_agg(x.data) AS datas,
               array_agg(x.sender) AS senders, array_agg(x.id) AS ids,
               array_agg(coalesce(x.id, gen_random_uuid()::text)) AS new_ids,
               array_agg(x.ci) AS cis, array_agg(x.k) AS ks
          FROM (
            -- One sort, by bytes: a channel name is ASCII, and its place in
            -- names only has to agree with ci (the locks are taken in name
            -- order by lock_channels whatever the order of names).
            SELECT y.*,
                   dense_rank() OVER (ORDER BY y.channel COLLATE "C")::integer AS ci,
                   row_number() OVER (PARTITION BY y.channel COLLATE "C" ORDER BY y.ord)::integer AS k,
                   count(*) OVER (PARTITION BY y.channel COLLATE "C")::integer AS cnt
              FROM (
                SELECT (t.o - 1)::integer AS ord,
                       t.e ->> 'channel' AS channel, t.e ->> 'type' AS type,
                       t.e -> 'data' AS data, t.e ->> 'sender' AS sender, t.e ->> 'id' AS id,
                       octet_length((t.e -> 'data')::text) AS data_len,
                       jsonb_typeof(t.e) = 'object'
                       AND jsonb_typeof(t.e -> 'type') = 'string'
                       AND jsonb_typeof(t.e -> 'data') = 'object'
                       AND jsonb_typeof(t.e -> 'sender') = 'string' AS shape_ok
                  FROM jsonb_array_elements(publish_batch.events) WITH ORDINALITY AS t(e, o)
                OFFSET 0  -- keeps y from being flattened: each field is extracted once
              ) AS y
          ) AS x
      ) AS w;
    IF good IS NOT TRUE THEN
        SELECT p.ord, p.problem INTO bad FROM batch_problem(publish_batch.events, max_bytes) AS p;
        IF FOUND THEN
            PERFORM raise_problem(bad.problem, format('event %s: ', bad.ord));
        END IF;
    END IF;
    -- Valid, so every id is a UUID; the generated ones went through text too.
    e_id := e_idt::uuid[];

    lasts := lock_channels(names);

    -- Only now, with the counter rows locked: a concurrent publish of one of
    -- our ids has committed (the insert meets its row) or rolled back.
    -- Optimistically every element is a new event: seq = last_seq + its
    -- place in the channel. The unique index on (channel, id) finds a
    -- stored or repeated id while it inserts; then the subtransaction rolls
    -- the insert back (the counter locks stay: they belong to the
    -- transaction) and the path below numbers around the known ids.
    BEGIN
        WITH ins AS (
            INSERT INTO events (channel, seq, id, type, sender, data)
            SELECT u.channel, lasts[u.ci] + u.k, u.id, u.type, u.sender, u.data
              FROM unnest(e_channel, e_ci, e_k, e_id, e_type, e_sender, e_data)
                   AS u(channel, ci, k, id, type, sender, data)
        )
        UPDATE channels c SET last_seq = u.last + u.added, updated_at = now()
          FROM unnest(names, lasts, counts) AS u(name, last, added)
         WHERE c.name = u.name;
    EXCEPTION WHEN unique_violation THEN
        dup := true;
    END;
    IF NOT dup THEN
        PERFORM ring((SELECT array_agg(to_json(u.name)::text || ':' || (u.last + u.added)
                                       ORDER BY u.name)
                        FROM unnest(names, lasts, counts) AS u(name, last, added)));
        RETURN QUERY
            SELECT u.ord, u.channel, lasts[u.ci] + u.k, u.id, false
              FROM unnest(e_ord, e_channel, e_ci, e_k, e_id) AS u(ord, channel, ci, k, id)
             ORDER BY u.ord;
        RETURN;
    END IF;

    -- Some ids are stored already or repeated in the batch: those elements
    -- return the original seq, the others are numbered around them.
    WITH src AS (
        SELECT u.ord, u.channel, u.type, u.data, u.sender, u.id, u.given IS NOT NULL AS given,
               lasts[u.ci] AS last
          FROM unnest(e_ord, e_channel, e_type, e_data, e_sender, e_id, e_given, e_ci)
               AS u(ord, channel, type, data, sender, id, given, ci)
    ), known AS (
        SELECT s.*,
               CASE WHEN s.given THEN
                   (SELECT e.seq FROM events e WHERE e.channel = s.channel AND e.id = s.id)
               END AS stored_seq,
               min(s.ord) OVER (PARTITION BY s.channel, s.id) AS first_ord
          FROM src s
    ), numbered AS (
        SELECT k.*, (k.stored_seq IS NULL AND k.ord = k.first_ord) AS is_new,
               k.last + count(*) FILTER (WHERE k.stored_seq IS NULL AND k.ord = k.first_ord)
                              OVER (PARTITION BY k.channel ORDER BY k.ord) AS new_seq
          FROM known k
    ), outcome AS (
        SELECT nb.*,
               coalesce(nb.stored_seq,
                        max(nb.new_seq) FILTER (WHERE nb.is_new)
                            OVER (PARTITION BY nb.channel, nb.id)) AS out_seq
          FROM numbered nb
    ), ins AS (
        INSERT INTO events (channel, seq, id, type, sender, data)
        SELECT o.channel, o.new_seq, o.id, o.type, o.sender, o.data
          FROM outcome o WHERE o.is_new
    ), upd AS (
        UPDATE channels c
           SET last_seq = k.last_seq, updated_at = now()
          FROM (SELECT o.channel, max(o.new_seq) AS last_seq FROM outcome o
                 WHERE o.is_new GROUP BY o.channel) AS k
         WHERE c.name = k.channel
        RETURNING c.name, c.last_seq
    )
    SELECT array_agg(o.ord ORDER BY o.ord), array_agg(o.channel ORDER BY o.ord),
           array_agg(o.out_seq ORDER BY o.ord), array_agg(o.id ORDER BY o.ord),
           array_agg(NOT o.is_new ORDER BY o.ord),
           (SELECT array_agg(to_json(u.name)::text || ':' || u.last_seq ORDER BY u.name)
              FROM upd u)
      INTO r_ord, r_channel, r_seq, r_id, r_dup, bell
      FROM outcome o;

    PERFORM ring(bell);
    RETURN QUERY SELECT * FROM unnest(r_ord, r_channel, r_seq, r_id, r_dup);
END
$$;
COMMENT ON FUNCTION publish_batch(jsonb) IS
    'Stores a JSON array of 1..1000 events {"channel","type","data","sender","id"?} '
    'in one transaction and returns (ord, channel, seq, id, duplicate) per input '
    'element (ord is its 0-based index). Every element is validated first: one bad '
    'element stores nothing and the error names its index. Counter rows are locked '
    'in channel-name order and updated once per channel; a repeated id (stored '
    'before, or earlier in the batch) returns the original seq with duplicate = true. '
    'One doorbell NOTIFY per call (several only when the payload would exceed 7999 bytes).';
