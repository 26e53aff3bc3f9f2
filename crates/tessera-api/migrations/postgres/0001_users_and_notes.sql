-- Users and their notes. Times are milliseconds since the Unix epoch; ids are UUIDv7 text.
-- Emails are stored normalised (trimmed, lower-cased), so a plain UNIQUE is case-insensitive.
-- Ids use the "C" collation so that ordering by id is byte order, as in SQLite.
CREATE TABLE users (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    email         TEXT             NOT NULL UNIQUE,
    password_hash TEXT             NOT NULL,
    created_at    BIGINT           NOT NULL
);

CREATE TABLE notes (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT             NOT NULL,
    created_at BIGINT           NOT NULL,
    updated_at BIGINT           NOT NULL
);

-- Serves "a user's notes, newest first" without a sort, and the cascade on user deletion.
CREATE INDEX notes_user_created ON notes (user_id, created_at DESC, id DESC);
