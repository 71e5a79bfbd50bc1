-- Issue 5: what we knew then, what was true then.
--
-- Every unit the progress table and the status board count, with the date it
-- counts in, the date it happened, the sequence of the event that made it
-- known and, once withdrawn, of the event that withdrew it. Rows are only
-- added or closed (retracted_seq set once), so a count "as known at" a
-- sequence never changes afterwards. See src/facts.rs.
CREATE TABLE progress_facts (
    recorded_seq  bigint NOT NULL,
    ordinal       int NOT NULL,
    -- Codes and keys compare byte for byte (COLLATE "C"): the counts group
    -- and de-duplicate them, and no human ever sorts them.
    measure       text COLLATE "C" NOT NULL,
    task_force_id text COLLATE "C",
    distinct_key  text COLLATE "C" NOT NULL,
    -- Whether another fact of the measure may share the key (an enterprise
    -- docked twice, two meetings in a quarter): only these need de-duplicating.
    repeats       boolean NOT NULL,
    counts_in     date NOT NULL,
    occurred_on   date NOT NULL,
    source        text NOT NULL,
    retracted_seq bigint,
    PRIMARY KEY (recorded_seq, ordinal)
);
-- The counts read a period's facts; the covering indexes answer them from the
-- index alone, one for the facts simply counted and a wider one for those
-- de-duplicated by key.
CREATE INDEX progress_facts_unique ON progress_facts (counts_in)
    INCLUDE (measure, task_force_id, occurred_on, recorded_seq, retracted_seq) WHERE NOT repeats;
CREATE INDEX progress_facts_repeating ON progress_facts (counts_in)
    INCLUDE (measure, task_force_id, distinct_key, occurred_on, recorded_seq, retracted_seq) WHERE repeats;
CREATE INDEX progress_facts_open_source ON progress_facts (source) WHERE retracted_seq IS NULL;
CREATE INDEX progress_facts_retracted ON progress_facts (retracted_seq) WHERE retracted_seq IS NOT NULL;

-- "Known at" a time: the last event recorded by then.
CREATE INDEX event_log_recorded_at ON event_log (recorded_at);

-- The facts of events already projected cannot be derived from the state
-- tables (their sequences are not there), so an existing deployment replays
-- the stream once: every projected table is emptied and the checkpoint goes
-- back to 0; the projector then applies the whole stream again at its next
-- start (the lag shows on /readyz). The stream is the truth; the signed tree
-- heads' copy is kept. A new schema has nothing to empty.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = current_schema()
               AND tablename NOT IN ('_sqlx_migrations', 'audit_tree_heads', 'progress_facts')
    LOOP
        EXECUTE format('TRUNCATE %I', t);
    END LOOP;
END
$$;
