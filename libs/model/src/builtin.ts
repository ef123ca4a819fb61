/**
 * Small architectures with seeded initialisation, for tests and quick runs. They are complete
 * classifiers (no head needed); every initializer takes seed + layer index, so two builds with the
 * same seed are bit-identical.
 */
import { UserError } from '@permafrost/telemetry';
import * as tfl from '@tensorflow/tfjs-layers';
import { buildResnetSmall, RESNET_SMALL_BLOCKS } from './resnet-small';

export interface BuiltinInfo {
  name: string;
  description: string;
  defaultInputSize: number;
  channels: 1 | 3;
  inputRange: [number, number];
  /** the block pattern FreezeOut groups layers by (blocks.ts); default: one block per weighted layer */
  blockPattern?: string;
}

export const BUILTIN: Record<string, BuiltinInfo> = {
  mlp: {
    name: 'mlp',
    description: 'flatten - dense 64 relu - dense 32 relu - softmax',
    defaultInputSize: 28,
    channels: 1,
    inputRange: [0, 1],
  },
  'cnn-small': {
    name: 'cnn-small',
    description: 'conv 8 - batchnorm - relu - maxpool - conv 16 - relu - global avg pool - dense 16 relu - softmax',
    defaultInputSize: 28,
    channels: 1,
    inputRange: [0, 1],
  },
  'resnet-small': {
    name: 'resnet-small',
    description: 'stem conv 16 - residual stages 16, 32, 64 (BN, one unit each, blocks stem, stageN_unit1) - gap - softmax',
    defaultInputSize: 28,
    channels: 1,
    inputRange: [0, 1],
    blockPattern: RESNET_SMALL_BLOCKS,
  },
};

export interface BuiltinOptions {
  inputSize?: number;
  numClasses: number;
  seed: number;
}

export function buildBuiltin(name: string, opts: BuiltinOptions): tfl.LayersModel {
  const info = BUILTIN[name];
  if (!info) throw new UserError(`unknown built-in model '${name}'`, 'model.name');
  const size = opts.inputSize ?? info.defaultInputSize;
  if (!Number.isInteger(size) || size < 8) throw new UserError(`input size must be an integer >= 8, got ${size}`, 'model.inputSize');
  let seed = opts.seed;
  const init = () => tfl.initializers.glorotUniform({ seed: seed++ });
  const input = tfl.input({ shape: [size, size, info.channels], name: 'input' });
  if (name === 'resnet-small') return tfl.model({ inputs: input, outputs: buildResnetSmall(input, opts.numClasses, seed), name });
  let x: tfl.SymbolicTensor;
  if (name === 'mlp') {
    x = tfl.layers.flatten({ name: 'flatten' }).apply(input) as tfl.SymbolicTensor;
    x = tfl.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(), name: 'dense_1' }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(), name: 'dense_2' }).apply(x) as tfl.SymbolicTensor;
  } else {
    x = tfl.layers
      .conv2d({ filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: init(), name: 'conv_1' })
      .apply(input) as tfl.SymbolicTensor;
    x = tfl.layers.batchNormalization({ name: 'bn_1' }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.reLU({ name: 'relu_1' }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool_1' }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers
      .conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(), name: 'conv_2' })
      .apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(), name: 'dense_1' }).apply(x) as tfl.SymbolicTensor;
  }
  const out = tfl.layers
    .dense({ units: opts.numClasses, activation: 'softmax', kernelInitializer: init(), name: 'classifier' })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name });
}
