-- agents.list answers a page from a per-process memo while no agent changed (server/stores/agentPages.ts).
-- What "changed" means is the change log's (sql/008): every insert, update or delete of an agent, by
-- whatever path (Tether, another instance, SQL typed in psql), appends a row of kind 'agents' to
-- cache_changes in the transaction that makes it. The follower writes that row's position to the
-- cache's agents version key (server/cache/changeLog.ts), which a validated agents.list reads in its
-- one round trip; a memoised page is served only under the version it was read at.
--
-- One row per transaction, not per agent: a page depends on the table as a whole, so the rows of a
-- bulk change (the bench inserts 1M agents in one statement) would all say the same thing. Constraint
-- triggers can only be row-level, and the log's order needs the deferred trigger (the advisory lock
-- taken at commit, after every row lock, as sql/008 explains), so each row's trigger still fires at
-- commit, and all but the first of a transaction return at once: a transaction-local setting marks the
-- transaction as logged (reset at its end, and undone with a rolled-back subtransaction, as its
-- cache_changes row is).
alter table cache_changes drop constraint cache_changes_kind_check;
alter table cache_changes add constraint cache_changes_kind_check
  check (kind in ('session_end', 'session', 'user', 'client', 'token', 'agents'));

create or replace function tether_log_agents_change() returns trigger language plpgsql as $$
begin
  if current_setting('tether.agents_logged', true) = 'on' then
    return null;
  end if;
  perform set_config('tether.agents_logged', 'on', true);
  perform pg_advisory_xact_lock(7460502);
  insert into cache_changes (kind, key, data) values ('agents', '', '{}');
  perform pg_notify('tether_changes', '');
  return null;
end $$;

create constraint trigger agents_changed after insert or update or delete on agents
  deferrable initially deferred for each row execute function tether_log_agents_change();

-- TRUNCATE fires no row trigger, and a statement trigger cannot be deferred: this one logs at once,
-- holding the log's lock from the TRUNCATE to its commit (a TRUNCATE of agents is typed by hand; the
-- order of positions stays the commit order, since the lock is held until the commit).
create trigger agents_truncated after truncate on agents
  for each statement execute function tether_log_agents_change();
