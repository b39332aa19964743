-- Guild settings as one JSON document per guild (the admin issue adds keys, not columns).
CREATE TABLE guild_config (
    guild_id {INT} PRIMARY KEY,
    settings TEXT NOT NULL DEFAULT '{}'
);

-- Backend accounts. Config-declared accounts keep their secret in the config file only
-- (secret = ''), so nothing secret is written here for them.
CREATE TABLE accounts (
    id {ID},
    guild_id {INT} NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    base_url TEXT NOT NULL,
    secret TEXT NOT NULL DEFAULT '',
    max_jobs {INT} NOT NULL CHECK (max_jobs BETWEEN 1 AND 15),
    channel_id {INT},
    enabled {INT} NOT NULL DEFAULT 1,
    source TEXT NOT NULL,
    quarantine_reason TEXT,
    options TEXT NOT NULL DEFAULT '{}',
    UNIQUE (guild_id, name)
);

-- One row per job. `buttons` is the JSON list of the result's backend buttons: a Discord
-- component's custom_id carries only (job id, button index), so buttons work after a restart.
CREATE TABLE jobs (
    id {ID},
    guild_id {INT} NOT NULL,
    channel_id {INT} NOT NULL,
    owner_id {INT} NOT NULL,
    kind TEXT NOT NULL,
    prompt TEXT NOT NULL,
    status TEXT NOT NULL,
    progress {INT},
    account_id {INT} REFERENCES accounts (id),
    backend_task_id TEXT,
    parent_job_id {INT} REFERENCES jobs (id),
    action_custom_id TEXT,
    message_id {INT},
    image_url TEXT,
    buttons TEXT NOT NULL DEFAULT '[]',
    error_kind TEXT,
    error_detail TEXT,
    hook_secret TEXT NOT NULL,
    created_at {REAL} NOT NULL,
    updated_at {REAL} NOT NULL,
    deadline {REAL} NOT NULL,
    result_posted {INT} NOT NULL DEFAULT 0
);
CREATE INDEX jobs_unfinished ON jobs (guild_id, created_at)
    WHERE status NOT IN ('success', 'failure', 'cancelled') OR result_posted = 0;
CREATE UNIQUE INDEX jobs_backend_task ON jobs (account_id, backend_task_id)
    WHERE backend_task_id IS NOT NULL;

-- Image prompts of a job that has not been submitted yet, so a queued job survives a restart.
CREATE TABLE job_inputs (
    job_id {INT} NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    position {INT} NOT NULL,
    data {BLOB} NOT NULL,
    PRIMARY KEY (job_id, position)
);
