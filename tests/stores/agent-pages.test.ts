// agents.list's page memo on its own (server/stores/agentPages.ts): served only at the version it was
// read at, one read shared by concurrent calls at one version, a failed read never kept, an older
// version never replacing a newer page, and both bounds (pages, text) holding. The memo through HTTP,
// the change log and Redis: tests/cache/agents-memo.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { agentPages, type Page, type PageMemoResult } from '../../server/stores/agentPages.ts';

const query = (after: number) => ({ limit: 20, after, offset: 0, includeInactive: false });
const agent = (id: number, description = '') => ({ id, name: `a${id}`, description, is_active: true, created_by: null, created_at: '', updated_at: '' });

function counting() {
  const counts: Record<PageMemoResult, number> = { hit: 0, miss: 0, bypass: 0 };
  let reads = 0;
  const read = (page: Page) => async () => {
    reads++;
    return page;
  };
  return { counts, counted: (r: PageMemoResult) => counts[r]++, read, reads: () => reads };
}

test('served at the version it was read at only; no version: read, kept nowhere', async () => {
  const c = counting();
  const memo = agentPages({ counted: c.counted });
  const first = await memo.page(query(0), '5', c.read({ items: [agent(1)], next: null }));
  assert.is(await memo.page(query(0), '5', c.read({ items: [agent(99)], next: null })), first);
  assert.is(c.reads(), 1);
  const newer = await memo.page(query(0), '6', c.read({ items: [agent(2)], next: null }));
  assert.is(newer.items[0].id, 2, 'another version: read again');
  // A call that read the older version reads for itself and leaves the newer page kept.
  assert.is((await memo.page(query(0), '5', c.read({ items: [agent(3)], next: null }))).items[0].id, 3);
  assert.is((await memo.page(query(0), '6', c.read({ items: [agent(4)], next: null }))).items[0].id, 2);
  await memo.page(query(0), undefined, c.read({ items: [agent(5)], next: null }));
  assert.equal(c.counts, { hit: 2, miss: 3, bypass: 1 });
  assert.ok(Object.isFrozen(first.items[0]) && Object.isFrozen(first.items), 'a kept page cannot be changed by a caller');
});

test('concurrent calls at one version share one read; a failed read is not kept', async () => {
  const c = counting();
  const memo = agentPages({ counted: c.counted });
  let release: (p: Page) => void = () => {};
  let reads = 0;
  const slow = () => {
    reads++;
    return new Promise<Page>((resolve) => (release = resolve));
  };
  const both = Promise.all([memo.page(query(1), '7', slow), memo.page(query(1), '7', slow)]);
  release({ items: [agent(1)], next: null });
  const [a, b] = await both;
  assert.is(a, b);
  assert.is(reads, 1);
  await memo.page(query(2), '7', async () => Promise.reject(new Error('down'))).catch(() => {});
  assert.is((await memo.page(query(2), '7', c.read({ items: [agent(2)], next: null }))).items[0].id, 2, 'read again after a failure');
});

test('bounded: the least recently used page goes first, by count and by text', async () => {
  const memo = agentPages({ max: 3 });
  const page = (id: number) => async () => ({ items: [agent(id)], next: null });
  for (const after of [1, 2, 3]) await memo.page(query(after), '1', page(after));
  await memo.page(query(1), '1', page(0)); // a hit: 1 is now the most recent
  await memo.page(query(4), '1', page(4)); // 2 goes
  assert.is(memo.size().pages, 3);
  let read = false;
  await memo.page(query(2), '1', async () => ((read = true), { items: [agent(2)], next: null }));
  assert.ok(read, 'the least recently used page was dropped');
  read = false;
  await memo.page(query(1), '1', async () => ((read = true), { items: [agent(1)], next: null }));
  assert.not.ok(read, 'the recently used page was kept');

  const small = agentPages({ maxText: 10_000 });
  for (let after = 0; after < 10; after++) await small.page(query(after), '1', async () => ({ items: [agent(after, 'x'.repeat(2000))], next: null }));
  assert.ok(small.size().text <= 10_000, JSON.stringify(small.size()));
  assert.ok(small.size().pages >= 1 && small.size().pages < 10);
});

test.run();
