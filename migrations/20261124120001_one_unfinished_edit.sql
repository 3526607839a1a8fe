-- A double tap on a chat variant must not start (and charge) the same edit twice: at most one
-- unfinished edit per user with the same prompt and input image. The prompt is hashed so long
-- prompts stay within the btree row limit.
create unique index generations_one_unfinished_edit
    on generations (user_id, md5(prompt), input_keys)
    where kind = 'edit' and status in ('queued', 'submitted', 'running');
