// agents: the example business domain, protected like the seed's.
import type postgres from 'postgres';
import type { Sql } from './database.ts';

export interface AgentRow {
  id: number;
  name: string;
  description: string;
  is_active: boolean;
  created_by: number | null;
  created_at: Date;
  updated_at: Date;
}

const numeric = (r: AgentRow): AgentRow => ({ ...r, id: Number(r.id), created_by: r.created_by === null ? null : Number(r.created_by) });

/** Who may change an agent: its creator, or any admin user. */
export interface Actor {
  userId: number;
  isAdmin: boolean;
}

/** A change to someone's agent: made, refused (the agent is someone else's), or no such agent. */
export type Change = { outcome: 'changed'; agent: AgentRow } | { outcome: 'forbidden' } | { outcome: 'missing' };

export function agentStore(sql: Sql) {
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
      return { outcome: 'changed', agent: numeric(row as AgentRow) };
    }
    return { outcome: result.present ? 'forbidden' : 'missing' };
  }

  return {
    async list(limit: number, offset: number, includeInactive: boolean): Promise<{ items: AgentRow[]; total: number }> {
      const which = includeInactive ? sql`true` : sql`is_active`;
      // One round trip whatever the page: the total beside the page's rows, and one row of nulls
      // (id null) when the page is empty.
      const rows = await sql<(Omit<AgentRow, 'id'> & { id: number | null; total: number })[]>`
        select (select count(*)::int from agents where ${which}) as total, page.*
          from (select 1) as one
          left join (select * from agents where ${which} order by id limit ${limit} offset ${offset}) as page on true`;
      const items = rows.filter((r) => r.id !== null).map(({ total: _, ...row }) => numeric(row as AgentRow));
      return { items, total: rows[0].total };
    },
    async get(id: number): Promise<AgentRow | undefined> {
      const [row] = await sql<AgentRow[]>`select * from agents where id = ${id}`;
      return row && numeric(row);
    },
    async create(agent: { name: string; description?: string }, createdBy: number): Promise<AgentRow> {
      const [row] = await sql<AgentRow[]>`
        insert into agents (name, description, created_by) values (${agent.name}, ${agent.description ?? ''}, ${createdBy}) returning *`;
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
