-- Personal data under PIPL (个人信息保护法): the data keys of crypto-shredding
-- and the log of who read personal data in clear.
--
-- They live in a schema of their own, `<read-model schema>_keys`, and not in
-- the read-model schema, because the read models are disposable (dropped
-- and rebuilt from the stream) while a key must live exactly as long as
-- its person's data may be read, and no longer. The schema is backed up on
-- its own, with a short retention (see README, 个人信息): once a key is
-- deleted here and the last backup holding it has expired, every copy of
-- the ciphertext in the stream and in the stream's backups is unreadable.
DO $$
DECLARE
    keys text := current_schema() || '_keys';
BEGIN
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', keys);
    -- One AES-256 key per person. Erasure deletes the row.
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I.person_keys (
        person_id uuid PRIMARY KEY,
        data_key bytea NOT NULL CHECK (octet_length(data_key) = 32),
        created_at timestamptz NOT NULL DEFAULT now()
    )', keys);
    -- Every read of personal data in clear: who, as what, whose, when.
    -- Kept beside the keys (not in the rebuildable read models).
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I.personal_data_reads (
        id bigserial PRIMARY KEY,
        read_at timestamptz NOT NULL DEFAULT now(),
        reader text NOT NULL,
        reader_role text NOT NULL,
        task_force_id text NOT NULL,
        person_id uuid NOT NULL
    )', keys);
END
$$;
