-- The interaction whose response message shows the job, while Discord accepts its token (15 min):
-- the bot writes that message through the interaction's webhook, outside the global rate budget
-- and the channel edit limit. Kept across restarts so a job resumed within the 15 minutes does too.
ALTER TABLE jobs ADD COLUMN reply_token TEXT;
ALTER TABLE jobs ADD COLUMN reply_expires {REAL} NOT NULL DEFAULT 0;
