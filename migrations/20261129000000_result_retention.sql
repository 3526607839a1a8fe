-- The retention job finds finished results by age without scanning the whole table.
create index generations_results_by_age on generations (finished_at)
    where deleted_at is null and result_key is not null;
