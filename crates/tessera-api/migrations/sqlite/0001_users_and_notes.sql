-- Users and their notes. Times are milliseconds since the Unix epoch; ids are UUIDv7 text.
-- Emails are stored normalised (trimmed, lower-cased), so a plain UNIQUE is case-insensitive.
CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE notes (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Serves "a user's notes, newest first" without a sort, and the cascade on user deletion.
CREATE INDEX notes_user_created ON notes (user_id, created_at DESC, id DESC);
