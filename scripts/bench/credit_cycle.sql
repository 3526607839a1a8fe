-- The credit path's SQL as pgbench runs it: one reserve (one statement: balance columns, hold,
-- ledger row) and one commit (one statement: hold status, ledger marker), exactly as
-- src/db/credits.rs issues them; only the optimistic guard compares the balance with a lower
-- bound instead of the session's cached snapshot (pgbench has no cache to compare with), and
-- `chr(58)` spells the colon of the ledger keys (pgbench would read `:reserve` as a variable).
-- Client i works for user i + 1, like the HTTP side's one connection per user.
\set uid :client_id + 1
with u as (
    update users set free_credits = free_credits - 0, sub_credits = sub_credits - 0,
        purchased_credits = purchased_credits - 1, updated_at = now()
    where telegram_id = :uid and purchased_credits >= 1
    returning free_credits, sub_credits, purchased_credits
), h as (
    insert into holds (id, user_id, idempotency_key, purpose, amount, from_free, from_subscription, from_purchased, generation_id, expires_at)
    select gen_random_uuid(), :uid, 'pgbench-' || gen_random_uuid()::text, 'bench', 1, 0, 0, 1, null, now() + interval '30 minutes' from u
    returning id, idempotency_key
), l as (
    insert into ledger (user_id, idempotency_key, kind, reason, delta_free, delta_subscription, delta_purchased, amount, hold_id, generation_id)
    select :uid, idempotency_key || chr(58) || 'reserve', 'reserve', 'bench', 0, 0, -1, -1, id, null from h
)
select id::text as hold_id from h \gset
with h as (
    update holds set status = 'committed', settled_at = now(), updated_at = now()
    where id = cast(:hold_id as uuid) and status = 'held'
    returning id, user_id, idempotency_key, purpose, amount, generation_id
), l as (
    insert into ledger (user_id, idempotency_key, kind, reason, amount, hold_id, generation_id)
    select user_id, idempotency_key || chr(58) || 'commit', 'commit', purpose, amount, id, generation_id from h
)
select count(*) from h;
