// The example business domain, protected like the seed's: bearer + session on every call.
import { Type } from '@sinclair/typebox';
import { defineMethod } from '../server/rpc/method.ts';
import { RpcError } from '../server/errors.ts';
import type { AgentRow, Change } from '../server/stores/agentStore.ts';

const Agent = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  description: Type.String(),
  is_active: Type.Boolean(),
  created_by: Type.Union([Type.Integer(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
const Id = Type.Integer({ minimum: 1, maximum: 9007199254740991 });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Description = Type.String({ maxLength: 2000 });

const view = (a: AgentRow) => ({ ...a, created_at: a.created_at.toISOString(), updated_at: a.updated_at.toISOString() });
const found = (a: AgentRow | undefined, id: number) => {
  if (!a) throw new RpcError('NOT_FOUND', `No agent ${id}`);
  return view(a);
};

/** The answer to a change of an agent: its new state, or FORBIDDEN (someone else's), or NOT_FOUND. */
const changed = (change: Change, id: number) => {
  if (change.outcome === 'forbidden') throw new RpcError('FORBIDDEN', `Agent ${id} belongs to another user: only its creator or an admin user may change it`);
  if (change.outcome === 'missing') throw new RpcError('NOT_FOUND', `No agent ${id}`);
  return view(change.agent);
};

export const list = defineMethod({
  name: 'agents.list',
  summary: 'Active agents, oldest first, a page at a time: pass `next` back as `after` for the following page (keyset by id; nothing is counted unless with_total).',
  params: Type.Object(
    {
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Agents per page (1-100).' })),
      after: Type.Optional(Type.Integer({ minimum: 0, maximum: 9007199254740991, default: 0, description: "The previous page's `next`: the page starts after this id." })),
      offset: Type.Optional(
        Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0, description: 'Kept for compatibility: rows skipped (after `after`); costs what it skips, so page with `after` instead.' }),
      ),
      include_inactive: Type.Optional(Type.Boolean()),
      with_total: Type.Optional(Type.Boolean({ description: 'Also answer `total`: counted up to 10,000, estimated beyond (then total_is_estimate is true).' })),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({
    items: Type.Array(Agent),
    limit: Type.Integer(),
    offset: Type.Integer(),
    /** The id to pass as `after` for the next page; null on the last page. */
    next: Type.Union([Type.Integer(), Type.Null()], { description: 'Pass as `after` for the next page; null on the last page.' }),
    total: Type.Optional(Type.Integer({ description: 'With with_total only.' })),
    total_is_estimate: Type.Optional(Type.Boolean({ description: "With with_total only: true when total is the planner's estimate (more than 10,000 agents)." })),
  }),
  requires: { session: true },
  // The agents' version rides in the validated call's one cache round trip: a page kept at that
  // version is answered from this process's memo, without PostgreSQL (server/stores/agentPages.ts).
  reads: ['agents'],
  async handler(params, ctx) {
    const limit = params.limit ?? 20;
    const offset = params.offset ?? 0;
    const includeInactive = params.include_inactive === true;
    const [page, counted] = await Promise.all([
      ctx.services.agents.page({ limit, after: params.after ?? 0, offset, includeInactive }, ctx.versions?.agents),
      params.with_total ? ctx.services.agents.total(includeInactive) : undefined,
    ]);
    return {
      items: page.items,
      limit,
      offset,
      next: page.next,
      ...(counted ? { total: counted.total, total_is_estimate: counted.estimated } : {}),
    };
  },
});

export const get = defineMethod({
  name: 'agents.get',
  summary: 'One agent by id.',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  result: Agent,
  requires: { session: true },
  target: ['id'],
  handler: async (params, ctx) => found(await ctx.services.agents.get(params.id), params.id),
});

export const create = defineMethod({
  name: 'agents.create',
  summary: 'Creates an agent (at most AGENTS_PER_USER_LIMIT per user; beyond it AGENT_LIMIT_REACHED).',
  params: Type.Object({ name: Name, description: Type.Optional(Description) }, { additionalProperties: false }),
  result: Agent,
  requires: { session: true },
  async handler(params, ctx) {
    const limit = ctx.services.config.agentsPerUserLimit;
    const made = await ctx.services.agents.create(params, ctx.user.id, limit);
    if (!made) {
      ctx.services.log.warn({ request_id: ctx.requestId, user_id: ctx.user.id, limit }, '[AGENT LIMIT] agents.create refused: the user has created as many agents as AGENTS_PER_USER_LIMIT allows');
      throw new RpcError('AGENT_LIMIT_REACHED', `This user has created ${limit} agents, the most AGENTS_PER_USER_LIMIT allows: reuse one of them (agents.update), or ask an administrator to raise AGENTS_PER_USER_LIMIT.`, { limit });
    }
    return view(made);
  },
});

const actorOf = (user: { id: number; is_admin: boolean }) => ({ userId: user.id, isAdmin: user.is_admin });

export const update = defineMethod({
  name: 'agents.update',
  summary: "Changes an agent's name or description. Its creator or an admin user only.",
  params: Type.Object({ id: Id, name: Type.Optional(Name), description: Type.Optional(Description) }, { additionalProperties: false }),
  result: Agent,
  requires: { session: true },
  target: ['id'],
  handler: async (params, ctx) => changed(await ctx.services.agents.update(params.id, params, actorOf(ctx.user)), params.id),
});

export const deactivate = defineMethod({
  name: 'agents.deactivate',
  summary: 'Marks an agent inactive (it stays readable by id). Its creator or an admin user only.',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  result: Agent,
  requires: { session: true },
  target: ['id'],
  handler: async (params, ctx) => changed(await ctx.services.agents.deactivate(params.id, actorOf(ctx.user)), params.id),
});

export const activate = defineMethod({
  name: 'agents.activate',
  summary: 'Marks an inactive agent active again. Its creator or an admin user only.',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  result: Agent,
  requires: { session: true },
  target: ['id'],
  handler: async (params, ctx) => changed(await ctx.services.agents.activate(params.id, actorOf(ctx.user)), params.id),
});
