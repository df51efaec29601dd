-- The server's access tokens, when the store is this database: every server sees a new
-- token or a revocation on its next request. Only a token's SHA-256 is kept; `record` is
-- the server's description of it (role, places, created), as JSON text.
CREATE TABLE shiftlog_tokens (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL
);
