/**
 * A benchmark's input augmentation from its flags: `--augment on|off` (default on) and
 * `--views K` (default 2), the cache.views of its cached variants. The transforms are the job
 * spec's standard set (`data.augment: true`), taken from the job schema so the benchmark trains
 * what `permafrost train --augment` trains. Bad values are one line on stderr and exit code 2.
 */
import type { AugmentSpec } from '@permafrost/data';
import { validateJob } from '@permafrost/job';
import type { fit } from '@permafrost/trainer';
import { arg } from './bench-util';

type AugmentSettings = NonNullable<Parameters<typeof fit>[0]['augment']>;

export interface BenchAugment {
  /** the input transforms of data.augment's standard set */
  spec: AugmentSpec;
  /** cache.views of the cached variants */
  views: number;
}

function refuse(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

/** The augmentation the flags ask for; undefined with `--augment off`. */
export function benchAugment(defaultViews = 2): BenchAugment | undefined {
  const mode = arg('augment', 'on');
  if (mode !== 'on' && mode !== 'off') refuse(`--augment: expected on or off, got ${mode}`);
  if (mode === 'off') return undefined;
  const raw = arg('views', String(defaultViews));
  const views = Number(raw);
  // the schema's range for cache.views, less 0 (which would leave the cached variants uncached)
  if (!Number.isInteger(views) || views < 1 || views > 16) refuse(`--views: expected an integer from 1 to 16, got ${raw}`);
  const job = validateJob({ model: { name: 'resnet-small' }, data: { dataset: 'fashion-mnist', augment: true } }, 'bench');
  const augment = job.data.augment;
  if (!augment) throw new Error('the job schema gave no standard augmentation');
  const { featureNoise: _noise, featureDropout: _dropout, ...spec } = augment;
  return { spec, views };
}

/** The loop's settings for a variant: K cached views, or (views 0) a fresh augmentation every epoch. */
export function augmentSettings(a: BenchAugment, cached: boolean): AugmentSettings {
  return { spec: a.spec, featureNoise: 0, featureDropout: 0, views: cached ? a.views : 0 };
}

/** The flags that pass the augmentation on to a variant's process. */
export function augmentArgs(a: BenchAugment | undefined): string[] {
  return a ? ['--augment', 'on', '--views', String(a.views)] : ['--augment', 'off'];
}
