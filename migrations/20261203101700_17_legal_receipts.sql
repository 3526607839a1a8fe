-- Issue 17: consents to the legal documents, the buyer's contact for receipts, the accounting of
-- refunds and the НПД yearly cap.

-- Each consent a user gave: to which document (`offer`, `privacy`, `autorenew`), which version of
-- its text, and when. A repeated consent to the same version keeps the first time.
create table consents (
    user_id      bigint not null references users (telegram_id),
    kind         text not null check (kind in ('offer', 'privacy', 'autorenew')),
    version      text not null,
    accepted_at  timestamptz not null default now(),
    primary key (user_id, kind, version)
);

-- The contact a receipt is sent to (YooKassa registers it in «Мой налог» or the cash register).
alter table users add column contact_email text, add column contact_phone text,
    add column contact_updated_at timestamptz;

-- The contact the payment's receipt carried (a refund's receipt goes to the same contact), and
-- what a refund reversed in the books (the payment's commission and tax).
alter table payments add column receipt_customer jsonb,
    add column refund_commission_kopecks bigint, add column refund_tax_kopecks bigint,
    add column provider_refund_id text;

-- The НПД cap per calendar year (in the configured timezone): the operator may raise the cap
-- (`cap_kopecks`, the configured one otherwise) or reset the count (income from `counted_from`);
-- each warning is sent once.
create table npd_cap_years (
    year           integer primary key,
    cap_kopecks    bigint check (cap_kopecks > 0),
    counted_from   timestamptz,
    warned_bp      integer not null default 0,
    updated_at     timestamptz not null default now()
);
