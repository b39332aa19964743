-- A member's preferences in one guild (Remix, prompt suffix; the settings panel adds keys).
CREATE TABLE user_prefs (
    guild_id {INT} NOT NULL,
    user_id {INT} NOT NULL,
    prefs TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (guild_id, user_id)
);
