-- The account a queued job is being submitted to, written before the backend call and left in
-- place once the task id is stored. A QUEUED job with this set and no task id was interrupted
-- mid-submit (kill -9): the backend may or may not hold a task for it.
ALTER TABLE jobs ADD COLUMN submitting_account {INT};
