// Charts as inline SVG built with DOM calls: colours come from classes in console.css (s0..s7), never
// from inline styles.
import { h, s } from './dom.ts';

export interface Series {
  name: string;
  values: number[];
}

const colour = (i: number) => `s${i % 8}`;

export function legend(names: string[]): HTMLElement {
  return h('div', { class: 'legend' }, ...names.map((name, i) => h('span', {}, h('span', { class: `swatch ${colour(i)}` }), name)));
}

/** Stacked bars, one per label (a minute), a series per colour. */
export function stackedBars(labels: string[], series: Series[], title: string): SVGElement {
  const width = 720;
  const height = 200;
  const left = 32;
  const bottom = 20;
  const totals = labels.map((_, i) => series.reduce((sum, one) => sum + (one.values[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const step = (width - left) / Math.max(1, labels.length);
  const scale = (height - bottom - 10) / max;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title });
  svg.appendChild(s('title', {}, title));
  svg.appendChild(s('line', { class: 'axis', x1: left, y1: height - bottom, x2: width, y2: height - bottom }));
  svg.appendChild(s('text', { x: 0, y: 12 }, String(max)));
  svg.appendChild(s('text', { x: 0, y: height - bottom }, '0'));
  labels.forEach((label, i) => {
    let y = height - bottom;
    series.forEach((one, k) => {
      const value = one.values[i] ?? 0;
      if (!value) return;
      const barHeight = value * scale;
      y -= barHeight;
      const rect = s('rect', { class: colour(k), x: (left + i * step + 1).toFixed(1), y: y.toFixed(1), width: Math.max(1, step - 2).toFixed(1), height: barHeight.toFixed(1) });
      rect.appendChild(s('title', {}, `${label} ${one.name}: ${value}`));
      svg.appendChild(rect);
    });
    if (i % Math.ceil(labels.length / 8) === 0) svg.appendChild(s('text', { x: (left + i * step).toFixed(1), y: height - 5 }, label));
  });
  return svg;
}

/** Horizontal bars for named counts. */
export function bars(counts: Record<string, number>, title: string): SVGElement | HTMLElement {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return h('p', { class: 'muted' }, `${title}: none`);
  const width = 360;
  const row = 22;
  const labelWidth = 130;
  const max = Math.max(1, ...entries.map(([, n]) => n));
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${entries.length * row + 4}`, role: 'img', 'aria-label': title });
  svg.appendChild(s('title', {}, title));
  entries.forEach(([name, n], i) => {
    const y = i * row + 2;
    svg.appendChild(s('text', { x: 0, y: y + 14 }, name));
    const w = ((width - labelWidth - 40) * n) / max;
    svg.appendChild(s('rect', { class: colour(i), x: labelWidth, y, width: Math.max(n ? 2 : 0, w).toFixed(1), height: row - 6 }));
    svg.appendChild(s('text', { x: (labelWidth + w + 4).toFixed(1), y: y + 14 }, String(n)));
  });
  return svg;
}
