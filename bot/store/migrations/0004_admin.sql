-- Per-server setup: accounts made by admins can be removed without losing their jobs' history
-- (soft delete), and every configuration change is audited.
ALTER TABLE accounts ADD COLUMN removed_at {REAL};
ALTER TABLE accounts ADD COLUMN created_by {INT};

CREATE TABLE audit (
    id {ID},
    guild_id {INT} NOT NULL,
    user_id {INT} NOT NULL,
    action TEXT NOT NULL,
    -- What changed, secrets redacted.
    detail TEXT NOT NULL,
    at {REAL} NOT NULL
);
CREATE INDEX audit_guild ON audit (guild_id, at);
CREATE INDEX jobs_owner ON jobs (guild_id, owner_id, created_at);
