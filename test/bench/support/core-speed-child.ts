/**
 * One vCPU's speed over time, for core-speed.ts: from --start-at T (epoch ms) for --seconds S,
 * runs the same unit of work (integer arithmetic, about a millisecond, no allocation and no
 * memory traffic) again and again, and prints one JSON line: each unit's start (ms after T) and
 * duration (ms). On dedicated cores every unit takes the same time; on a shared host the spread
 * is the host's doing, since nothing else in this process runs.
 *
 * Run by core-speed.ts under taskset: npx tsx test/bench/support/core-speed-child.ts --variant probe --seconds 4 --start-at T
 */
import { arg } from './bench-util';

const UNIT_ITERATIONS = 400_000;

function unit(seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < UNIT_ITERATIONS; i++) {
    h = Math.imul(h ^ i, 0x9e3779b1);
    h = (h << 13) | (h >>> 19);
  }
  return h;
}

const seconds = Number(arg('seconds', '4'));
const startAt = Number(arg('start-at', String(Date.now())));
// warm the unit up (the JIT's optimizing tier), then start with the other probes
let sink = 0;
for (let i = 0; i < 50; i++) sink ^= unit(i);
while (Date.now() < startAt) await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, startAt - Date.now()))));
const t0 = performance.now() - (Date.now() - startAt);
const at: number[] = [];
const ms: number[] = [];
while (performance.now() - t0 < seconds * 1000) {
  const a = performance.now();
  sink ^= unit(at.length);
  const b = performance.now();
  at.push(Math.round((a - t0) * 1000) / 1000);
  ms.push(Math.round((b - a) * 1000) / 1000);
}
process.stdout.write(`${JSON.stringify({ at, ms, sink: sink & 1 })}\n`);
