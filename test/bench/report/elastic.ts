/**
 * elastic: what losing a worker costs an elastic job (test/bench/elastic.ts): the time from a
 * SIGKILL to the survivors' first step in the new generation, and the per-step in-memory commit
 * against a cached step.
 */

import type { Kill } from '../elastic';
import { metOrNot, num, percent, setup, table, verdict } from './markdown';
import type { ResultBase, Section } from './section';

interface Result extends ResultBase {
  samples: number;
  val: number;
  inputSize: number;
  batch: number;
  kills: Kill[];
  medianRecoverySeconds: number;
  medianCommitMs: number;
  medianCachedStepMs: number;
  commitShareOfStep: number;
}

function checks(r: Result) {
  return [
    {
      label: `recovery, kill to the first step of the new generation (median of ${r.kills.length})`,
      value: `${num(r.medianRecoverySeconds)} s`,
      target: '< 5 s',
      ok: r.medianRecoverySeconds < 5,
    },
    {
      label: 'per-step commit, share of a cached step',
      value: `${num(r.medianCommitMs)} ms of ${num(r.medianCachedStepMs)} ms (${percent(r.commitShareOfStep)})`,
      target: '< 5%',
      ok: r.commitShareOfStep < 0.05,
    },
  ];
}

export const elastic: Section = {
  name: 'elastic',
  summary: 'the time an elastic job loses to a killed worker, and what its per-step commit costs against a cached step',
  render(json) {
    const r = json as Result;
    const list = checks(r);
    return [
      ...setup(
        `npx nx run bench:elastic -- --kills ${r.kills.length} --samples ${r.samples} --val ${r.val} --input-size ${r.inputSize} --batch ${r.batch}`,
        r.date,
        r.machine,
        [
          `job: examples/mnist.yaml (mobilenet_v2 cut at out_relu, head gap-128, adam) at ${r.inputSize}x${r.inputSize}, ${r.samples} training and ${r.val} validation samples, batch ${r.batch}, 3 epochs, 3 local workers`,
          'each job: worker local-1 is killed with SIGKILL 300 ms into epoch 2 (cached); the survivors form generation 2',
        ],
      ),
      '',
      table(
        ['job', 'kill to first step, s', 'change, s (coordinator)', 'resume step', 'commit, ms (per survivor)', 'cached step, ms'],
        r.kills.map((k, i) => [
          String(i + 1),
          k.recoverySeconds,
          k.secondsLost,
          String(k.resumeStep),
          k.commitMs.map((m) => m.toFixed(2)).join(' / '),
          k.cachedEpoch1 ? num(1000 * k.stepSeconds) : 'n/a (filled the cache)',
        ]),
      ),
      '',
      table(
        ['figure', 'value', 'target', 'verdict'],
        list.map((x) => [x.label, x.value, x.target, metOrNot(x.ok)]),
      ),
      '',
      `Verdict: ${verdict(list.filter((x) => x.ok).length, list.length)}.`,
    ];
  },
  headline(json) {
    const r = json as Result;
    const [recovery] = checks(r);
    return { figure: `recovery from a killed worker: ${recovery?.value}`, target: '< 5 s', verdict: metOrNot(recovery?.ok ?? false) };
  },
};
