// Overview: the figures of admin.stats (active sessions, logins and refusals per minute by error code,
// hijack detections, session ends, the cache) and the live events counted since the page opened.
import { rpc } from '../api.ts';
import { bars, legend, stackedBars } from '../charts.ts';
import { fill, h } from '../dom.ts';
import { openFeed, type SessionEvent } from '../liveFeed.ts';

interface Stats {
  active_sessions: number;
  average_session_duration_seconds: number;
  unauthorized_last_day: number;
  hijack_detections: Record<string, number>;
  sessions_ended: Record<string, number>;
  timeline: { minute: string; logins: number; refusals: Record<string, number> }[];
  cache: { kind: string; reachable: boolean; behind: boolean; log_position: number; cache_position: number | null };
}

const tile = (label: string, value: string, id: string) => h('div', { class: 'tile', id }, h('div', { class: 'value' }, value), h('div', { class: 'label' }, label));

export async function overview(main: HTMLElement): Promise<() => void> {
  const figures = h('div');
  const live = h('div', { class: 'panel', id: 'live-events' });
  fill(main, h('h1', {}, 'Overview'), figures, live);

  const liveCounts: Record<string, number> = {};
  let feedState = 'connecting';
  const drawLive = () =>
    fill(live, h('h2', {}, 'Live events since this page opened'), h('p', { class: 'muted', id: 'live-state' }, `feed: ${feedState}`), bars(liveCounts, 'Live events by type'));
  drawLive();
  const closeFeed = openFeed(
    (e: SessionEvent) => {
      const key = e.reason ? `${e.type} (${e.reason})` : e.type;
      liveCounts[key] = (liveCounts[key] ?? 0) + 1;
      drawLive();
    },
    (state) => {
      feedState = state;
      drawLive();
    },
  );

  async function draw(): Promise<void> {
    const stats = await rpc<Stats>('admin.stats', { timeline_minutes: 30 });
    const codes = [...new Set(stats.timeline.flatMap((m) => Object.keys(m.refusals)))].sort();
    const labels = stats.timeline.map((m) => m.minute.slice(11, 16));
    const series = [{ name: 'logins', values: stats.timeline.map((m) => m.logins) }, ...codes.map((code) => ({ name: `refused: ${code}`, values: stats.timeline.map((m) => m.refusals[code] ?? 0) }))];
    const hijacks = Object.values(stats.hijack_detections).reduce((a, b) => a + b, 0);
    const ended = Object.fromEntries(Object.entries(stats.sessions_ended).filter(([, n]) => n > 0));
    const cache = stats.cache;
    fill(
      figures,
      h(
        'div',
        { class: 'tiles' },
        tile('active sessions', String(stats.active_sessions), 'tile-active'),
        tile('average session (s)', String(stats.average_session_duration_seconds), 'tile-duration'),
        tile('401 answers, last day', String(stats.unauthorized_last_day), 'tile-401'),
        tile('hijack detections, last day', String(hijacks), 'tile-hijacks'),
        tile(`cache (${cache.kind})`, !cache.reachable ? 'unreachable' : cache.behind ? 'behind' : 'up to date', 'tile-cache'),
      ),
      h(
        'div',
        { class: 'charts' },
        h('div', { class: 'panel' }, h('h2', {}, 'Logins and refusals per minute (last 30 minutes)'), stackedBars(labels, series, 'Logins and refusals per minute'), legend(series.map((x) => x.name))),
        h('div', { class: 'panel' }, h('h2', {}, 'Hijack detections by component'), bars(stats.hijack_detections, 'Hijack detections'), h('h2', {}, 'Sessions ended by reason'), bars(ended, 'Sessions ended')),
      ),
      h('p', { class: 'muted' }, `cache position ${cache.cache_position ?? 'unknown'} of change log ${cache.log_position}`),
    );
  }
  await draw();
  const timer = setInterval(() => void draw().catch(() => {}), 15_000);
  return () => {
    clearInterval(timer);
    closeFeed();
  };
}
