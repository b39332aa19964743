-- Commands acknowledged ("thinking…") whose job is not stored yet. create_job deletes the row of
-- its reply's token in the same transaction, so after a kill -9 a row left here is a command the
-- member is still waiting for: run again within the token's 15 minutes, else the member is told.
CREATE TABLE acked_commands (
    interaction_id {INT} PRIMARY KEY,
    application_id {INT} NOT NULL,
    token TEXT NOT NULL UNIQUE,
    guild_id {INT},
    channel_id {INT} NOT NULL,
    user_id {INT} NOT NULL,
    command TEXT NOT NULL,
    payload TEXT NOT NULL,
    message_id {INT} NOT NULL,
    acked_at {REAL} NOT NULL,
    expires {REAL} NOT NULL
);
