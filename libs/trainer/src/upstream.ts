/**
 * Upstreams compute boundary activations for samples the cache does not hold.
 *
 * PrefixUpstream runs the whole frozen prefix on preprocessed input (augmented first, when it has a
 * transform; no prefix when nothing is frozen: the preprocessed input is the activation).
 * SegmentUpstream serves a
 * boundary that advanced from k to m: it asks the source at boundary k (cache first, its own
 * upstream on a miss) and runs only the layers k+1..m, so after an advance the full prefix never
 * runs again for a sample the old boundary's cache holds. Both run in inference mode, with no
 * tape, in slices of PREFIX_BATCH samples with a turn of the event loop in between
 * (prefix-input.ts). PrefixUpstream reads each slice's input while the slice before it computes,
 * and the first slice of the next call's (`next`) while its last slice computes.
 */
import { augmentBatch, type Dataset, preprocess, type SampleTransform } from '@permafrost/data';
import { freezesNothing, type InputSpec } from '@permafrost/model';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ActivationSource, BatchCounters, Upstream } from './activation-source';
import { InputReadAhead, PREFIX_BATCH } from './prefix-input';

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

/** Runs `run` on each slice of `ids`; `following`: the slice after it (the last one's: `next`). */
async function sliced(
  ids: number[],
  c: BatchCounters,
  next: readonly number[],
  run: (slice: number[], following: readonly number[]) => Promise<tf.Tensor>,
): Promise<tf.Tensor> {
  const parts: tf.Tensor[] = [];
  for (let at = 0; at < ids.length; at += PREFIX_BATCH) {
    const slice = ids.slice(at, at + PREFIX_BATCH);
    const following = at + PREFIX_BATCH < ids.length ? ids.slice(at + PREFIX_BATCH, at + 2 * PREFIX_BATCH) : next;
    const t0 = performance.now();
    const acts = await run(slice, following);
    await acts.data(); // settle the work inside the timer
    c.prefixMs += performance.now() - t0;
    parts.push(acts);
    if (at + PREFIX_BATCH < ids.length) await yieldToLoop();
  }
  if (parts.length === 1) return parts[0] as tf.Tensor;
  const all = tf.concat(parts);
  tf.dispose(parts);
  return all;
}

/** Each sample's input augmentation (augment-lanes.ts); none: the input as decoded. */
export type InputTransform = (ids: readonly number[]) => SampleTransform[];

export class PrefixUpstream implements Upstream {
  prefixSamples = 0;
  readonly boundaryShape: readonly number[];
  private readonly reader: InputReadAhead;
  /** the identity prefix of a run that freezes nothing: the preprocessed input is the activation */
  private readonly identity: boolean;

  constructor(
    private readonly prefix: tfl.LayersModel,
    private readonly input: InputSpec,
    dataset: Dataset,
    private readonly transform?: InputTransform,
  ) {
    this.boundaryShape = prefix.outputs[0]?.shape.slice(1).map((d) => d ?? 1) ?? [];
    this.reader = new InputReadAhead(dataset, input.sizePx);
    this.identity = freezesNothing({ prefix });
  }

  async compute(ids: number[], c: BatchCounters, next: readonly number[] = []): Promise<tf.Tensor> {
    const out = await sliced(ids, c, next, async (slice, following) => {
      const raw = await this.reader.take(slice);
      const x = preprocess(this.transform ? augmentBatch(raw, this.transform(slice)) : raw, this.input);
      // the next slice's input is read while this one's forward runs
      this.reader.start(following);
      if (this.identity) return x;
      try {
        return tf.tidy(() => this.prefix.predict(x, { batchSize: slice.length }) as tf.Tensor);
      } finally {
        x.dispose();
      }
    });
    if (!this.identity) this.prefixSamples += ids.length;
    return out;
  }
}

export class SegmentUpstream implements Upstream {
  readonly boundaryShape: readonly number[];
  /** samples advanced from the old boundary */
  advancedSamples = 0;

  constructor(
    private readonly from: ActivationSource,
    /** the old boundary's output -> the new boundary's output */
    private readonly segment: tfl.LayersModel,
  ) {
    this.boundaryShape = segment.outputs[0]?.shape.slice(1).map((d) => d ?? 1) ?? [];
    from.supersede();
  }

  get prefixSamples(): number {
    return this.from.prefixSamples;
  }

  async compute(ids: number[], c: BatchCounters, next: readonly number[] = []): Promise<tf.Tensor> {
    const below = await this.from.batch(ids, next);
    c.checksumFailures += below.counters.checksumFailures;
    c.bytesRead += below.counters.bytesRead;
    c.bytesWritten += below.counters.bytesWritten;
    c.readMs += below.counters.readMs;
    c.writeMs += below.counters.writeMs;
    c.prefixMs += below.counters.prefixMs;
    const acts = below.activations;
    try {
      let at = 0;
      const out = await sliced(ids, c, [], async (slice) => {
        const part = acts.shape[0] === slice.length ? acts : tf.slice(acts, at, slice.length);
        at += slice.length;
        const r = tf.tidy(() => this.segment.predict(part, { batchSize: slice.length }) as tf.Tensor);
        if (part !== acts) part.dispose();
        return r;
      });
      this.advancedSamples += ids.length;
      return out;
    } finally {
      acts.dispose();
    }
  }
}
