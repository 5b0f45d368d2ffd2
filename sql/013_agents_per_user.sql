-- A user may not create agents without bound: each user row counts the agents it has created, and
-- agents.create takes a slot in the same statement that inserts the agent (an UPDATE whose condition
-- is re-checked under the row lock), so parallel creates can never pass the limit together. Agents are
-- never deleted; a deactivated agent keeps its slot.
alter table users add column agents_created integer not null default 0;
update users u set agents_created = c.n
  from (select created_by, count(*)::int as n from agents where created_by is not null group by created_by) c
 where c.created_by = u.id;
