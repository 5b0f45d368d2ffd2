// agents: the example business domain, protected like the seed's.
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

export function agentStore(sql: Sql) {
  return {
    async list(limit: number, offset: number, includeInactive: boolean): Promise<{ items: AgentRow[]; total: number }> {
      const which = includeInactive ? sql`true` : sql`is_active`;
      // One round trip: the window count rides on every row. Only a page past the end needs a second.
      const rows = await sql<(AgentRow & { total: number })[]>`
        select *, count(*) over ()::int as total from agents where ${which} order by id limit ${limit} offset ${offset}`;
      if (rows.length) return { items: rows.map(({ total: _, ...row }) => numeric(row)), total: rows[0].total };
      const [{ total }] = await sql<{ total: number }[]>`select count(*)::int as total from agents where ${which}`;
      return { items: [], total };
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
    async update(id: number, patch: { name?: string; description?: string }): Promise<AgentRow | undefined> {
      const [row] = await sql<AgentRow[]>`
        update agents set name = coalesce(${patch.name ?? null}, name),
                          description = coalesce(${patch.description ?? null}, description),
                          updated_at = now()
         where id = ${id} returning *`;
      return row && numeric(row);
    },
    async deactivate(id: number): Promise<AgentRow | undefined> {
      const [row] = await sql<AgentRow[]>`update agents set is_active = false, updated_at = now() where id = ${id} returning *`;
      return row && numeric(row);
    },
  };
}

export type AgentStore = ReturnType<typeof agentStore>;
