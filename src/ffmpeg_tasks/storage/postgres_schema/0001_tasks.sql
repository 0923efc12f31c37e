-- ffmpeg-tasks PostgreSQL schema, version 1: one row per task.
--
-- `data` holds the whole task as JSON (Task.to_dict); the other columns repeat what the
-- queries of TaskStore filter, order and compare on, so that each of them is one indexed
-- statement: the claim and every write of a run is
--   UPDATE ffmpeg_tasks SET ... WHERE id = $1 AND status = $2 [AND worker = $3]
-- and a listing is
--   SELECT data FROM ffmpeg_tasks [WHERE status = $1] [AND owner = $2]
--   ORDER BY created_at DESC, id LIMIT $3 OFFSET $4

CREATE TABLE ffmpeg_tasks (
    id text PRIMARY KEY,
    status text NOT NULL,
    owner text,
    -- the claim that runs it (Task.worker), compared by every write of a run
    worker text,
    created_at timestamptz NOT NULL,
    data jsonb NOT NULL
);

-- list(), newest first
CREATE INDEX ffmpeg_tasks_newest ON ffmpeg_tasks (created_at DESC, id);
-- list(status=...): the API's filter, and recovery's scans of running and pending tasks
CREATE INDEX ffmpeg_tasks_status ON ffmpeg_tasks (status, created_at DESC, id);
-- list(owner=...): the HTTP API lists an API key's own tasks
CREATE INDEX ffmpeg_tasks_owner ON ffmpeg_tasks (owner, created_at DESC, id);
