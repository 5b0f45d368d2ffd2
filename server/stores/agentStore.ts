// agents: the example business domain, protected like the seed's. A change of an agent is committed
// (a trigger appends it to the change log, sql/017), then `afterChange` brings the cache's agents
// version up to the log before the change is answered, so no instance serves a memoised page the
// change made wrong (agentPages.ts).
import type postgres from 'postgres';
import type { Sql } from './database.ts';
import { agentPages, type AgentPages, type Page, type PageQuery } from './agentPages.ts';

export interface AgentRow {
  id: number;
  name: string;
  description: string;
  is_active: boolean;
  created_by: number | null;
  created_at: Date;
  updated_at: Date;
}

/** An agent as an answer shows it: times as Date.prototype.toISOString writes them. */
export type AgentView = Omit<AgentRow, 'created_at' | 'updated_at'> & { created_at: string; updated_at: string };

/**
 * A UTC timestamp's text as PostgreSQL writes it in DateStyle ISO ("YYYY-MM-DD HH:MI:SS", then a
 * fraction of 1-6 digits unless it is 0; postgres.js reads every timestamp in that style) as
 * Date.prototype.toISOString writes the same instant: milliseconds truncated, as new Date() of that text
 * does. Formatting here instead of to_char in the query: two to_char per row were about a fifth of
 * PostgreSQL's CPU for a page of 20 agents (bench/). A text of another shape (a year past 9999, a
 * hand-written 'infinity') is answered as PostgreSQL wrote it.
 */
export function isoOfUtcText(text: string): string {
  if (text.length < 19 || text.charCodeAt(10) !== 32 /* ' ' */ || text.charCodeAt(4) !== 45 /* '-' */) return text;
  const dot = text.indexOf('.', 19);
  const ms = dot === -1 ? '000' : text.length - dot > 3 ? text.slice(dot + 1, dot + 4) : text.slice(dot + 1).padEnd(3, '0');
  return `${text.slice(0, 10)}T${text.slice(11, 19)}.${ms}Z`;
}

/** Past this many, agents.list's total is the planner's estimate instead of a count. */
export const EXACT_COUNT_MAX = 10_000;

const numeric = (r: AgentRow): AgentRow => ({ ...r, id: Number(r.id), created_by: r.created_by === null ? null : Number(r.created_by) });

/** Who may change an agent: its creator, or any admin user. */
export interface Actor {
  userId: number;
  isAdmin: boolean;
}

/** A change to someone's agent: made, refused (the agent is someone else's), or no such agent. */
export type Change = { outcome: 'changed'; agent: AgentRow } | { outcome: 'forbidden' } | { outcome: 'missing' };

