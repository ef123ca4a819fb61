/**
 * Bundled backbones, loaded from npm packages with no network.
 *
 * `mobilenet_v2` is the MobileNetV2 (alpha 1.0) Keras model shipped by nsfwjs@4.4.0 (MIT), with
 * uint8-quantized weights that tfjs dequantizes on load. The package wraps model.json and the
 * weight shard (base64) in browserify bundles; we require them by absolute path because the
 * package's "exports" hides its dist folder. The network is fully convolutional up to `out_relu`,
 * so any square input from 32 px works: we rewrite the input shape, drop every layer after the
 * cut (nsfwjs's NSFW head), and load only the weights of the layers we keep.
 */
import { createRequire } from 'node:module';
import { basename, dirname } from 'node:path';
import { UserError } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

const require = createRequire(import.meta.url);

export interface BundledModelInfo {
  name: string;
  description: string;
  source: string;
  defaultInputSize: number;
  minInputSize: number;
  defaultCut: string;
  /** the pixel range the pretrained weights expect */
  inputRange: [number, number];
  /** how layers group into blocks for progressive freezing (blocks.ts) */
  blockPattern: string;
}

export const BUNDLED: Record<string, BundledModelInfo> = {
  mobilenet_v2: {
    name: 'mobilenet_v2',
    description: 'MobileNetV2 1.0 backbone (pretrained, from nsfwjs@4.4.0; its NSFW head dropped)',
    source: 'nsfwjs@4.4.0 dist/models/mobilenet_v2',
    defaultInputSize: 224,
    minInputSize: 32,
    defaultCut: 'out_relu',
    inputRange: [0, 1],
    // the inverted-residual blocks; the stem (Conv1) and the top (Conv_1, out_relu) are blocks too
    blockPattern: '^(block_\\d+|expanded_conv)_',
  },
};

interface KerasLayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, unknown][][];
}
interface ModelJson {
  modelTopology: { model_config: { config: { layers: KerasLayerJson[]; output_layers: unknown[] } } };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

function packageDir(pkg: string): string {
  let d = dirname(require.resolve(pkg));
  while (basename(d) !== pkg) {
    const up = dirname(d);
    if (up === d) throw new Error(`cannot locate package ${pkg}`);
    d = up;
  }
  return d;
}

let cache: { json: ModelJson; weights: ArrayBuffer } | undefined;
function readMobilenet(): { json: ModelJson; weights: ArrayBuffer } {
  if (!cache) {
    const dir = `${packageDir('nsfwjs')}/dist/models/mobilenet_v2`;
    const json = require(`${dir}/model.min.js`) as ModelJson;
    const b64 = require(`${dir}/group1-shard1of1.min.js`) as string;
    const buf = Buffer.from(b64, 'base64');
    cache = { json, weights: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) };
  }
  return cache;
}

/** Layers that `cut` depends on, in the file's (topological) order. */
function ancestors(layers: KerasLayerJson[], cut: string): KerasLayerJson[] {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const keep = new Set<string>();
  const stack = [cut];
  while (stack.length > 0) {
    const n = stack.pop() as string;
    if (keep.has(n)) continue;
    keep.add(n);
    for (const node of byName.get(n)?.inbound_nodes ?? []) for (const [src] of node) stack.push(src);
  }
  return layers.filter((l) => keep.has(l.name));
}

function bytesOf(w: tf.io.WeightsManifestEntry): number {
  const n = w.shape.reduce((a, b) => a * b, 1);
  if (w.quantization) return n * (w.quantization.dtype === 'uint8' ? 1 : 2);
  return n * 4;
}

export interface BundledOptions {
  inputSize?: number;
  /** the last layer kept (default: the model's defaultCut) */
  cut?: string;
  /** false: same architecture with seeded random weights (a baseline for what pretraining buys) */
  pretrained?: boolean;
  seed?: number;
}

/** Seeded re-initialisation: kernels glorot-uniform, BN gamma and variance 1, everything else 0. */
function reinitialize(model: tfl.LayersModel, seed: number): void {
  let s = seed;
  for (const w of model.weights) {
    const leaf = w.originalName.split('/').pop() ?? '';
    const shape = w.shape.map((d) => d ?? 1);
    const value = tf.tidy(() =>
      leaf.includes('kernel')
        ? tfl.initializers.glorotUniform({ seed: s++ }).apply(shape)
        : leaf === 'gamma' || leaf === 'moving_variance'
          ? tf.ones(shape)
          : tf.zeros(shape),
    );
    w.write(value);
    value.dispose();
  }
}

export async function loadBundled(name: string, opts: BundledOptions = {}): Promise<tfl.LayersModel> {
  const info = BUNDLED[name];
  if (!info) throw new UserError(`unknown bundled model '${name}'`, 'model.name');
  const size = opts.inputSize ?? info.defaultInputSize;
  if (!Number.isInteger(size) || size < info.minInputSize) {
    throw new UserError(`input size must be an integer >= ${info.minInputSize} for ${name}, got ${size}`, 'model.inputSize');
  }
  const { json, weights } = readMobilenet();
  const all = json.modelTopology.model_config.config.layers;
  const cut = opts.cut ?? info.defaultCut;
  if (!all.some((l) => l.name === cut)) {
    throw new UserError(`${name} has no layer '${cut}'; see 'permafrost models ls --model ${name}'`, 'model.cut');
  }
  const kept = structuredClone(ancestors(all, cut));
  const first = kept[0];
  if (first?.class_name !== 'InputLayer') throw new Error(`${name}: first layer is not an input`);
  first.config.batch_input_shape = [null, size, size, 3];
  const topology = structuredClone(json.modelTopology);
  topology.model_config.config.layers = kept;
  topology.model_config.config.output_layers = [[cut, 0, 0]];

  // Keep only the weights of kept layers, slicing them out of the single shard.
  const keptNames = new Set(kept.map((l) => l.name));
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const w of json.weightsManifest.flatMap((g) => g.weights)) {
    const n = bytesOf(w);
    if (keptNames.has(w.name.split('/')[0] ?? '')) {
      specs.push(w);
      parts.push(new Uint8Array(weights, offset, n));
    }
    offset += n;
  }
  if (offset !== weights.byteLength) throw new Error(`${name}: weight manifest covers ${offset} of ${weights.byteLength} bytes`);
  const data = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  const model = await tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: topology as unknown as tf.io.ModelJSON['modelTopology'],
      weightSpecs: specs,
      weightData: data.buffer,
    }),
  );
  if (opts.pretrained === false) reinitialize(model, opts.seed ?? 0);
  return model;
}
