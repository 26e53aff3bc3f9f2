-- Tessera session store schema (SQLite).
--
-- Every table is prefixed `tessera_` because the API server may keep its own tables (users,
-- notes) in the same database file. Times are INTEGER milliseconds since the Unix epoch.
-- Tables are STRICT, so a wrongly typed value is refused instead of being stored silently.

CREATE TABLE IF NOT EXISTS tessera_sessions (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    idle_expires_at INTEGER,
    last_used_at    INTEGER NOT NULL,
    rotated_at      INTEGER,
    generation      INTEGER NOT NULL CHECK (generation >= 0),
    refresh_hash    BLOB    NOT NULL CHECK (length(refresh_hash) = 32),
    -- Superseded refresh-token hashes, newest first: a concatenation of 32-byte hashes.
    superseded      BLOB    NOT NULL CHECK (length(superseded) % 32 = 0),
    csrf            BLOB    NOT NULL CHECK (length(csrf) = 32),
    -- The access-token application payload, a JSON object.
    payload         TEXT    NOT NULL,
    user_agent      TEXT,
    ip              TEXT
) STRICT;

-- Device lists and "log out everywhere".
CREATE INDEX IF NOT EXISTS tessera_sessions_user_id ON tessera_sessions (user_id);
-- Incremental cleanup of expired sessions, oldest expiry first.
CREATE INDEX IF NOT EXISTS tessera_sessions_expires_at ON tessera_sessions (expires_at);
-- Incremental cleanup of idle-expired sessions (only rows with an idle timeout are indexed).
CREATE INDEX IF NOT EXISTS tessera_sessions_idle_expires_at
    ON tessera_sessions (idle_expires_at) WHERE idle_expires_at IS NOT NULL;

-- Single-use relay codes, by SHA-256 of the code. No foreign key to the session: a code for a
-- session that has ended is harmless (the session lookup after redemption fails).
CREATE TABLE IF NOT EXISTS tessera_relay_codes (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    session_id TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS tessera_relay_codes_expires_at ON tessera_relay_codes (expires_at);

-- Fixed-window counters (login throttling).
CREATE TABLE IF NOT EXISTS tessera_counters (
    key       TEXT    NOT NULL PRIMARY KEY,
    count     INTEGER NOT NULL CHECK (count >= 0),
    resets_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS tessera_counters_resets_at ON tessera_counters (resets_at);
