-- Users are keyed by their Telegram id (int64). The balance columns are a cache of the
-- ledger (see 0002), updated in the same transaction as each ledger row; the CHECKs are the
-- last line of defence against a negative balance.
create table users (
    telegram_id        bigint primary key,
    first_name         text not null default '',
    last_name          text,
    username           text,
    language_code      text not null default 'ru',
    is_premium         boolean not null default false,
    photo_url          text,
    allows_write_to_pm boolean not null default false,
    -- set by an operator; a blocked user cannot log in
    blocked            boolean not null default false,
    -- the user blocked the bot (Bot API answered 403); we stop sending
    bot_blocked        boolean not null default false,
    -- the month's free allowance and the first day of that month (configured timezone)
    free_credits       integer not null default 0 check (free_credits >= 0),
    free_month         date,
    -- the subscription period's allowance and when that period ends
    sub_credits        integer not null default 0 check (sub_credits >= 0),
    sub_period_end     timestamptz,
    purchased_credits  integer not null default 0 check (purchased_credits >= 0),
    -- bytes of uploads and results currently stored, for the per-user quota
    storage_bytes      bigint not null default 0 check (storage_bytes >= 0),
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    last_seen_at       timestamptz not null default now(),
    -- "delete my data": personal fields are cleared, the row stays for the ledger
    deleted_at         timestamptz
);
