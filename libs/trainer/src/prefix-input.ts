/**
 * The frozen prefix's input side: how many samples one inference call takes, and reading the
 * next call's input while the current one computes.
 *
 * PREFIX_BATCH: MobileNetV2 at 96x96 on the wasm backend computes the most samples per CPU second
 * at batch 32 (about 148, against 133 at 16 and 110-140 at 48 to 128, one XNNPACK thread; the
 * finetune benchmark's inference table has the wall-clock figures). Calls are also kept this
 * small because each is one synchronous stretch of the main thread: at 256 samples it takes
 * seconds, long enough to starve a worker's heartbeats, and slices bound peak memory.
 *
 * InputReadAhead: `Dataset.read` does its I/O (and for image folders sharp's decoding) off the
 * main thread, so a read started before a forward proceeds while the forward runs; the forward of
 * the next slice then finds its input ready. Preprocessing (resize, channels, range) runs as
 * tfjs ops and stays on the main thread.
 */
import type { Dataset } from '@permafrost/data';

type RawBatch = Awaited<ReturnType<Dataset['read']>>;

export const PREFIX_BATCH = 32;

export class InputReadAhead {
  private pending: { key: string; raw: Promise<RawBatch> } | undefined;

  constructor(
    private readonly dataset: Dataset,
    private readonly sizePx: number,
  ) {}

  /** Starts reading `ids` for a later `take`; replaces a read started before and not taken. */
  start(ids: readonly number[]): void {
    this.pending = undefined;
    if (ids.length === 0) return;
    const raw = this.dataset.read(ids, { sizePx: this.sizePx });
    // a read nobody takes must not count as an unhandled rejection; whoever takes it sees the error
    raw.catch(() => undefined);
    this.pending = { key: ids.join(','), raw };
  }

  /** The input of `ids`: the read started for exactly these ids, or a new one. */
  take(ids: readonly number[]): Promise<RawBatch> {
    const p = this.pending;
    this.pending = undefined;
    if (p && p.key === ids.join(',')) return p.raw;
    return this.dataset.read(ids, { sizePx: this.sizePx });
  }
}
