/**
 * Blocks: the groups of layers that progressive freezing freezes as one (MobileNetV2's inverted
 * residual blocks by default). Freezing a block moves the boundary to its last layer, so every
 * block must end where a single tensor crosses (model-graph.ts); a group that does not is merged
 * with the next one.
 *
 * Grouping, over the layers before the head:
 *   with a pattern   a regex whose first capture group names the block (`^(block_\d+)_`):
 *                    consecutive layers with the same capture form a block, and consecutive
 *                    layers that do not match form one block named after its first layer
 *   without          every layer with weights starts a block; weightless layers (activations,
 *                    padding, pooling) and normalization layers join the block before them
 * The head (the layers after the backbone's cut, or a model's last weighted layer, with the
 * weightless blocks just before it) never freezes and is not a block.
 */
import { UserError } from '@permafrost/telemetry';
import type * as tfl from '@tensorflow/tfjs-layers';
import { layerCosts } from './cost';
import { validBoundaries } from './model-graph';

/** normalization layers belong to the layer before them */
const NORMALIZATION = /Normalization$/;

export interface Block {
  name: string;
  layers: string[];
  /** the block's last layer: a valid boundary */
  last: string;
  /** forward FLOPs per sample */
  flops: number;
}

export interface BlockLayout {
  /** every block before the head, in order */
  blocks: Block[];
  /** layers of the head (never frozen) */
  head: string[];
  /** forward FLOPs per sample of the head */
  headFlops: number;
}

export function parseBlockPattern(pattern: string, field = 'freeze.blockPattern'): RegExp {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (e) {
    throw new UserError(`not a valid regular expression: ${(e as Error).message}`, field);
  }
  if (new RegExp(`${re.source}|`).exec('')?.length === 1) throw new UserError('the pattern needs a capture group naming the block', field);
  return re;
}

/**
 * Groups `model`'s layers into blocks; `headStart` is the index (in model.layers) of the head's
 * first layer.
 */
export function blockLayout(model: tfl.LayersModel, headStart: number, pattern?: RegExp): BlockLayout {
  const costs = layerCosts(model);
  const layers = model.layers;
  const groups: { key: string; idx: number[] }[] = [];
  let unmatchedRun = false;
  for (let i = 0; i < Math.min(headStart, layers.length); i++) {
    const layer = layers[i] as tfl.layers.Layer;
    if (layer.getClassName() === 'InputLayer') continue;
    let key: string | undefined;
    if (pattern) {
      const m = pattern.exec(layer.name);
      if (m?.[1] !== undefined) {
        key = m[1];
        unmatchedRun = false;
      } else if (!unmatchedRun) {
        key = layer.name;
        unmatchedRun = true;
      }
    } else if ((layer.weights.length > 0 && !NORMALIZATION.test(layer.getClassName())) || groups.length === 0) {
      key = layer.name;
    }
    const cur = groups.at(-1);
    if (cur && (key === undefined || key === cur.key)) cur.idx.push(i);
    else groups.push({ key: key ?? layer.name, idx: [i] });
  }
  const valid = new Set(validBoundaries(model, { includeOutput: true }));
  const blocks: Block[] = [];
  let pending: number[] = [];
  let name: string | undefined;
  for (const g of groups) {
    name ??= g.key;
    pending.push(...g.idx);
    const last = layers[g.idx.at(-1) as number] as tfl.layers.Layer;
    if (!valid.has(last.name)) continue;
    blocks.push({
      name,
      layers: pending.map((i) => (layers[i] as tfl.layers.Layer).name),
      last: last.name,
      flops: pending.reduce((a, i) => a + (costs[i]?.flops ?? 0), 0),
    });
    pending = [];
    name = undefined;
  }
  // trailing blocks without weights (a pooling layer before the classifier) have nothing to freeze
  const byName = new Map(layers.map((l, i) => [l.name, i]));
  while (blocks.length > 0 && blocks.at(-1)?.layers.every((n) => (layers[byName.get(n) as number]?.weights.length ?? 0) === 0)) {
    pending = [...(blocks.pop() as Block).layers.map((n) => byName.get(n) as number), ...pending];
  }
  const headIdx = layers.map((_, i) => i).filter((i) => i >= headStart);
  // layers left pending (no valid end before the head) train with the head
  const head = [...pending, ...headIdx].map((i) => (layers[i] as tfl.layers.Layer).name);
  const headFlops = [...pending, ...headIdx].reduce((a, i) => a + (costs[i]?.flops ?? 0), 0);
  return { blocks, head, headFlops };
}

/** The blocks (or the tails of blocks) after `boundary`. */
export function blocksAfter(layout: BlockLayout, boundary: string): Block[] {
  const at = layout.blocks.findIndex((b) => b.layers.includes(boundary));
  if (at < 0) return [];
  const first = layout.blocks[at] as Block;
  const tail = first.layers.slice(first.layers.indexOf(boundary) + 1);
  const rest = layout.blocks.slice(at + 1);
  if (tail.length === 0) return rest;
  const share = tail.length / first.layers.length;
  return [{ ...first, layers: tail, flops: first.flops * share }, ...rest];
}

/** The flops of the layers up to and including `boundary`. */
export function flopsThrough(model: tfl.LayersModel, boundary: string): number {
  let sum = 0;
  for (const c of layerCosts(model)) {
    sum += c.flops;
    if (c.name === boundary) return sum;
  }
  return sum;
}
