/**
 * Hashes that identify a frozen prefix for the activation cache: its topology (layer classes,
 * configs and connections, input shape included, model name excluded, so the same backbone
 * inside different full models hashes the same) and its weights (names, shapes and values,
 * BatchNormalization statistics included).
 */
import { createHash } from 'node:crypto';
import type * as tfl from '@tensorflow/tfjs-layers';

export interface PrefixIdentity {
  topologyHash: string;
  weightsHash: string;
  /** layers that make the prefix non-deterministic in principle (dropout, noise, random augmentation) */
  randomLayers: string[];
}

const RANDOM = /^(Dropout|SpatialDropout\dD|GaussianNoise|GaussianDropout|AlphaDropout|Random\w*)$/;

export function prefixIdentity(prefix: tfl.LayersModel): PrefixIdentity {
  const config = prefix.getConfig() as { layers?: unknown; input_layers?: unknown; output_layers?: unknown };
  const topologyHash = createHash('sha256')
    .update(JSON.stringify({ layers: config.layers, inputs: config.input_layers, outputs: config.output_layers }))
    .digest('hex');
  const h = createHash('sha256');
  for (const layer of prefix.layers) {
    for (const w of layer.weights) {
      const data = w.read().dataSync();
      h.update(`${layer.name}/${w.originalName}:${w.shape.join('x')}:${w.dtype};`);
      h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  }
  const randomLayers = prefix.layers.filter((l) => RANDOM.test(l.getClassName())).map((l) => `${l.name} (${l.getClassName()})`);
  return { topologyHash, weightsHash: h.digest('hex'), randomLayers };
}
