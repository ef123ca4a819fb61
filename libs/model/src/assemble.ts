/**
 * From a model spec to the three models training needs: the full model (what checkpoints save),
 * its frozen prefix (runs in inference mode, no tape) and its trainable suffix (shares the full
 * model's layers and weights).
 *
 * Without a head the user's model is fine-tuned as it is. With a head, the model is a backbone cut
 * at `cut` (bundled default `out_relu`; for other models the boundary) and the head replaces
 * whatever followed. The freeze boundary is a layer name, or "all but the last k layers"; by
 * default everything up to the cut is frozen (with a head) or all but the last layer (without).
 */
import { existsSync } from 'node:fs';
import { UserError } from '@permafrost/telemetry';
import * as tfl from '@tensorflow/tfjs-layers';
import { type Block, type BlockLayout, blockLayout, blocksAfter, parseBlockPattern } from './blocks';
import { BUILTIN, buildBuiltin } from './builtin';
import { BUNDLED, loadBundled } from './bundled';
import { applyHead, headToString, parseHead } from './head';
import {
  assertValidBoundary,
  boundaryForTrainableLast,
  freezesNothing,
  inputBoundary,
  type Split,
  splitAt,
  validBoundaries,
} from './model-graph';
import { loadModelFile } from './model-io';

export interface ModelSpec {
  /** bundled name, built-in name, or a path to a LayersModel model.json */
  name: string;
  inputSize?: number;
  /** with a head: the backbone's last layer */
  cut?: string;
  /** head spec such as gap-128 (bundled backbones default to gap) */
  head?: string;
  /** bundled models: false replaces the pretrained weights with seeded random ones (default true) */
  pretrained?: boolean;
  /** pixel range the model expects; bundled and built-in models know theirs, files default to [0,1] */
  inputRange?: [number, number];
}

export interface FreezeSpec {
  /** none: every layer trains; freezeout without boundary, trainableLast or k: starts from the input */
  policy?: string;
  boundary?: string;
  trainableLast?: number;
  /** all but the last k blocks frozen (blocks.ts) */
  k?: number;
  /** regex whose first capture group names a layer's block (bundled models have a default) */
  blockPattern?: string;
}

export interface InputSpec {
  sizePx: number;
  channels: 1 | 3;
  range: [number, number];
}

export interface Assembled extends Split {
  full: tfl.LayersModel;
  source: 'bundled' | 'builtin' | 'file';
  head: string | undefined;
  input: InputSpec;
  /** the backbone's blocks and the head */
  layout: BlockLayout;
  /** the blocks after the boundary, before the head: what progressive freezing can freeze */
  trainableBlocks: Block[];
}

export function modelSource(name: string): 'bundled' | 'builtin' | 'file' {
  if (name in BUNDLED) return 'bundled';
  if (name in BUILTIN) return 'builtin';
  if (name.endsWith('.json') || name.includes('/')) return 'file';
  throw new UserError(
    `unknown model '${name}'; expected one of ${[...Object.keys(BUNDLED), ...Object.keys(BUILTIN)].join(', ')} or a path to model.json`,
    'model.name',
  );
}

