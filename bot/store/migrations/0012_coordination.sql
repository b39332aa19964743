-- Coordination between processes sharing one store (docs/scaling.md).
-- A job's slot on an account (its max_jobs), claimed in a transaction; a claim whose job is
-- finished no longer counts, so the claims of a process that died free themselves.
CREATE TABLE account_claims (
    job_id {INT} PRIMARY KEY,
    account_id {INT} NOT NULL,
    claimed_at {REAL} NOT NULL
);
CREATE INDEX account_claims_account ON account_claims (account_id);
-- Backend pushes received by a process that does not own the job's server, kept until the
-- owner has applied them.
CREATE TABLE relayed_pushes (
    id {ID},
    job_id {INT} NOT NULL,
    body TEXT NOT NULL,
    received_at {REAL} NOT NULL
);
CREATE INDEX relayed_pushes_job ON relayed_pushes (job_id);
