/**
 * Fails early, with a clear message, when the backend cannot compute the gradients the suffix
 * needs, instead of crashing mid-epoch. (tfjs's wasm backend ships without the conv filter and
 * depthwise gradients; @permafrost/engine registers its own when it loads wasm, so this guards
 * backends or versions where a kernel is still missing.)
 * A trainable conv needs its filter gradient; any conv after the first trainable layer also needs
 * its input gradient so the error can flow further back.
 */
import { engineInfo, missingKernels } from '@permafrost/engine';
import { UserError } from '@permafrost/telemetry';
import type * as tfl from '@tensorflow/tfjs-layers';

const KERNELS: Record<string, { filter: string; input: string }> = {
  Conv2D: { filter: 'Conv2DBackpropFilter', input: 'Conv2DBackpropInput' },
  DepthwiseConv2D: { filter: 'DepthwiseConv2dNativeBackpropFilter', input: 'DepthwiseConv2dNativeBackpropInput' },
  SeparableConv2D: { filter: 'DepthwiseConv2dNativeBackpropFilter', input: 'DepthwiseConv2dNativeBackpropInput' },
};

export function assertGradientKernels(suffix: tfl.LayersModel): void {
  const needs = new Map<string, string[]>();
  let seenTrainable = false;
  for (const layer of suffix.layers) {
    const k = KERNELS[layer.getClassName()];
    const trainable = layer.trainableWeights.length > 0;
    if (k) {
      const names = [...(trainable ? [k.filter] : []), ...(seenTrainable ? [k.input] : [])];
      for (const n of names) needs.set(n, [...(needs.get(n) ?? []), layer.name]);
    }
    seenTrainable ||= trainable;
  }
  const missing = missingKernels([...needs.keys()]);
  if (missing.length === 0) return;
  const layers = [...new Set(missing.flatMap((m) => needs.get(m) ?? []))];
  throw new UserError(
    `the ${engineInfo()?.backend ?? 'current'} backend lacks ${missing.join(', ')}, needed to train ${layers.slice(0, 3).join(', ')}${layers.length > 3 ? ` and ${layers.length - 3} more` : ''}; move the boundary past the conv layers, or use --backend cpu or tensorflow`,
    'freeze.boundary',
  );
}
