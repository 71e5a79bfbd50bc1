-- Signed tree heads ("digests"): the Merkle root over every event hash up
-- to a stream sequence, signed with the bureau's Ed25519 key. This table is
-- a copy kept for queries and proofs; the record is the tree-head stream
-- `<STREAM>_DIGESTS`, which subscribers copy outside the bureau's control.
-- It is not a projection of the event stream, so `zhaoshang projections
-- rebuild` carries its rows over and `zhaoshang audit verify` checks them
-- against the tree-head stream instead of rebuilding them.
CREATE TABLE audit_tree_heads (
    -- The tree covers stream sequences 1..tree_size.
    tree_size  bigint PRIMARY KEY,
    stream     text NOT NULL,
    -- Lower-case hex, as signed.
    root_hash  text NOT NULL,
    -- RFC 3339 UTC with milliseconds, as signed (text, so it reads back byte for byte).
    signed_at  text NOT NULL,
    key_id     text NOT NULL,
    -- The signer's Ed25519 public key, hex: what the audit package hands out.
    public_key text NOT NULL,
    signature  text NOT NULL
);

-- One event by its id (the audit API's /events/{id}). The other audit
-- filters (actor, type, correlation, time) scan event_log: they are rare,
-- and every index here is paid by every event the projector writes.
CREATE INDEX event_log_event_id ON event_log (event_id);
