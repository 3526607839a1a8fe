-- Credit holds: a paid operation reserves its cost before it starts; the hold is committed
-- on success or released (credits back to the buckets they came from) on failure. A hold is
-- in the database from the moment it exists, so a crash can never lose one.
create table holds (
    id                 uuid primary key,
    user_id            bigint not null references users (telegram_id),
    -- the operation's key, e.g. 'gen:<uuid>' or 'chat:<uuid>'; one hold per operation
    idempotency_key    text not null unique,
    purpose            text not null,
    amount             integer not null check (amount > 0),
    from_free          integer not null check (from_free >= 0),
    from_subscription  integer not null check (from_subscription >= 0),
    from_purchased     integer not null check (from_purchased >= 0),
    status             text not null default 'held' check (status in ('held', 'committed', 'released')),
    generation_id      uuid,
    release_reason     text,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    settled_at         timestamptz,
    -- the sweep releases holds still open after this (their operation died with a crash)
    expires_at         timestamptz not null,
    check (from_free + from_subscription + from_purchased = amount),
    check ((status = 'held') = (settled_at is null))
);
create index holds_open_by_expiry on holds (expires_at) where status = 'held';
create index holds_user on holds (user_id, created_at desc);

-- The append-only credit ledger. Every change of a balance column is one row here with a
-- unique idempotency key ('payment:yookassa:<id>', 'gen:<uuid>:commit', 'free:<user>:2026-11:grant', …),
-- written in the same transaction as the balance columns; a unique violation means "already done".
create table ledger (
    id                 bigserial primary key,
    user_id            bigint not null references users (telegram_id),
    idempotency_key    text not null unique,
    kind               text not null check (kind in (
                           'grant',          -- free monthly allowance, subscription allowance, admin grant
                           'purchase',       -- credits bought (pack)
                           'reserve',        -- a hold took credits
                           'release',        -- a hold gave them back (operation failed)
                           'commit',         -- a hold was spent (no balance change; history marker)
                           'expire',         -- an allowance ended unused
                           'payment_refund', -- a refunded payment takes its credits back
                           'adjust')),       -- operator correction
    reason             text not null,
    delta_free         integer not null default 0,
    delta_subscription integer not null default 0,
    delta_purchased    integer not null default 0,
    -- credits shown to the user for this row (the hold amount for commit rows)
    amount             integer not null,
    hold_id            uuid references holds (id),
    payment_id         uuid,
    generation_id      uuid,
    note               text,
    created_at         timestamptz not null default now()
);
create index ledger_user_recent on ledger (user_id, id desc);

-- Prevent updates and deletes of ledger rows: corrections are new rows.
create function ledger_is_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'the ledger is append-only';
end;
$$;
create trigger ledger_no_update before update or delete on ledger
    for each row execute function ledger_is_append_only();
