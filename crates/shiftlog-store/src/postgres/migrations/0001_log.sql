-- The log, version 1. Never edit a migration that has shipped: add the next one.

-- One row: the last committed position and its recorded time. Every append locks it
-- (SELECT ... FOR UPDATE) before it assigns positions, so transactions that append commit
-- one after another in position order, and a reader by position never sees a gap that an
-- earlier transaction fills later.
CREATE TABLE shiftlog_head (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    position BIGINT NOT NULL,
    recorded_unix BIGINT NOT NULL,
    recorded_nanos INTEGER NOT NULL
);
INSERT INTO shiftlog_head VALUES (TRUE, 0, 0, 0);

-- Events, one row each, as the store's record format (the same bytes the sled store keeps):
-- personal data sealed under the keys of the actors it is about.
CREATE TABLE shiftlog_events (
    position BIGINT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    -- The place whose stream it belongs to; '' for the unplaced stream.
    stream TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- The key slots its personal data is sealed under, 4 bytes each, little-endian.
    slots BYTEA NOT NULL,
    record BYTEA NOT NULL
);
CREATE INDEX shiftlog_events_stream ON shiftlog_events (stream, position);
CREATE INDEX shiftlog_events_redactions ON shiftlog_events (position) WHERE event_type = 'actor_redacted';

-- Per-stream versions (how many events each stream holds), for version checks by any server.
CREATE TABLE shiftlog_streams (
    stream TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);

-- Every place ever registered and every actor ever joined, for places() and stats.
CREATE TABLE shiftlog_places (place TEXT PRIMARY KEY);
CREATE TABLE shiftlog_actors (actor TEXT PRIMARY KEY);

-- One secret key per actor. A redaction sets the key to NULL in the transaction that
-- appends it, and the table is then rewritten (VACUUM FULL) so that no old row version
-- holding the key stays in its files; see docs/erasure.md for WAL, replicas and backups.
CREATE TABLE shiftlog_keys (
    slot INTEGER PRIMARY KEY,
    actor TEXT NOT NULL UNIQUE,
    key BYTEA
);
