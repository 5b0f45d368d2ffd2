// The live feed of session events: opened, ended (with the reason), refused for a fingerprint
// mismatch, logins throttled, newest first, as they happen.
import { fill, h, when } from '../dom.ts';
import { openFeed, type SessionEvent } from '../liveFeed.ts';

const KEEP = 300;

export async function feed(main: HTMLElement): Promise<() => void> {
  const state = h('p', { class: 'muted', id: 'feed-state' }, 'connecting');
  const list = h('ul', { class: 'feed', id: 'feed-list' });
  fill(main, h('h1', {}, 'Live feed of session events'), state, list);
  return openFeed(
    (e: SessionEvent) => {
      const item = h(
        'li',
        { 'data-event': e.id, 'data-type': e.type },
        h('span', { class: e.type === 'session.opened' ? 'badge good' : e.type === 'session.ended' ? 'badge' : 'badge bad' }, e.type),
        ` ${when(e.at)} user ${e.user_id ?? '-'} client ${e.client_id ?? '-'} session ${e.session_prefix ?? '-'}${e.reason ? ` reason ${e.reason}` : ''} #${e.id}`,
      );
      list.prepend(item);
      while (list.children.length > KEEP) list.lastElementChild?.remove();
    },
    (s) => void (state.textContent = `feed: ${s}`),
  );
}
