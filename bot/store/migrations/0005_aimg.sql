-- AIMG (docs/backends/aimg.md). What a job shows while it waits in the service's own queue and under its result.
ALTER TABLE jobs ADD COLUMN queue_position {INT};
ALTER TABLE jobs ADD COLUMN ignored_words TEXT NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN media_type TEXT NOT NULL DEFAULT 'image';
ALTER TABLE jobs ADD COLUMN preview_url TEXT;

-- Members' own AIMG sessions (/aimg login). The session itself is the secret of an `accounts` row
-- with source 'member' (so jobs reference it like any account and survive restarts); this table
-- says whose it is. The store seals that secret (bot/crypto.py) like every secret it writes.
CREATE TABLE aimg_member_sessions (
    guild_id {INT} NOT NULL,
    user_id {INT} NOT NULL,
    account_id {INT} NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    linked_at {REAL} NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
