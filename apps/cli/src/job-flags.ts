/**
 * Command-line flags for the common job settings, so a run needs no file. Each flag maps to one
 * dotted path of the job spec and overrides the file's value. Numbers are parsed here so that a
 * bad one is reported against the flag the user typed.
 */
import type { Overrides } from '@permafrost/job';
import { UserError } from '@permafrost/telemetry';
import type { Command } from 'commander';

interface FlagDef {
  flag: string;
  path: string;
  help: string;
  kind: 'string' | 'int' | 'int-or-auto' | 'number' | 'bool' | 'negate' | 'off' | 'section';
}

export const JOB_FLAGS: FlagDef[] = [
  {
    flag: '--model <name|path>',
    path: 'model.name',
    help: 'mobilenet_v2 | mlp | cnn-small | resnet-small | PATH/model.json',
    kind: 'string',
  },
  { flag: '--input-size <px>', path: 'model.inputSize', help: 'square input size in pixels', kind: 'int' },
  { flag: '--cut <layer>', path: 'model.cut', help: "backbone's last layer when a head is used (mobilenet_v2: out_relu)", kind: 'string' },
  { flag: '--head <spec>', path: 'model.head', help: 'head to put on the backbone, e.g. gap-128 or flatten-256-d0.2', kind: 'string' },
  { flag: '--random-init', path: 'model.pretrained', help: 'bundled backbone with seeded random weights (baseline)', kind: 'negate' },
  { flag: '--boundary <layer>', path: 'freeze.boundary', help: 'last frozen layer', kind: 'string' },
  { flag: '--trainable-last <k>', path: 'freeze.trainableLast', help: 'freeze all but the last k layers', kind: 'int' },
  { flag: '--freeze <policy>', path: 'freeze.policy', help: 'prefix | last-k | freezeout | none (default prefix)', kind: 'string' },
  { flag: '--k <blocks>', path: 'freeze.k', help: 'last-k and freezeout: blocks left trainable before the head', kind: 'int' },
  { flag: '--schedule <shape>', path: 'freeze.schedule', help: 'freezeout: linear | squared | cubic (default cubic)', kind: 'string' },
  { flag: '--t0 <x>', path: 'freeze.t0', help: 'freezeout: first freeze time before the power, in (0,1] (default 0.8)', kind: 'number' },
  { flag: '--dataset <spec>', path: 'data.dataset', help: 'mnist | fashion-mnist | idx:DIR | imagefolder:DIR', kind: 'string' },
  { flag: '--fashion-mnist-dir <dir>', path: 'data.fashionMnistDir', help: 'where the Fashion-MNIST IDX files are', kind: 'string' },
  { flag: '--train-samples <n>', path: 'data.trainSamples', help: 'training samples to use', kind: 'int' },
  { flag: '--val-samples <n>', path: 'data.valSamples', help: 'validation samples to hold out', kind: 'int' },
  {
    flag: '--validate <mode>',
    path: 'data.validate',
    help: 'check image files at start: headers | full | none (default headers)',
    kind: 'string',
  },
  {
    flag: '--data-fingerprint <mode>',
    path: 'data.fingerprint',
    help: 'imagefolder cache identity: stat | content (default stat)',
    kind: 'string',
  },
  {
    flag: '--augment',
    path: 'data.augment',
    help: 'augment training inputs: random crop, flip, brightness/contrast jitter',
    kind: 'section',
  },
  { flag: '--augment-crop <px>', path: 'data.augment.crop', help: 'random-crop padding in pixels, 0-16 (default 4)', kind: 'int' },
  { flag: '--no-augment-flip', path: 'data.augment.flip', help: 'no random horizontal flip', kind: 'off' },
  { flag: '--augment-brightness <x>', path: 'data.augment.brightness', help: 'brightness jitter, 0-0.5 (default 0.1)', kind: 'number' },
  { flag: '--augment-contrast <x>', path: 'data.augment.contrast', help: 'contrast jitter, 0-0.5 (default 0.1)', kind: 'number' },
  {
    flag: '--feature-noise <std>',
    path: 'data.augment.featureNoise',
    help: 'Gaussian noise on the boundary activations, 0-10 (default 0)',
    kind: 'number',
  },
  {
    flag: '--feature-dropout <rate>',
    path: 'data.augment.featureDropout',
    help: 'dropout rate on the boundary activations, in [0, 1) (default 0)',
    kind: 'number',
  },
  { flag: '--epochs <n>', path: 'train.epochs', help: 'epochs (default 3)', kind: 'int' },
  { flag: '--batch-size <n>', path: 'train.batchSize', help: 'batch size (default 32)', kind: 'int' },
  { flag: '--optimizer <name>', path: 'train.optimizer', help: 'sgd | adam (default adam)', kind: 'string' },
  { flag: '--lr <x>', path: 'train.lr', help: 'learning rate (default 0.001)', kind: 'number' },
  { flag: '--momentum <x>', path: 'train.momentum', help: 'sgd momentum (default 0)', kind: 'number' },
  { flag: '--nesterov', path: 'train.nesterov', help: 'nesterov momentum (sgd)', kind: 'bool' },
  { flag: '--weight-decay <x>', path: 'train.weightDecay', help: 'L2 weight decay (default 0)', kind: 'number' },
  { flag: '--seed <n>', path: 'train.seed', help: 'seed for init, split and shuffles (default 42)', kind: 'int' },
  { flag: '--backend <name>', path: 'train.backend', help: 'auto | tensorflow-gpu | tensorflow | wasm | cpu', kind: 'string' },
  {
    flag: '--threads <n|auto>',
    path: 'train.threads',
    help: 'wasm: XNNPACK threads of a train process (default auto: every core)',
    kind: 'int-or-auto',
  },
  { flag: '--cache-dir <dir>', path: 'cache.dir', help: 'activation cache directory (default .permafrost/cache)', kind: 'string' },
  { flag: '--no-cache', path: 'cache.enabled', help: 'train without the activation cache', kind: 'off' },
  { flag: '--cache-codec <codec>', path: 'cache.codec', help: 'float32 (exact) | float16 (half the bytes)', kind: 'string' },
  {
    flag: '--cache-views <k>',
    path: 'cache.views',
    help: 'augmented views cached per sample, 0-16 (default 0: train uncached)',
    kind: 'int',
  },
  { flag: '--checkpoint-dir <dir>', path: 'checkpoint.dir', help: 'write checkpoints here (every epoch and final)', kind: 'string' },
];

