-- The audit partitioned by day (UTC), so retention drops whole days instead of deleting rows, and a
-- query over a time range reads only the days it covers. An existing unpartitioned table is converted
-- in this one transaction: every row keeps its id, and the id sequence carries on where it was.
--
-- A unique key on a partitioned table must include the partition key: the primary key is (id, at) and
-- the replay's dedup key (server/audit/auditLog.ts, ON CONFLICT) is (event_id, at). A spooled row is
-- replayed with the `at` it was recorded with, so the pair identifies it exactly as event_id did.

-- Day partitions from first_day to last_day (inclusive), made when missing. A day whose rows already
-- sit in the default partition is left there (creating it would fail); the log says so at the caller.
create or replace function tether_audit_partitions(first_day date, last_day date) returns int language plpgsql as $$
declare
  d date := first_day;
  made int := 0;
  name text;
  low timestamptz;
  high timestamptz;
begin
  -- Two instances running the maintenance at once: the second waits, then finds the tables made.
  perform pg_advisory_xact_lock(7460502);
  -- Making a partition locks the parent: behind a long audit query, give up (and retry within the
  -- hour: the days are made a week ahead) rather than hold every audit write queued behind us.
  perform set_config('lock_timeout', '2s', true);
  while d <= last_day loop
    name := 'api_access_log_p' || to_char(d, 'YYYYMMDD');
    low := d::timestamp at time zone 'UTC';
    high := (d + 1)::timestamp at time zone 'UTC';
    if to_regclass(name) is null
       and not exists (select 1 from api_access_log_default where at >= low and at < high) then
      execute format('create table %I partition of api_access_log for values from (%L) to (%L)', name, low, high);
      made := made + 1;
    end if;
    d := d + 1;
  end loop;
  return made;
end $$;

-- Drops the day partitions wholly before `cutoff`; returns how many. Rows in the default partition
-- are the caller's to delete.
create or replace function tether_audit_drop_partitions(cutoff timestamptz) returns int language plpgsql as $$
declare
  part record;
  dropped int := 0;
begin
  perform pg_advisory_xact_lock(7460502);
  perform set_config('lock_timeout', '2s', true);
  for part in
    select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'api_access_log'::regclass and c.relname ~ '^api_access_log_p[0-9]{8}$'
       and (to_date(substring(c.relname from 17), 'YYYYMMDD') + 1)::timestamp at time zone 'UTC' <= cutoff
     order by c.relname
  loop
    execute format('drop table %I', part.relname);
    dropped := dropped + 1;
  end loop;
  return dropped;
end $$;

alter table api_access_log rename to api_access_log_unpartitioned;
-- Its index names are reused below; the table itself goes at the end.
alter table api_access_log_unpartitioned drop constraint api_access_log_pkey;
drop index api_access_log_event, api_access_log_at, api_access_log_user_at, api_access_log_client_at,
           api_access_log_status_at, api_access_log_error_at, api_access_log_client_request_id;

create table api_access_log (
  id             bigint not null default nextval('api_access_log_id_seq'),
  event_id       uuid not null,
  at             timestamptz not null,
  request_id     text not null,
  method         text not null,
  status         integer not null,
  error_code     text,
  duration_ms    real not null,
  user_id        bigint,
  client_id      text,
  session_hash_prefix text,
  ip             text,
  user_agent     text,
  reason         text,
  target_id      text,
  client_request_id text,
  actor          text
) partition by range (at);
-- The sequence now belongs to the new table (else dropping the old one would drop it).
alter sequence api_access_log_id_seq owned by api_access_log.id;
-- Rows of a day without a partition (a clock far off, a replay older than the oldest day kept) land
-- here rather than being refused.
create table api_access_log_default partition of api_access_log default;

select tether_audit_partitions(
  least(coalesce((select (min(at) at time zone 'UTC')::date from api_access_log_unpartitioned), 'infinity'::date),
        (now() at time zone 'UTC')::date - 1),
  (now() at time zone 'UTC')::date + 7);

-- One statement: the migration's transaction makes the move all or nothing (chunks would only help
-- with commits between them, which a migration cannot make). Indexes are built after, once per partition.
insert into api_access_log (id, event_id, at, request_id, method, status, error_code, duration_ms, user_id, client_id,
                            session_hash_prefix, ip, user_agent, reason, target_id, client_request_id, actor)
select id, event_id, at, request_id, method, status, error_code, duration_ms, user_id, client_id,
       session_hash_prefix, ip, user_agent, reason, target_id, client_request_id, actor
  from api_access_log_unpartitioned;
drop table api_access_log_unpartitioned;

alter table api_access_log add primary key (id, at);
create unique index api_access_log_event on api_access_log (event_id, at);
-- Within a day's partition rows are appended in time order: BRIN stays tiny.
create index api_access_log_at on api_access_log using brin (at);
create index api_access_log_user_at on api_access_log (user_id, at desc) where user_id is not null;
create index api_access_log_client_at on api_access_log (client_id, at desc) where client_id is not null;
create index api_access_log_status_at on api_access_log (status, at desc) where status <> 200;
create index api_access_log_error_at on api_access_log (error_code, at desc) where error_code is not null;
create index api_access_log_client_request_id on api_access_log (client_request_id) where client_request_id is not null;
