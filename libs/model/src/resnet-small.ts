/**
 * resnet-small: a small residual network for training from scratch (FreezeOut's setting), after
 * He et al.'s CIFAR ResNets: a 3x3 stem, then stages of basic units (3x3 conv - BN - ReLU - 3x3
 * conv - BN, plus the shortcut, then ReLU), each later stage halving the resolution with a
 * strided first conv and a 1x1 projection shortcut; global average pooling and a softmax
 * classifier as the head.
 *
 * Layer names put every layer of a unit under one prefix (`stem_`, `stage2_unit1_`), so the
 * block pattern RESNET_SMALL_BLOCKS groups them into FreezeOut's blocks; the cut after each unit's
 * last ReLU is a valid freeze boundary (one tensor crosses it).
 */
import * as tfl from '@tensorflow/tfjs-layers';

/** the stages' widths; each stage has one unit, the first keeps the stem's resolution */
const WIDTHS = [16, 32, 64];
const STEM_WIDTH = 16;

export const RESNET_SMALL_BLOCKS = '^(stem|stage\\d+_unit\\d+)_';

type T = tfl.SymbolicTensor;

export function buildResnetSmall(input: T, numClasses: number, seed: number): T {
  let s = seed;
  const conv = (x: T, filters: number, kernelSize: number, strides: number, name: string) =>
    tfl.layers
      .conv2d({
        filters,
        kernelSize,
        strides,
        padding: 'same',
        useBias: false,
        kernelInitializer: tfl.initializers.heNormal({ seed: s++ }),
        name,
      })
      .apply(x) as T;
  // momentum 0.9 (PyTorch's 0.1): the moving statistics follow a short from-scratch run
  const bn = (x: T, name: string) => tfl.layers.batchNormalization({ momentum: 0.9, name }).apply(x) as T;
  const relu = (x: T, name: string) => tfl.layers.reLU({ name }).apply(x) as T;

  let x = relu(bn(conv(input, STEM_WIDTH, 3, 1, 'stem_conv'), 'stem_bn'), 'stem_relu');
  let width = STEM_WIDTH;
  WIDTHS.forEach((filters, i) => {
    const unit = `stage${i + 1}_unit1`;
    const strides = i === 0 ? 1 : 2;
    let y = relu(bn(conv(x, filters, 3, strides, `${unit}_conv1`), `${unit}_bn1`), `${unit}_relu1`);
    y = bn(conv(y, filters, 3, 1, `${unit}_conv2`), `${unit}_bn2`);
    const shortcut = strides === 1 && filters === width ? x : bn(conv(x, filters, 1, strides, `${unit}_proj`), `${unit}_proj_bn`);
    x = relu(tfl.layers.add({ name: `${unit}_add` }).apply([y, shortcut]) as T, `${unit}_out`);
    width = filters;
  });
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as T;
  return tfl.layers
    .dense({
      units: numClasses,
      activation: 'softmax',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: s++ }),
      name: 'classifier',
    })
    .apply(x) as T;
}
