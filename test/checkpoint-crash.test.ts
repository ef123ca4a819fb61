/**
 * Nothing lost: rank 0 killed with -9 at random moments while it writes a checkpoint after every
 * epoch leaves a checkpoint root that resumes. The next start removes what the interrupted write
 * left (`.NAME.tmp-*` directories, a half-written pointer), and `--resume` continues from the
 * newest intact checkpoint to the end of the job.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { childrenOf, jobFlags, runCli, runPaths, startCli, tempDir } from './support';

const tmp = tempDir('checkpoint-crash');
const ROUNDS = 20;
/** rounds run at once */
const PAIRED = 2;
// the lost rank must end the job (no elastic recovery: no restart, nobody to wait for), so that
// each round resumes from the checkpoint files
const config = join(tmp.path, 'no-restarts.yaml');
writeFileSync(config, 'model:\n  name: mlp\ndata:\n  dataset: mnist\ncluster:\n  maxRestarts: 0\n  rejoinTimeoutMs: 500\n');

/** a tiny job whose epochs (2 steps) take about as long as the checkpoint written after each */
const job = (name: string) =>
  jobFlags({
    model: 'mlp',
    inputSize: 10,
    trainSamples: 64,
    valSamples: 8,
    epochs: 60,
    batchSize: 32,
    seed: 5,
    ...runPaths(tmp.path, name),
  });

const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.includes('.tmp-'));

/** One round: start, kill rank 0 at a moment set by `round`, resume. Whether the kill landed, and inside a write. */
async function round(n: number): Promise<{ killed: boolean; interrupted: boolean }> {
  const flags = job(`r${n}`);
  const c = startCli(['coordinator', 'start', '--config', config, '--local-workers', '1', ...flags]);
  // rank 0 logs an epoch as done after its checkpoint is written: from then on there is one to resume from
  await c.waitFor(/"msg":"epoch done"/, 90_000);
  const [worker] = childrenOf(c.child.pid as number, / worker start /);
  assert.ok(worker, 'the local worker is running');
  // a different moment each round, spread over the next few epochs and their checkpoints
  await new Promise((r) => setTimeout(r, (n * 37) % 400));
  try {
    process.kill(worker, 'SIGKILL');
  } catch {
    // the job ended before the kill
  }
  const exit = await c.exit;
  if (exit.code === 0) return { killed: false, interrupted: false }; // the job ended before the kill landed
  const { checkpointDir } = runPaths(tmp.path, `r${n}`);
  const interrupted = leftovers(checkpointDir).length > 0;
  const resumed = await runCli(['coordinator', 'start', '--config', config, '--local-workers', '1', '--resume', ...flags], {
    timeoutMs: 120_000,
  });
  assert.equal(resumed.code, 0, `round ${n}: ${resumed.stderr}`);
  assert.deepEqual(leftovers(checkpointDir), [], `round ${n}: temporary files left`);
  assert.ok(readdirSync(checkpointDir).includes('final'), `round ${n}: the resumed job wrote its final checkpoint`);
  return { killed: true, interrupted };
}

describe('checkpoints survive kill -9', () => {
  it(`rank 0 killed at random moments, ${ROUNDS} times: no temporary directory after the next start, --resume always succeeds`, async (t) => {
    let killed = 0;
    let interruptedWrites = 0;
    // two independent jobs at a time (own directories): much of a round is waiting for processes
    for (let n = 0; n < ROUNDS; n += PAIRED) {
      const rounds = await Promise.all(Array.from({ length: Math.min(PAIRED, ROUNDS - n) }, (_, i) => round(n + i)));
      killed += rounds.filter((r) => r.killed).length;
      interruptedWrites += rounds.filter((r) => r.interrupted).length;
    }
    t.diagnostic(`${killed} of ${ROUNDS} rounds killed mid-job, ${interruptedWrites} of them inside a checkpoint write`);
    assert.ok(killed >= ROUNDS / 2, `only ${killed} of ${ROUNDS} kills landed before the job ended`);
  });
});