export function addJobFlags(cmd: Command): Command {
  cmd.option('-c, --config <file>', 'job spec (YAML or JSON); flags override its fields');
  for (const f of JOB_FLAGS) cmd.option(f.flag, f.help);
  return cmd;
}

function camel(flag: string): string {
  const long = flag.split(' ')[0]?.replace(/^--(no-)?/, '') ?? '';
  return long.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Flag values (as commander parsed them) to job-spec overrides. */
export function jobOverrides(opts: Record<string, unknown>): Overrides {
  const out: Overrides = {};
  for (const f of JOB_FLAGS) {
    const v = opts[camel(f.flag)];
    if (v === undefined) continue;
    const name = f.flag.split(' ')[0] ?? f.flag;
    if (f.kind === 'bool') out[f.path] = Boolean(v);
    else if (f.kind === 'section') out[f.path] = {};
    else if (f.kind === 'negate') out[f.path] = !v;
    else if (f.kind === 'off') {
      // commander defaults a --no-x flag to true; only an explicit --no-x overrides the spec
      if (v === false) out[f.path] = false;
    } else if (f.kind === 'string' || (f.kind === 'int-or-auto' && v === 'auto')) out[f.path] = String(v);
    else {
      const n = Number(v);
      if (String(v).trim() === '' || !Number.isFinite(n) || (f.kind !== 'number' && !Number.isInteger(n))) {
        const expected = { int: 'an integer', 'int-or-auto': "an integer or 'auto'", number: 'a number' }[f.kind as 'int'];
        throw new UserError(`expected ${expected}, got '${String(v)}'`, name);
      }
      out[f.path] = n;
    }
  }
  return out;
}
