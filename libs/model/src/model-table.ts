/**
 * What `permafrost models ls` shows: the models there are, and for a bundled backbone its valid
 * freeze boundaries (output shape, parameters up to there, forward cost) and its blocks, as data
 * for `--json` and as text for a terminal.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { blockLayout, parseBlockPattern } from './blocks';
import { BUILTIN } from './builtin';
import { BUNDLED, loadBundled } from './bundled';
import { layerCosts } from './cost';
import { validBoundaries } from './model-graph';

export interface ModelListing {
  name: string;
  kind: 'bundled backbone' | 'built-in';
  description: string;
}

export interface BoundaryRow {
  layer: string;
  class: string;
  boundary: boolean;
  params: number;
  prefixParams: number;
  mflops: number;
  prefixShareOfForward: number;
  outputShape: number[];
}

export interface ModelTable {
  model: string;
  inputSize: number;
  totalMflops: number;
  layers: BoundaryRow[];
  blocks: { name: string; layers: string[]; last: string; mflops: number }[];
}

export function listModels(): ModelListing[] {
  return [
    ...Object.values(BUNDLED).map((m) => ({ name: m.name, kind: 'bundled backbone' as const, description: m.description })),
    ...Object.values(BUILTIN).map((m) => ({ name: m.name, kind: 'built-in' as const, description: m.description })),
  ];
}

export function formatModelList(rows: readonly ModelListing[]): string {
  return rows.map((r) => `${r.name.padEnd(14)} ${r.kind.padEnd(17)} ${r.description}\n`).join('');
}

/** The boundary and block table of bundled model `name` at `inputSize` px (an engine must be initialised). */
export async function modelTable(name: string, inputSize: number): Promise<ModelTable> {
  const model: tfl.LayersModel = await loadBundled(name, { inputSize });
  const valid = new Set(validBoundaries(model, { includeOutput: true }));
  const info = BUNDLED[name];
  const { blocks } = blockLayout(model, model.layers.length, info ? parseBlockPattern(info.blockPattern) : undefined);
  const costs = layerCosts(model);
  const total = costs.reduce((a, c) => a + c.flops, 0);
  let cumFlops = 0;
  let cumParams = 0;
  const layers = costs.map((c) => {
    cumFlops += c.flops;
    cumParams += c.params;
    return {
      layer: c.name,
      class: c.className,
      boundary: valid.has(c.name),
      params: c.params,
      prefixParams: cumParams,
      mflops: c.flops / 1e6,
      prefixShareOfForward: cumFlops / total,
      outputShape: c.outputShape,
    };
  });
  model.dispose();
  return {
    model: name,
    inputSize,
    totalMflops: total / 1e6,
    layers,
    blocks: blocks.map((b) => ({ name: b.name, layers: b.layers, last: b.last, mflops: b.flops / 1e6 })),
  };
}

export function formatModelTable(t: ModelTable): string {
  const params = t.layers.at(-1)?.prefixParams ?? 0;
  const lines = [
    `${t.model} at ${t.inputSize}x${t.inputSize}: ${t.totalMflops.toFixed(1)} MFLOPs forward per sample, ${params} parameters`,
  ];
  lines.push('valid freeze boundaries (layer, output shape, prefix params, layer MFLOPs, prefix share of forward cost):');
  for (const r of t.layers.filter((x) => x.boundary)) {
    const shape = `[${r.outputShape.join(',')}]`.padEnd(14);
    lines.push(
      `  ${r.layer.padEnd(28)} ${shape} ${String(r.prefixParams).padStart(9)} ${r.mflops.toFixed(2).padStart(8)} ${(100 * r.prefixShareOfForward).toFixed(1).padStart(6)}%`,
    );
  }
  lines.push('blocks (freeze.policy last-k and freezeout freeze them whole; last layer, layers, MFLOPs):');
  for (const b of t.blocks)
    lines.push(`  ${b.name.padEnd(14)} ${b.last.padEnd(26)} ${String(b.layers.length).padStart(3)} ${b.mflops.toFixed(2).padStart(8)}`);
  return `${lines.join('\n')}\n`;
}