export function agentStore(sql: Sql, afterChange: () => Promise<void> = async () => {}, pages: AgentPages = agentPages()) {
  /**
   * One statement: the update carries the ownership condition, so no other call can change the owner
   * between a check and the write; whether the agent exists at all comes from the same snapshot
   * (agents are never deleted), which tells a refusal from a missing id.
   */
  async function change(id: number, actor: Actor, set: postgres.Fragment): Promise<Change> {
    const [result] = await sql<(Partial<AgentRow> & { present: boolean })[]>`
      with changed as (
        update agents set ${set}, updated_at = now()
         where id = ${id} and (created_by = ${actor.userId} or ${actor.isAdmin}::boolean)
        returning *)
      select changed.*, exists (select 1 from agents where id = ${id}) as present
        from (select 1) as one left join changed on true`;
    if (result.id !== null && result.id !== undefined) {
      const { present: _, ...row } = result;
      await afterChange();
      return { outcome: 'changed', agent: numeric(row as AgentRow) };
    }
    return { outcome: result.present ? 'forbidden' : 'missing' };
  }

  /**
   * A page by keyset: the agents after id `after` (skipping `offset` more, for callers that still page
   * by offset; that part costs what it skips), oldest first. One row beyond the page is read to know
   * whether another page follows, so `next` is exact and nothing is counted.
   */
  async function read(options: PageQuery): Promise<Page> {
    const { limit, after, offset, includeInactive } = options;
    const which = includeInactive ? sql`true` : sql`is_active`;
    // Numbers as numbers, times as UTC text made ISO here (isoOfUtcText): no Date built to be formatted again.
    const rows = await sql<AgentView[]>`
      select id::float8 as id, name, description, is_active, created_by::float8 as created_by,
             (created_at at time zone 'UTC')::text as created_at, (updated_at at time zone 'UTC')::text as updated_at
        from agents where ${which} and agents.id > ${after} order by agents.id limit ${limit + 1} offset ${offset}`;
    for (const row of rows) {
      row.created_at = isoOfUtcText(row.created_at);
      row.updated_at = isoOfUtcText(row.updated_at);
    }
    // (agents.id: a bare `id` in ORDER BY would be the float8 output column, sorted without the index.)
    const more = rows.length > limit;
    const items = more ? rows.slice(0, limit) : rows;
    return { items, next: more ? items[limit - 1].id : null };
  }

  return {
    /**
     * A page (read() above), from the per-process memo when `version` (the agents' version the call's
     * lookup read; undefined when it had none usable) is the one it was kept under (agentPages.ts).
     */
    page(options: PageQuery, version?: string): Promise<Page> {
      return pages.page(options, version, () => read(options));
    },
    /**
     * The total when asked for, never by reading the table: the planner's estimate of the id index's
     * entries (pg_class.reltuples of agents_active_id for active agents, agents_pkey with inactive ones;
     * kept by autovacuum and ANALYZE) when it says more than twice EXACT_COUNT_MAX; otherwise up to
     * EXACT_COUNT_MAX + 1 entries counted from that index, exact when that is all there is. One
     * statement; the count runs only when the estimate is small or missing.
     */
    async total(includeInactive: boolean): Promise<{ total: number; estimated: boolean }> {
      const which = includeInactive ? sql`true` : sql`is_active`;
      const index = includeInactive ? 'agents_pkey' : 'agents_active_id';
      const [row] = await sql<{ counted: number | null; estimate: number | null }[]>`
        with planner as (select reltuples::float8 as n from pg_class where oid = to_regclass(${index}))
        select (select n from planner) as estimate,
               case when coalesce((select n from planner), -1) <= ${2 * EXACT_COUNT_MAX}
                    then (select count(*)::int from (select 1 from agents where ${which} limit ${EXACT_COUNT_MAX + 1}) bounded) end as counted`;
      if (row.counted !== null && row.counted <= EXACT_COUNT_MAX) return { total: row.counted, estimated: false };
      // More than EXACT_COUNT_MAX (by the estimate, or by the count): an estimate below that is not believed.
      return { total: Math.max(EXACT_COUNT_MAX + 1, Math.round(Number(row.estimate ?? 0))), estimated: true };
    },
    async get(id: number): Promise<AgentRow | undefined> {
      const [row] = await sql<AgentRow[]>`select * from agents where id = ${id}`;
      return row && numeric(row);
    },
    /**
     * One statement: the creator's slot (users.agents_created, below `limit`; 0 is no limit) is taken
     * by an UPDATE whose condition PostgreSQL re-checks under the row lock, and the agent is inserted
     * only from the row that update returned. Parallel creates by one user queue on that row, so
     * no two can pass the limit together. Answers undefined when the limit is reached.
     */
    async create(agent: { name: string; description?: string }, createdBy: number, limit: number): Promise<AgentRow | undefined> {
      const [row] = await sql<AgentRow[]>`
        with slot as (
          update users set agents_created = agents_created + 1
           where id = ${createdBy} and (${limit}::int = 0 or agents_created < ${limit}::int)
          returning id)
        insert into agents (name, description, created_by)
        select ${agent.name}, ${agent.description ?? ''}, id from slot
        returning *`;
      if (!row) return undefined;
      await afterChange();
      return numeric(row);
    },
    update(id: number, patch: { name?: string; description?: string }, actor: Actor): Promise<Change> {
      return change(id, actor, sql`name = coalesce(${patch.name ?? null}, name), description = coalesce(${patch.description ?? null}, description)`);
    },
    deactivate(id: number, actor: Actor): Promise<Change> {
      return change(id, actor, sql`is_active = false`);
    },
    activate(id: number, actor: Actor): Promise<Change> {
      return change(id, actor, sql`is_active = true`);
    },
  };
}

export type AgentStore = ReturnType<typeof agentStore>;
