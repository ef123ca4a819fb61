/**
 * Per-layer parameter counts and a forward-cost estimate (multiply-adds counted as 2 FLOPs) from
 * layer configs and output shapes. It is an estimate for choosing boundaries and previewing
 * speedups, not a profiler: element-wise layers count one FLOP per output element.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { modelNodes } from './model-graph';

export interface LayerCost {
  name: string;
  className: string;
  params: number;
  /** forward FLOPs per sample */
  flops: number;
  outputShape: number[];
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
const dims = (shape: readonly (number | null)[]) => shape.slice(1).map((d) => d ?? 1);

export function layerCosts(model: tfl.LayersModel): LayerCost[] {
  return modelNodes(model).map(({ layer, inputs, outputs }) => {
    const out = dims(outputs[0]?.shape ?? []);
    const inp = dims(inputs[0]?.shape ?? []);
    const cfg = layer.getConfig() as Record<string, unknown>;
    const k = (cfg.kernelSize as number[] | undefined) ?? [1, 1];
    const inC = inp[inp.length - 1] ?? 1;
    const outEl = prod(out);
    let flops: number;
    switch (layer.getClassName()) {
      case 'Conv2D':
        flops = 2 * outEl * prod(k) * inC;
        break;
      case 'DepthwiseConv2D':
        flops = 2 * outEl * prod(k);
        break;
      case 'Dense':
        flops = 2 * outEl * inC;
        break;
      case 'BatchNormalization':
        flops = 2 * outEl;
        break;
      case 'InputLayer':
        flops = 0;
        break;
      default:
        flops = outEl;
    }
    return { name: layer.name, className: layer.getClassName(), params: layer.countParams(), flops, outputShape: out };
  });
}
