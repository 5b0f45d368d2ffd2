// ops/: the Prometheus alerting rules checked and unit-tested with promtool (Debian's `prometheus`
// package; .ci/run installs it when missing), the Grafana dashboard's queries checked by promtool as
// recording rules, and every tether_* metric the rules and the dashboard use exported by a live server.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestTether } from '../support/tether.ts';

const ops = fileURLToPath(new URL('../../ops/', import.meta.url));
const rules = join(ops, 'prometheus/tether.rules.yml');
const ruleTests = join(ops, 'prometheus/tether.rules.test.yml');
const dashboard = JSON.parse(readFileSync(join(ops, 'grafana/tether.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };

function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function promtool(args: string[], input?: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', args, { cwd: join(ops, 'prometheus'), timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The dashboard's queries with Grafana's variables given values PromQL accepts. */
const dashboardExprs = () => dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*') })));

const metricNames = (text: string) => new Set([...text.matchAll(/\btether_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));

if (hasPromtool()) {
  test('promtool check rules: the alerting rules are valid', async () => {
    const { code, output } = await promtool(['check', 'rules', rules]);
    assert.is(code, 0, output);
    assert.match(output, /SUCCESS: \d+ rules found/);
  });

  test('promtool test rules: every alert fires (and stays quiet) when its unit test says', async () => {
    const { code, output } = await promtool(['test', 'rules', ruleTests]);
    assert.is(code, 0, output);
    assert.match(output, /SUCCESS/);
  });

  test("promtool check rules: the Grafana dashboard's queries are valid PromQL", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tether-dashboard-'));
    try {
      const recorded = dashboardExprs().map((e, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(e.expr)}`);
      const file = join(dir, 'dashboard.rules.yml');
      writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${recorded.join('\n')}\n`);
      const { code, output } = await promtool(['check', 'rules', file]);
      assert.is(code, 0, output);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
} else {
  // uvu has no run-time skip: a skipped test carries the reason, and the log says what to install.
  console.log('promtool is not installed: skipping promtool check/test rules (apt-get install prometheus; .ci/run installs it)');
  test.skip('promtool missing (apt-get install prometheus): promtool check rules / test rules skipped', () => {});
}

/** The input series of the promtool tests: name, labels (without instance and job), first value. */
function fedSeries(): { name: string; labels: Record<string, string>; first: string; text: string }[] {
  const yml = readFileSync(ruleTests, 'utf8');
  return [...yml.matchAll(/- series: '([a-z_:]+)\{([^}]*)\}'\s*\n\s*values: '(\S+)/g)].map(([, name, body, values]) => {
    const labels: Record<string, string> = {};
    for (const [, k, v] of body.matchAll(/([a-z_]+)="([^"]*)"/g)) if (k !== 'instance' && k !== 'job') labels[k] = v;
    return { name, labels, first: values.split(/[x+ ]/)[0], text: `${name}{${body}}` };
  });
}

test('the promtool tests feed the counters as a fresh server exports them: present from the start, at 0', async () => {
  // A server that has answered no call: what Prometheus scrapes first after a start.
  const t = await startTestTether();
  try {
    const exposition = await (await fetch(`${t.url}/metrics`)).text();
    const exported = new Map<string, number>();
    for (const line of exposition.split('\n')) {
      const m = /^(tether_[a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) continue;
      const labels = [...(m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map(([, k, v]) => `${k}=${v}`).sort().join(',');
      exported.set(`${m[1]}{${labels}}`, Number(m[3]));
    }
    const key = (name: string, labels: Record<string, string>) => `${name}{${Object.entries(labels).map(([k, v]) => `${k}=${v}`).sort().join(',')}}`;
    const counters = fedSeries().filter((s) => /^tether_.*_total$/.test(s.name));
    assert.ok(counters.length >= 10, `${counters.length} counter series fed`);
    for (const s of counters) {
      // "_": absent at first: only the one test that shows why the zeros are exported.
      if (s.first === '_') continue;
      assert.ok(exported.has(key(s.name, s.labels)), `${s.text} is fed from 0 but a fresh server does not export it`);
      assert.is(exported.get(key(s.name, s.labels)), 0, `${s.text} starts at 0`);
      assert.is(Number(s.first), 0, `${s.text}: a counter's series starts at 0 after a start`);
    }
    // Every hijack component and the cache's error result: the two first-event alerts' inputs.
    for (const component of ['user-agent', 'ip', 'language', 'client-fingerprint', 'uid', 'client']) {
      assert.is(exported.get(key('tether_session_hijack_detections_total', { component })), 0, component);
    }
    assert.is(exported.get(key('tether_session_cache_lookups_total', { result: 'error' })), 0);
  } finally {
    await t.close();
  }
});

test('every tether_* metric the rules and the dashboard use is exported by a live server', async () => {
  const t = await startTestTether();
  try {
    const exposition = await (await fetch(`${t.url}/metrics`)).text();
    const exported = new Set([...exposition.matchAll(/^# TYPE (tether_[a-z_]+) /gm)].map((m) => m[1]));
    assert.ok(exported.has('tether_calls_total'), 'the exposition lists tether_calls_total');
    const used = new Set([...metricNames(readFileSync(rules, 'utf8')), ...dashboardExprs().flatMap((e) => [...metricNames(e.expr)])]);
    assert.ok(used.size >= 10, `${used.size} metrics used`);
    const missing = [...used].filter((name) => !exported.has(name));
    assert.equal(missing, [], `used but not exported: ${missing.join(', ')}`);
    if (hasPromtool()) {
      // prom-client's default Node.js gauges carry a _total suffix promtool lints (not ours to rename);
      // the metrics server/metrics.ts declares must lint clean.
      const { code, output } = await promtool(['check', 'metrics'], exposition);
      const ours = output.split('\n').filter((line) => /^tether_/.test(line) && !/^tether_(nodejs|process)_/.test(line));
      assert.ok(code === 0 || code === 3, `promtool check metrics failed to run: ${output}`);
      assert.equal(ours, [], `promtool check metrics: ${ours.join('; ')}`);
    }
  } finally {
    await t.close();
  }
});

test.run();
