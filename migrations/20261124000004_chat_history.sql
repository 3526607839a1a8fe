-- One row per user: the last N chat messages as JSONB, trimmed on every write, and the
-- chat's current image (the input of the next edit).
create table chat_history (
    user_id        bigint primary key references users (telegram_id),
    messages       jsonb not null default '[]'::jsonb check (jsonb_typeof(messages) = 'array'),
    current_image  jsonb,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
