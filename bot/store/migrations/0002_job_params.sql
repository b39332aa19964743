-- Per-job parameters (blend dimensions, the prompt typed in a modal…) and the text result of
-- /describe and /shorten.
ALTER TABLE jobs ADD COLUMN params TEXT NOT NULL DEFAULT '{}';
ALTER TABLE jobs ADD COLUMN result_text TEXT;
