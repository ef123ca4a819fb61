/** Checkpoint weights for equivalence tests: a final checkpoint's weights and their distance. */
import { join } from 'node:path';
import { loadModelFile } from '@permafrost/model';

export async function checkpointWeights(checkpointRoot: string, name = 'final'): Promise<Float32Array[]> {
  const m = await loadModelFile(join(checkpointRoot, name, 'model.json'));
  return m.getWeights().map((w) => w.dataSync() as Float32Array);
}

/** The largest absolute difference between two weight lists of the same shapes. */
export function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  for (const [i, x] of a.entries()) for (const [j, v] of x.entries()) d = Math.max(d, Math.abs(v - ((b[i] as Float32Array)[j] as number)));
  return d;
}

/** The largest weight difference relative to the largest weight of `want` (the elastic tests' 1e-4 bound). */
export function relativeDiff(got: Float32Array[], want: Float32Array[]): number {
  const scale = Math.max(...want.map((w) => w.reduce((a, x) => Math.max(a, Math.abs(x)), 0)));
  return maxAbsDiff(got, want) / scale;
}
