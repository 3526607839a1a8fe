-- Running several app nodes on one database (issue 19).

-- Frames too large for a NOTIFY payload (8000 bytes), handed to the other nodes by id; the
-- scheduler deletes them after a minute.
create table cluster_frames (
    id          bigserial primary key,
    frame       text not null,
    created_at  timestamptz not null default now()
);
create index cluster_frames_created on cluster_frames (created_at);
