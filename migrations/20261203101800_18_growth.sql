-- Issue 18: referrals, promo codes, re-engagement through the bot, onboarding.

-- Each user's personal referral code (random, unguessable; `ref_<code>` in the bot and Mini
-- App links), whether they want reminders from the bot, and when they finished (or skipped)
-- the onboarding cards.
alter table users
    add column referral_code text not null default substr(replace(gen_random_uuid()::text, '-', ''), 1, 12),
    add column reminders_off boolean not null default false,
    add column onboarded_at timestamptz;
create unique index users_referral_code on users (referral_code);

-- Who invited whom: one row per invited user (the invitee may not have a users row yet when
-- the invitation came through the bot's /start). Both get credits once, on the invitee's first
-- payment (`rewarded_at`; ledger keys `referral:<invitee>:invitee|inviter`).
create table referrals (
    invitee      bigint primary key,
    referrer     bigint not null references users (telegram_id),
    source       text not null check (source in ('startapp', 'bot')),
    created_at   timestamptz not null default now(),
    rewarded_at  timestamptz,
    check (invitee <> referrer)
);
create index referrals_by_referrer on referrals (referrer);

-- Promo codes made by an operator: credits, or a discount percent on a product's next payment.
create table promo_codes (
    code              text primary key,
    credits           integer check (credits between 1 and 100000),
    discount_percent  integer check (discount_percent between 1 and 90),
    product           text,
    max_uses          integer not null check (max_uses > 0),
    uses              integer not null default 0 check (uses >= 0 and uses <= max_uses),
    expires_at        timestamptz,
    created_by        bigint not null,
    created_at        timestamptz not null default now(),
    check ((credits is null) <> (discount_percent is null)),
    check (discount_percent is null or product is not null)
);

-- One redemption per user and code. A discount waits for the next payment of its product:
-- `payment_id` is the payment it was applied to (free again if that payment was canceled).
create table promo_redemptions (
    code          text not null references promo_codes (code),
    user_id       bigint not null references users (telegram_id),
    redeemed_at   timestamptz not null default now(),
    payment_id    uuid references payments (id),
    primary key (code, user_id)
);
create index promo_redemptions_user on promo_redemptions (user_id);

-- Re-engagement messages sent by the bot: once per (user, kind, key) — the month for
-- "free credits are back", the payment id for "a purchase left unpaid".
create table reminders_sent (
    user_id   bigint not null references users (telegram_id),
    kind      text not null check (kind in ('free_credits', 'unpaid')),
    key       text not null,
    sent_at   timestamptz not null default now(),
    primary key (user_id, kind, key)
);
create index reminders_sent_recent on reminders_sent (user_id, sent_at desc);
