/**
 * The dashboard in a real browser (Debian's Chromium, driven by playwright-core): the live page of
 * a 2-worker FreezeOut job, watched to its end, and the static page `report show --html` writes
 * from the run's report. The charts hold the expected number of points, the freeze timeline lists
 * the schedule's blocks, nothing is logged as an error, and no request goes anywhere but the
 * coordinator's port (or, for the static page, nowhere at all). An elastic run: 3 local workers,
 * one killed with SIGKILL mid-job, and the live page's membership panel shows generation 2, who
 * left and why. Screenshots go to tmp/test-output/observe-dashboard/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  CHROMIUM,
  chartPoints,
  childrenOf,
  freePort,
  get,
  jobFlags,
  launchBrowser,
  ROOT,
  runCli,
  runPaths,
  startCli,
  tempDir,
  toolOrSkip,
  watchedPage,
} from './support';

const tmp = tempDir('observe-dashboard');
const OUT = join(ROOT, 'tmp', 'test-output', 'observe-dashboard');
const paths = runPaths(tmp.path, 'freezeout');
// mlp blocks: flatten | dense_1 | dense_2; k = 2 leaves dense_1 and dense_2 to freeze, linear t0 = 0.5;
// 3 epochs of 60 steps
const freezeoutJob = (where: ReturnType<typeof runPaths>) =>
  jobFlags({
    model: 'mlp',
    inputSize: 14,
    trainSamples: 960,
    valSamples: 60,
    freeze: 'freezeout',
    k: 2,
    schedule: 'linear',
    t0: 0.5,
    epochs: 3,
    batchSize: 16,
    seed: 5,
    ...where,
  });
const job = freezeoutJob(paths);
const BLOCKS = ['dense_1', 'dense_2'];
// on a loaded shared machine a job takes minutes; the limits only stop a hung run
const LIMIT_MS = 300_000;

describe('the dashboard in Chromium', () => {
  it('draws a live FreezeOut job and its static report page', async (t) => {
    if (!toolOrSkip(CHROMIUM, t)) return;
    mkdirSync(OUT, { recursive: true });
    const http = `127.0.0.1:${await freePort()}`;
    const coord = startCli(['coordinator', 'start', '--local-workers', '2', '--http', http, '--linger-ms', '5000', ...job]);
    const browser = await launchBrowser();
    try {
      await coord.waitFor(/"msg":"http listening"/);
      const live = await watchedPage(browser);
      await live.page.goto(`http://${http}/`);
      await live.page.waitForSelector('body[data-state="running"]', { timeout: 120_000 });
      await live.page.waitForSelector('body[data-state="finished"]', { timeout: 120_000 });
      // one more poll after the end, so the page and this request see the same final view
      await live.page.waitForTimeout(1500);
      const status = JSON.parse((await get(`http://${http}/api/status`)).body);
      const points = await chartPoints(live.page);
      assert.equal(points['epoch-loss'], 3);
      assert.equal(points['epoch-accuracy'], 3);
      assert.ok(status.stepPoints.length > 0);
      assert.equal(points['step-loss'], status.stepPoints.length);
      assert.equal(points['step-cache'], status.stepPoints.length);
      const times = new Set(status.workers.flatMap((w: { rates: [number, number][] }) => w.rates.map((r) => r[0])));
      assert.equal(points['worker-rates'], times.size);
      await checkFreeze(live.page, true);
      assert.equal(await live.page.locator('#pf-split tr').count(), 3, 'a header and one row per worker');
      await live.page.screenshot({ path: join(OUT, 'dashboard-live.png'), fullPage: true });
      assert.deepEqual(live.errors, []);
      const foreign = live.requests.filter((u) => !u.startsWith(`http://${http}/`));
      assert.deepEqual(foreign, [], 'requests only to the coordinator');
      assert.ok(live.requests.filter((u) => u.endsWith('/api/status')).length >= 2, 'the page polls');
      assert.equal((await coord.exit).code, 0, coord.stderr());

      const html = join(tmp.path, 'report.html');
      const show = await runCli(['report', 'show', paths.report, '--html', html]);
      assert.equal(show.code, 0, show.stderr);
      const fixed = await watchedPage(browser);
      const url = pathToFileURL(html).href;
      await fixed.page.goto(url);
      await fixed.page.waitForSelector('body[data-ready="true"]');
      const staticPoints = await chartPoints(fixed.page);
      assert.equal(staticPoints['epoch-loss'], 3);
      assert.equal(staticPoints['epoch-accuracy'], 3);
      await checkFreeze(fixed.page, true);
      await fixed.page.screenshot({ path: join(OUT, 'report-static.png'), fullPage: true });
      assert.deepEqual(fixed.errors, []);
      assert.deepEqual(fixed.requests, [url], 'the static page requests nothing');

      // the same run twice: a table of equal figures (each ratio 1), curves overlaid per run
      const comparePage = join(tmp.path, 'compare.html');
      const compare = await runCli(['report', 'compare', paths.report, paths.report, '--html', comparePage]);
      assert.equal(compare.code, 0, compare.stderr);
      assert.match(compare.stdout, /^val accuracy +[\d.]+ +[\d.]+ +1\.000x$/m);
      const both = await watchedPage(browser);
      await both.page.goto(pathToFileURL(comparePage).href);
      await both.page.waitForSelector('body.compare[data-ready="true"]');
      const comparePoints = await chartPoints(both.page);
      assert.equal(comparePoints['compare-accuracy'], 3);
      assert.equal(await both.page.locator('[data-chart="compare-accuracy"] .u-legend .u-series').count(), 3, 'x and two runs');
      assert.deepEqual(both.errors, []);
    } finally {
      await browser.close();
      coord.child.kill('SIGKILL');
      await coord.exit;
    }
  });
});

describe('the dashboard of an elastic run in Chromium', () => {
  it('shows the new generation after a worker is killed: who left and why', async (t) => {
    if (!toolOrSkip(CHROMIUM, t)) return;
    mkdirSync(OUT, { recursive: true });
    const http = `127.0.0.1:${await freePort()}`;
    const elastic = freezeoutJob(runPaths(tmp.path, 'elastic'));
    const coord = startCli(
      ['coordinator', 'start', '--local-workers', '3', '--http', http, '--linger-ms', '5000', ...elastic],
      {},
      { killAfterMs: LIMIT_MS },
    );
    const browser = await launchBrowser();
    try {
      await coord.waitFor(/"msg":"http listening"/, LIMIT_MS);
      const live = await watchedPage(browser);
      await live.page.goto(`http://${http}/`);
      await live.page.waitForSelector('body[data-state="running"]', { timeout: LIMIT_MS });
      await coord.waitFor(/"label":"epoch 2\/3","done":\d+/, LIMIT_MS);
      const [pid] = childrenOf(coord.child.pid as number, / --id local-1 /);
      assert.ok(pid, 'the process of worker local-1');
      process.kill(pid, 'SIGKILL');
      await live.page.waitForSelector('#pf-membership[data-generations]:not([data-generations="1"])', { timeout: LIMIT_MS });
      await live.page.waitForSelector('body[data-state="finished"]', { timeout: LIMIT_MS });
      await live.page.waitForTimeout(1500);
      // rows of generation, since, workers, left, joined, reason; a restarted local-1 may rejoin as generation 3
      const rows = await live.page.$$eval('#pf-membership > table:first-child tr', (trs) =>
        trs.slice(1).map((tr) => [...tr.children].map((td) => td.textContent ?? '')),
      );
      const [first, second] = rows.map(([g, , ...rest]) => [g, ...rest]);
      assert.deepEqual(first, ['1', 'local-0, local-1, local-2', '-', '-', 'formed']);
      const [generation, workers, left, joined, reason] = second ?? [];
      assert.deepEqual([generation, workers, joined], ['2', 'local-0, local-2', '-'], JSON.stringify(rows));
      // who left, with why (its session broke as it died), and why the change began
      assert.match(left ?? '', /^local-1: (disconnected|exited)/, JSON.stringify(rows));
      assert.match(reason ?? '', /^worker local-\d \(rank \d\) /, JSON.stringify(rows));
      assert.ok(Number(await live.page.textContent('[data-field="generation"] b')) >= 2);
      await live.page.screenshot({ path: join(OUT, 'dashboard-elastic.png'), fullPage: true });
      assert.deepEqual(live.errors, []);
      assert.deepEqual(
        live.requests.filter((u) => !u.startsWith(`http://${http}/`)),
        [],
        'requests only to the coordinator',
      );
      assert.equal((await coord.exit).code, 0, coord.stderr());
    } finally {
      await browser.close();
      coord.child.kill('SIGKILL');
      await coord.exit;
    }
  });
});

/** The freeze timeline lists every block of the schedule, each frozen by the end of the run. */
async function checkFreeze(page: import('playwright-core').Page, ended: boolean): Promise<void> {
  assert.equal(await page.getAttribute('[data-freeze-blocks]', 'data-freeze-blocks'), String(BLOCKS.length));
  const rows = await page.$$eval('[data-freeze-blocks] tr', (trs) =>
    trs.slice(1).map((tr) => [...tr.children].map((td) => td.textContent)),
  );
  assert.deepEqual(
    rows.map((r) => r[0]),
    BLOCKS,
  );
  if (ended)
    assert.deepEqual(
      rows.map((r) => r[3]),
      ['frozen', 'frozen'],
    );
}