export async function assemble(spec: ModelSpec, freeze: FreezeSpec, numClasses: number, seed: number): Promise<Assembled> {
  if ([freeze.boundary, freeze.trainableLast, freeze.k].filter((x) => x !== undefined).length > 1) {
    throw new UserError('give one of boundary, trainableLast and k', 'freeze');
  }
  const source = modelSource(spec.name);
  if (source === 'file' && !existsSync(spec.name)) throw new UserError('model file not found', spec.name);
  const headString = spec.head ?? (source === 'bundled' ? 'gap' : undefined);
  const head = headString === undefined ? undefined : parseHead(headString);
  let cut = spec.cut;
  let base: tfl.LayersModel;
  if (source === 'bundled') {
    cut ??= BUNDLED[spec.name]?.defaultCut;
    base = await loadBundled(spec.name, { inputSize: spec.inputSize, cut, pretrained: spec.pretrained, seed });
  } else if (source === 'builtin') {
    base = buildBuiltin(spec.name, { inputSize: spec.inputSize, numClasses, seed });
  } else {
    base = await loadModelFile(spec.name);
  }

  let full = base;
  if (head) {
    cut ??= freeze.boundary ?? base.layers[base.layers.length - 1]?.name;
    if (!cut) throw new UserError('model has no layers', 'model.name');
    const backboneOut = cut === base.layers[base.layers.length - 1]?.name ? base.outputs[0] : splitAt(base, cut).prefix.outputs[0];
    if (!backboneOut) throw new Error('backbone has no output');
    const out = applyHead(backboneOut, head, numClasses, seed + 1000);
    full = tfl.model({ inputs: base.inputs, outputs: out, name: `${base.name}_${headToString(head).replace(/\W/g, '_')}` });
  } else {
    const units = full.outputs[0]?.shape[full.outputs[0].shape.length - 1];
    if (full.outputs.length !== 1 || units !== numClasses) {
      throw new UserError(
        `the model's output has ${units} units but the dataset has ${numClasses} classes (use --head to replace the classifier)`,
        'model.name',
      );
    }
  }

  const lastBoundary = validBoundaries(full).at(-1);
  const headStart =
    head && cut ? full.layers.findIndex((l) => l.name === cut) + 1 : full.layers.findIndex((l) => l.name === lastBoundary) + 1;
  const patternText = freeze.blockPattern ?? BUNDLED[spec.name]?.blockPattern ?? BUILTIN[spec.name]?.blockPattern;
  const layout = blockLayout(full, headStart, patternText === undefined ? undefined : parseBlockPattern(patternText));

  let boundary: string;
  if (freeze.policy === 'none') {
    boundary = inputBoundary(full);
  } else if (freeze.k !== undefined) {
    boundary = boundaryForK(full, layout, freeze.k);
  } else if (freeze.boundary !== undefined) {
    assertValidBoundary(full, freeze.boundary);
    boundary = freeze.boundary;
  } else if (freeze.trainableLast !== undefined) {
    boundary = boundaryForTrainableLast(full, freeze.trainableLast);
  } else if (freeze.policy === 'freezeout') {
    boundary = inputBoundary(full);
  } else if (head && cut) {
    boundary = cut;
  } else {
    boundary = boundaryForTrainableLast(full, 1);
  }
  const split = splitAt(full, boundary);
  for (const l of split.prefix.layers) l.trainable = false;

  const shape = full.inputs[0]?.shape ?? [];
  const [, h, w, c] = shape;
  if (shape.length !== 4 || h == null || h !== w || (c !== 1 && c !== 3)) {
    throw new UserError(`model input must be a square image [N,H,W,1|3], got [${shape.join(',')}]`, 'model.name');
  }
  const range: [number, number] = spec.inputRange ?? BUNDLED[spec.name]?.inputRange ?? BUILTIN[spec.name]?.inputRange ?? [0, 1];
  return {
    ...split,
    full,
    source,
    head: head && headToString(head),
    input: { sizePx: h, channels: c, range },
    layout,
    trainableBlocks: freezesNothing(split) ? layout.blocks : blocksAfter(layout, boundary),
  };
}

/** The boundary that leaves the last k blocks trainable; k = every block freezes nothing. */
function boundaryForK(full: tfl.LayersModel, layout: BlockLayout, k: number): string {
  const n = layout.blocks.length;
  if (k === n) return inputBoundary(full);
  const at = layout.blocks[n - k - 1];
  if (!at) {
    throw new UserError(
      `cannot leave ${k} blocks trainable: the model has ${n} blocks before the head (${layout.blocks.map((b) => b.name).join(', ')})`,
      'freeze.k',
    );
  }
  return at.last;
}
