-- One row per call to the editing assistant (OpenRouter), successful or not: what it cost us
-- (contracts/openrouter.md §4: store id, usage, provider and latency for cost accounting).
create table assistant_requests (
    id                 bigserial primary key,
    user_id            bigint not null references users (telegram_id),
    openrouter_id      text,
    model              text not null,
    provider           text,
    outcome            text not null check (outcome in ('ok', 'invalid', 'transient', 'refused', 'moderated')),
    error              text,
    prompt_tokens      integer not null default 0,
    completion_tokens  integer not null default 0,
    cost_usd           double precision not null default 0,
    latency_ms         integer not null,
    created_at         timestamptz not null default now()
);
create index assistant_requests_by_time on assistant_requests (created_at);
create index assistant_requests_by_user on assistant_requests (user_id, created_at desc);
