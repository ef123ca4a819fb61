/**
 * A Prometheus-like scraper for the observe benchmark, in its own process (as Prometheus is): GETs
 * the URL every `intervalMs` while its parent has said "on" (a line on stdin), reads the body to
 * the end, and pauses on "off". "burst N": N GETs one after another, then a line {"burst": N}.
 * "report": a line with the scrape count and the median scrape time (bursts not counted), and exit.
 */
import { get } from 'node:http';
import { createInterface } from 'node:readline';

const [url = '', interval = '1000'] = process.argv.slice(2);
const intervalMs = Number(interval);
let on = false;
const times: number[] = [];

function scrape(): void {
  if (!on) return;
  const t0 = performance.now();
  get(url, (res) => {
    res.resume();
    res.on('end', () => times.push(performance.now() - t0));
  }).on('error', () => undefined);
}

async function burst(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await new Promise<void>((done) => get(url, (res) => res.resume().on('end', done)).on('error', () => done()));
  }
  process.stdout.write(`${JSON.stringify({ burst: n })}\n`);
}

const timer = setInterval(scrape, intervalMs);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'on') {
    on = true;
    scrape();
  } else if (line === 'off') on = false;
  else if (line.startsWith('burst ')) void burst(Number(line.slice(6)));
  else if (line === 'report') {
    const s = [...times].sort((a, b) => a - b);
    process.stdout.write(`${JSON.stringify({ scrapes: s.length, medianMs: s[Math.floor(s.length / 2)] ?? Number.NaN })}\n`);
    clearInterval(timer);
    process.exit(0);
  }
});
