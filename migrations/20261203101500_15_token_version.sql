-- Issue 15: a per-user token version. Every session token carries the version it was issued
-- with; blocking a user and "delete my data" bump it, so tokens issued before stop working at
-- once instead of when they expire.
alter table users add column token_version integer not null default 0;
