-- A member's 👍 or 👎 on an AIMG result, so that the same button again takes the vote back
-- (unlikeItems / undislikeItems), after a restart too. No row: no vote. The vote AIMG records is
-- its session's, so members sharing the server's account share that one.
CREATE TABLE aimg_votes (
    job_id {INT} NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    user_id {INT} NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('like', 'dislike')),
    PRIMARY KEY (job_id, user_id)
);
