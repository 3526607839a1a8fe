-- Uploaded photos: stored under a random key; the client's file name is never used.
create table uploads (
    id            uuid primary key,
    user_id       bigint not null references users (telegram_id),
    storage_key   text not null unique,
    content_type  text not null,
    width         integer not null,
    height        integer not null,
    size_bytes    bigint not null,
    created_at    timestamptz not null default now(),
    expires_at    timestamptz not null,
    deleted_at    timestamptz
);
create index uploads_user_recent on uploads (user_id, created_at desc) where deleted_at is null;
create index uploads_expiry on uploads (expires_at) where deleted_at is null;

-- Generations are durable jobs: the row (and its hold) exist before any provider call and
-- every state change is written before it is announced.
create table generations (
    id                uuid primary key,
    user_id           bigint not null references users (telegram_id),
    kind              text not null check (kind in ('tryon', 'edit')),
    category          text,
    prompt            text not null,
    input_upload_ids  uuid[] not null default '{}',
    input_keys        text[] not null,
    status            text not null check (status in ('queued', 'submitted', 'running', 'succeeded', 'failed')),
    stage             text,
    -- kie.ai task id, stored the moment createTask returns; never two tasks per generation
    provider_task_id  text,
    -- opaque per-generation token in the callback URL
    callback_token    text not null unique,
    result_key        text,
    result_bytes      bigint,
    watermarked       boolean not null default false,
    cost              integer not null check (cost > 0),
    hold_id           uuid references holds (id),
    attempts          integer not null default 0,
    error_code        text,
    error_message     text,
    refunded          boolean not null default false,
    chat_variant_id   uuid,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    submitted_at      timestamptz,
    finished_at       timestamptz,
    deleted_at        timestamptz
);
-- the gallery
create index generations_user_recent on generations (user_id, created_at desc) where deleted_at is null;
-- recovery at start-up: only unfinished jobs
create index generations_unfinished on generations (created_at) where status in ('queued', 'submitted', 'running');
