-- ffmpeg-tasks PostgreSQL schema, version 2: the webhook outbox, one row per event and endpoint.
--
-- `data` holds the whole delivery as JSON (Delivery.to_dict), the request body included as
-- text so it is sent byte for byte alike on every attempt; the other columns repeat what the
-- outbox's queries filter, order and compare on. A row is inserted in the transaction of the
-- task's state change it tells about; a sender leases due rows with
--   UPDATE ... WHERE seq IN (SELECT seq ... FOR UPDATE SKIP LOCKED LIMIT $1)
-- and records an attempt with
--   UPDATE ... WHERE event_id = $1 AND url = $2 AND worker = $3

CREATE TABLE ffmpeg_tasks_deliveries (
    seq bigserial PRIMARY KEY,
    event_id text NOT NULL,
    url text NOT NULL,
    task_id text NOT NULL,
    state text NOT NULL,
    next_attempt_at timestamptz,
    -- the sender that leased it (Delivery.worker), compared when it records the attempt
    worker text,
    lease_expires_at timestamptz,
    created_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    UNIQUE (event_id, url)
);

-- claim_deliveries(): the pending rows due first
CREATE INDEX ffmpeg_tasks_deliveries_due ON ffmpeg_tasks_deliveries (next_attempt_at, seq)
    WHERE state = 'pending';
-- list_deliveries() and requeue_deliveries(): a task's rows in the order of their events
CREATE INDEX ffmpeg_tasks_deliveries_task ON ffmpeg_tasks_deliveries (task_id, created_at, seq);
