-- Payments through YooKassa (roubles, amounts in kopecks) or Telegram Stars (XTR, amounts in
-- stars). Commission, tax and net are computed in integer minor units, rounding half up, when
-- the payment succeeds; refunds reverse them.
create table payments (
    id                   uuid primary key,
    user_id              bigint not null references users (telegram_id),
    provider             text not null check (provider in ('yookassa', 'stars')),
    provider_payment_id  text,
    product              text not null,
    purpose              text not null default 'purchase' check (purpose in ('purchase', 'renewal')),
    amount_minor         bigint not null check (amount_minor > 0),
    currency             text not null check (currency in ('RUB', 'XTR')),
    status               text not null check (status in ('pending', 'succeeded', 'canceled', 'refunded')),
    gross_kopecks        bigint,
    commission_kopecks   bigint,
    tax_kopecks          bigint,
    net_kopecks          bigint,
    refunded_at          timestamptz,
    -- the provider's object as we last fetched and verified it
    provider_object      jsonb,
    idempotency_key      text not null unique,
    subscription_id      uuid,
    confirmation_url     text,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    succeeded_at         timestamptz
);
create unique index payments_provider_payment on payments (provider, provider_payment_id) where provider_payment_id is not null;
create index payments_user_recent on payments (user_id, created_at desc);
create index payments_succeeded_at on payments (succeeded_at) where status in ('succeeded', 'refunded');

-- Subscriptions: 30-day periods renewed through a saved payment method until cancelled.
create table subscriptions (
    id                  uuid primary key,
    user_id             bigint not null references users (telegram_id),
    product             text not null,
    rail                text not null check (rail in ('yookassa', 'stars')),
    status              text not null check (status in ('active', 'canceled', 'past_due', 'lapsed', 'replaced')),
    period_start        timestamptz not null,
    period_end          timestamptz not null,
    auto_renew          boolean not null default true,
    payment_method_id   text,
    renewal_attempts    integer not null default 0,
    next_attempt_at     timestamptz,
    carried_over        boolean not null default false,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    check (period_end > period_start)
);
-- at most one current subscription per user
create unique index subscriptions_one_current on subscriptions (user_id) where status in ('active', 'canceled', 'past_due');
create index subscriptions_due on subscriptions (period_end) where status in ('active', 'past_due');
