/**
 * Upstreams compute boundary activations for samples the cache does not hold.
 *
 * PrefixUpstream runs the whole frozen prefix on preprocessed input. SegmentUpstream serves a
 * boundary that advanced from k to m: it asks the source at boundary k (cache first, its own
 * upstream on a miss) and runs only the layers k+1..m, so after an advance the full prefix never
 * runs again for a sample the old boundary's cache holds. Both run in inference mode, with no
 * tape, in slices of SLICE samples with a turn of the event loop in between: one synchronous tfjs
 * call over a batch of 256 at 96 px takes seconds on wasm, long enough to starve a worker's
 * heartbeats, and slices also bound peak memory.
 */
import { type Dataset, preprocess } from '@permafrost/data';
import type { InputSpec } from '@permafrost/model';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ActivationSource, BatchCounters, Upstream } from './activation-source';

/** samples per synchronous prefix call */
const SLICE = 32;

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

async function sliced(ids: number[], c: BatchCounters, run: (slice: number[]) => Promise<tf.Tensor>): Promise<tf.Tensor> {
  const parts: tf.Tensor[] = [];
  for (let at = 0; at < ids.length; at += SLICE) {
    const slice = ids.slice(at, at + SLICE);
    const t0 = performance.now();
    const acts = await run(slice);
    await acts.data(); // settle the work inside the timer
    c.prefixMs += performance.now() - t0;
    parts.push(acts);
    if (at + SLICE < ids.length) await yieldToLoop();
  }
  if (parts.length === 1) return parts[0] as tf.Tensor;
  const all = tf.concat(parts);
  tf.dispose(parts);
  return all;
}

export class PrefixUpstream implements Upstream {
  prefixSamples = 0;
  readonly boundaryShape: readonly number[];

  constructor(
    private readonly prefix: tfl.LayersModel,
    private readonly input: InputSpec,
    private readonly dataset: Dataset,
  ) {
    this.boundaryShape = prefix.outputs[0]?.shape.slice(1).map((d) => d ?? 1) ?? [];
  }

  async compute(ids: number[], c: BatchCounters): Promise<tf.Tensor> {
    const out = await sliced(ids, c, async (slice) => {
      const raw = await this.dataset.read(slice, { sizePx: this.input.sizePx });
      return tf.tidy(() => this.prefix.predict(preprocess(raw, this.input), { batchSize: slice.length }) as tf.Tensor);
    });
    this.prefixSamples += ids.length;
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
  }

  get prefixSamples(): number {
    return this.from.prefixSamples;
  }

  async compute(ids: number[], c: BatchCounters): Promise<tf.Tensor> {
    const below = await this.from.batch(ids);
    c.checksumFailures += below.counters.checksumFailures;
    c.bytesRead += below.counters.bytesRead;
    c.bytesWritten += below.counters.bytesWritten;
    c.readMs += below.counters.readMs;
    c.writeMs += below.counters.writeMs;
    c.prefixMs += below.counters.prefixMs;
    const acts = below.activations;
    try {
      let at = 0;
      const out = await sliced(ids, c, async (slice) => {
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
