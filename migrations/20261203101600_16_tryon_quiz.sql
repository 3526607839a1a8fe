-- Issue 16: the try-on quiz, clean masters and ratings.
-- What an upload is for ("my photos" / "my wardrobe"); null for editor attachments and old rows.
alter table uploads add column kind text check (kind in ('person', 'garment'));
create index uploads_user_kind_recent on uploads (user_id, kind, created_at desc) where deleted_at is null;

-- The clean master of a watermarked (free-tier) result: `result_key` is what is delivered
-- (watermarked), `master_key` the clean original that later edits chain on. Null when the
-- result is not watermarked (then `result_key` is clean).
alter table generations add column master_key text;
alter table generations add column master_bytes bigint;

-- The user's rating of a result: +1 / -1 with an optional reason (summarised for the operator).
alter table generations add column rating smallint check (rating in (-1, 1));
alter table generations add column rating_reason text;
alter table generations add column rated_at timestamptz;
create index generations_rated on generations (rated_at desc) where rating is not null;
