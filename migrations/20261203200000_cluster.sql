-- Running several app nodes on one database (issue 19).

-- Frames too large for a NOTIFY payload (8000 bytes), handed to the other nodes by id; the
-- scheduler deletes them after a minute.
create table cluster_frames (
    id          bigserial primary key,
    frame       text not null,
    created_at  timestamptz not null default now()
);
create index cluster_frames_created on cluster_frames (created_at);

-- Durable jobs claimed with leases: the node driving a generation renews its lease while it
-- works; a job whose lease ran out (its node died) is taken over by another node, which resumes
-- it from its stored state (a stored kie.ai task id is polled, never created twice).
alter table generations add column lease_owner uuid, add column lease_until timestamptz;
create index generations_unfinished_lease on generations (lease_until)
    where status in ('queued', 'submitted', 'running');

-- Provider budgets shared by every node (kie.ai's createTask window, its polls per second, the
-- bot's pace): one row per request in the window, taken under a per-budget advisory lock.
create table provider_slots (
    id        bigserial primary key,
    budget    text not null,
    at        timestamptz not null default clock_timestamp(),
    answered  boolean not null default false
);
create index provider_slots_budget_at on provider_slots (budget, at);

-- Scheduled jobs that must run once in the cluster: a node runs a job only when it moves the
-- job's next run forward here.
create table scheduler_claims (
    job        text primary key,
    next_at    timestamptz not null,
    node       uuid not null,
    runs       bigint not null default 1,
    updated_at timestamptz not null default now()
);
