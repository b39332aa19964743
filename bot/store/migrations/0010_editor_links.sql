-- Mask editor links used (docs/mask-editor.md): a link's nonce is recorded when its edit is sent,
-- so the link works once; rows are dropped once the link would have expired anyway.
CREATE TABLE editor_links (
    nonce TEXT PRIMARY KEY,
    expires {REAL} NOT NULL
);
