-- Telegram Stars payments as Telegram reported them, stored before anything is applied.
-- Telegram sends a `successful_payment` once: if applying it failed and the webhook had
-- answered 200, the payment would be lost. The webhook answers 200 only after the update is
-- here; applying it (granting the credits) happens after, and is retried from this table by
-- the scheduler until `applied_at` is set. `getStarTransactions` fills in updates that never
-- arrived at all. One row per charge: duplicates of the same update change nothing.
create table stars_inbox (
    charge_id    text primary key,           -- telegram_payment_charge_id
    payment_id   uuid not null,              -- our payment (the invoice payload)
    payer        bigint not null,
    total_stars  bigint not null,
    raw          jsonb not null,
    source       text not null check (source in ('webhook', 'transactions')),
    received_at  timestamptz not null default now(),
    attempts     integer not null default 0,
    last_error   text,
    applied_at   timestamptz,
    outcome      text
);
create index stars_inbox_unapplied on stars_inbox (received_at) where applied_at is null;
