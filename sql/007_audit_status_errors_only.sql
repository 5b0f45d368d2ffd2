-- The status index holds refused calls only. Nearly every audited call answers 200, and each index a
-- row enters costs PostgreSQL CPU on every call (bench/: ~2 µs of ~12 per row); the status queries
-- operators run (401s of the last day, 429s, 503s) read refusals. A status = 200 filter reads by time.
drop index if exists api_access_log_status_at;
create index api_access_log_status_at on api_access_log (status, at desc) where status <> 200;
