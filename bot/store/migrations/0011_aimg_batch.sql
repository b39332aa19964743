-- AIMG: how many wait in the service's queue with a waiting job, and every image of a batch
-- result (a workflow run's items; JSON list, the first being image_url).
ALTER TABLE jobs ADD COLUMN queue_length {INT};
ALTER TABLE jobs ADD COLUMN result_urls TEXT NOT NULL DEFAULT '[]';
