/**
 * `genrec demo` end to end, as a user runs it (the binary in a child process), on tiny settings:
 *   1. `--no-serve`: the pipeline runs, prints its summary, writes a bundle with offline metrics and curves.
 *   2. serving: a second run on the same data dir (the import adds nothing, a v2 bundle is trained) prints
 *      the address line; the dashboard is driven in Debian's Chromium (playwright-core): open a user, see
 *      recommendations rendered with titles, charts drawn, a screenshot saved; then SIGINT exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENREC_BIN } from '../../serve/spawn.js';

const CHROMIUM = '/usr/bin/chromium';
const TINY = ['--synthetic-users', '120', '--synthetic-items', '150', '--epochs', '2', '--eval-users', '40', '--test-users', '80', '--beam', '10'];
const env = { ...process.env, GENREC_PROGRESS: '0' };

function runDemo(dataDir: string, args: string[]): { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [GENREC_BIN, '--data-dir', dataDir, '--log-level', 'warn', 'demo', ...TINY, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

test('genrec demo --no-serve: data → store → semantic IDs → generator → test metrics vs MostPop → bundle', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'genrec-demo-'));
  const d = runDemo(dataDir, ['--no-serve']);
  const code = await d.exit;
  assert.equal(code, 0, d.err());
  const out = d.out();
  assert.doesNotMatch(out, /http:\/\//, 'no server without --no-serve');
  assert.match(out, /^step\s+seconds\s+result$/m);
  for (const s of ['data', 'import', 'tokenize', 'train', 'evaluate', 'bundle']) assert.match(out, new RegExp(`^${s}\\s+[0-9.]+\\s+\\S`, 'm'));
  assert.match(out, /^test metric\s+genrec\s+MostPop$/m);
  assert.match(out, /^ndcg@10\s+[0-9.e-]+\s+[0-9.e-]+$/m);
  const manifest = JSON.parse(readFileSync(join(dataDir, 'models', 'v1', 'manifest.json'), 'utf8'));
  for (const k of ['test_ndcg@10', 'mostpop_test_ndcg@10', 'valid_ndcg@10']) assert.equal(typeof manifest.metrics[k], 'number', k);
  assert.equal(manifest.data.users, 120);
  // The generated data has skips and dislikes: the model is trained on engagements only.
  const held = /holds [\d,]+ users, [\d,]+ items, ([\d,]+) events \(([\d,]+) engagements\)/.exec(out);
  assert.ok(held, 'the import step names events and engagements');
  const [events, engagements] = [held[1]!, held[2]!].map((s) => Number(s.replaceAll(',', '')));
  assert.ok(engagements > 0 && engagements < events!, `${engagements} engagements of ${events} events`);
  assert.equal(manifest.data.events, engagements);
  assert.ok(existsSync(join(dataDir, 'models', 'v1', manifest.files.tokenizer ?? 'no tokenizer in the manifest')), 'the bundle carries its tokenizer (codes for new items)');
  const curves = JSON.parse(readFileSync(join(manifest.train.runDir, 'curves.json'), 'utf8'));
  assert.equal(curves.epochs.length, manifest.train.epochs);
  assert.ok(existsSync(join(dataDir, 'store.duckdb')));
  t.diagnostic(out);

  await t.test('again, serving: the dashboard in Chromium shows a user\'s recommendations with titles; SIGINT exits 0', async (t2) => {
    const d2 = runDemo(dataDir, ['--port', '0']);
    t2.after(() => { if (d2.child.exitCode === null) d2.child.kill('SIGKILL'); });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const m = /^(http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(d2.out());
        if (m) { clearInterval(timer); resolve(m[1]!); }
      }, 100);
      void d2.exit.then((c) => { clearInterval(timer); reject(new Error(`demo exited with ${c} before serving:\n${d2.err()}`)); });
    });
    assert.match(d2.out(), /\+0 events/, 'the same data again adds nothing to the store');
    const overview = await (await fetch(new URL('/api/dashboard/overview', url))).json() as { Model: { Version: number; Metrics: Record<string, number> } };
    assert.equal(overview.Model.Version, 2);

    if (!existsSync(CHROMIUM)) {
      t2.skip(`Chromium not found at ${CHROMIUM}: the browser part is skipped (install it with \`apt-get install -y chromium\`; .ci/run does when it runs as root)`);
    } else {
      const { chromium } = await import('playwright-core');
      const profile = mkdtempSync(join(tmpdir(), 'genrec-chromium-'));
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1800 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
      });
      try {
        const page = browser.pages()[0] ?? await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(url);
        await page.waitForSelector('body[data-ready="1"]', { timeout: 30_000 });
        assert.equal(await page.textContent('#model-badge'), 'model v2');
        assert.ok(await page.locator('#user-picks button').count() > 0, 'the most active users are offered');
        // Type a user id and open it, as a person would. A lightly active user: on this tiny catalogue the
        // most active ones have seen nearly every item, and seen items are never recommended.
        const users = await (await fetch(new URL('/api/dashboard/users?n=200', url))).json() as { Users: Array<{ UserId: string }> };
        const user = users.Users[Math.floor(users.Users.length * 0.75)]!.UserId;
        await page.fill('#user-q', user);
        await page.click('#user-form button[type=submit]');
        await page.waitForSelector('#recs-table tbody tr', { timeout: 30_000 });
        // (Runs in the page; typed loosely because this package compiles without the DOM library.)
        const recs: Array<{ id: string; title: string; score: string }> = await page.$$eval('#recs-table tbody tr', (rows: any[]) => rows.map((r) => {
          const a = r.querySelector('a.item');
          return { id: a.dataset.item, title: a.textContent, score: r.children[2].textContent };
        }));
        assert.equal(recs.length, 10);
        const api = await (await fetch(new URL(`/api/dashboard/items?q=${encodeURIComponent(recs[0]!.id)}`, url))).json() as { Items: Array<{ ItemId: string; Title: string }> };
        const title = api.Items.find((x) => x.ItemId === recs[0]!.id)!.Title;
        assert.ok(title.length > 0);
        assert.equal(recs[0]!.title, title, 'the recommendation is shown by its title');
        for (const r of recs) assert.ok(Number.isFinite(Number(r.score)), r.score);
        assert.ok(await page.locator('#history-table tbody tr').count() > 0, 'the history is listed');
        assert.ok(await page.locator('#chart-loss canvas').count() > 0, 'the loss curve is drawn');
        assert.ok(await page.locator('#chart-metric canvas').count() > 0, 'the NDCG curve is drawn');
        assert.ok(await page.locator('#codes-table tbody tr').count() > 0, 'the semantic-ID tree is listed');
        assert.match((await page.textContent('#offline-table'))!, /MostPop · test/);
        // Similar items: click a recommended title.
        await page.locator('#recs-table a.item').first().click();
        await page.waitForSelector('#similar-table tbody tr', { timeout: 30_000 });
        // Live latency: the recommendation request just made shows up at the next poll (every 2 s).
        await page.waitForFunction(() => /[1-9][0-9]* requests/.test((globalThis as any).document.querySelector('#latency-summary').textContent), undefined, { timeout: 15_000 });
        await page.evaluate(() => (globalThis as any).scrollTo(0, 0));
        const shot = join(mkdtempSync(join(tmpdir(), 'genrec-dashboard-')), 'dashboard.png');
        await page.screenshot({ path: shot, fullPage: true });
        t2.diagnostic(`user ${user}; screenshot: ${shot}`);
        assert.deepEqual(errors, [], 'no script errors on the page');
      } finally {
        await browser.close();
      }
    }

    d2.child.kill('SIGINT');
    assert.equal(await d2.exit, 0, d2.err());
  });
});
