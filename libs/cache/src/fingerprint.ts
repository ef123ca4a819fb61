/**
 * A fingerprint names everything a cached activation depends on: the prefix's topology and
 * weights, the boundary, the input size and preprocessing, and the dataset's identity. Any
 * change gives a new fingerprint (never a stale hit), and so does each augmented view of the input
 * (`cache.views`: the view is in the fingerprint, hence in every key's fingerprint id); a
 * different head does not, so a sweep of heads over one frozen prefix pays for the prefix once.
 */
import { createHash } from 'node:crypto';

export interface FingerprintInputs {
  /** hash of the prefix's layer configs and connections (includes the input shape) */
  topologyHash: string;
  /** hash of the prefix's weights (values, names, shapes), BN statistics included */
  weightsHash: string;
  boundary: string;
  /** a stable description of the preprocessing (size, channels, range, resize method) */
  preprocess: string;
  /** the dataset's identity (changes when its files change) */
  datasetId: string;
  /** an augmented view's transform (augmentation, seed, view); absent: the input as decoded */
  augment?: string;
}

export function fingerprintOf(inputs: FingerprintInputs): string {
  const canonical = JSON.stringify([
    'permafrost-fingerprint-v1',
    inputs.topologyHash,
    inputs.weightsHash,
    inputs.boundary,
    inputs.preprocess,
    inputs.datasetId,
    // absent, the list is what it always was: un-augmented fingerprints keep their entries
    ...(inputs.augment === undefined ? [] : [inputs.augment]),
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}
