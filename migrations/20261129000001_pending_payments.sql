-- The reconciliation job looks up pending payments by age.
create index payments_pending on payments (created_at) where status = 'pending';
