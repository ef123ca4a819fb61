/**
 * elastic-soak: the soak of elastic training (test/soak/elastic-soak.ts, not in CI): jobs of 3
 * local workers, each losing worker local-1 to SIGKILL at a random moment, and how many completed
 * with the uninterrupted run's weights (1e-4 relative).
 */
import { metOrNot, num, setup, table } from './markdown';
import type { ResultBase, Section } from './section';

interface Run {
  killAfterMs: number;
  code: number | null;
  seconds: number;
  relativeDiff: number | null;
}

interface Result extends ResultBase {
  /** jobs run */
  jobs: number;
  /** jobs asked for (`--jobs`) */
  asked: number;
  seed: number;
  completed: number;
  loadAverage: number[];
  runs: Run[];
}

const FULL = 10;

const ok = (r: Result) => r.completed === r.jobs && r.jobs >= FULL;

export const elasticSoak: Section = {
  name: 'elastic-soak',
  summary: 'jobs that lose a worker to SIGKILL at a random moment: how many complete with the weights of the uninterrupted run',
  render(json) {
    const r = json as Result;
    const [start, end] = r.loadAverage;
    return [
      ...setup(`node --import tsx test/soak/elastic-soak.ts --jobs ${r.asked} --seed ${r.seed}`, r.date, r.machine, [
        'job: mlp on 14x14 MNIST, last 2 layers trainable, 1440 training and 60 validation samples, batch 48, adam, 3 epochs, 3 local workers',
        'each job: worker local-1 is killed with SIGKILL 2 to 22 s (seeded) after the first worker joined; the coordinator restarts it',
        `1-minute load average at the start and the end: ${num(start ?? Number.NaN)}, ${num(end ?? Number.NaN)} (a shared machine)`,
        ...(r.jobs < r.asked ? [`stopped after ${r.jobs} of the ${r.asked} jobs asked for`] : []),
        ...(r.asked < FULL ? [`${r.asked} jobs, not the ${FULL} of the full run (\`--jobs ${FULL}\`)`] : []),
      ]),
      '',
      table(
        ['job', 'kill after, ms', 'exit code', 'job, s', 'relative weight difference'],
        r.runs.map((x, i) => [
          String(i + 1),
          String(x.killAfterMs),
          String(x.code),
          num(x.seconds),
          x.relativeDiff === null ? 'n/a' : x.relativeDiff.toExponential(1),
        ]),
      ),
      '',
      `Result: **${r.completed}/${r.jobs} completed with equal weights** (target: ${FULL}/${FULL}).`,
    ];
  },
  headline(json) {
    const r = json as Result;
    return {
      figure: `${r.completed}/${r.jobs} jobs with a killed worker completed with equal weights`,
      target: `${FULL}/${FULL}`,
      verdict: metOrNot(ok(r)),
    };
  },
};
