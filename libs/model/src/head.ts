/**
 * Classification heads put on a backbone's boundary output.
 *
 * Spec string: `<pooling>[-<hidden units>...][-d<dropout rate>]`, pooling one of gap (global
 * average), gmp (global max), flatten. Examples: `gap`, `gap-128`, `flatten-256-64-d0.2`. The last
 * layer is always dense(numClasses, softmax). Initialisers are seeded so heads are reproducible.
 */
import { UserError } from '@permafrost/telemetry';
import * as tfl from '@tensorflow/tfjs-layers';

export interface HeadSpec {
  pooling: 'gap' | 'gmp' | 'flatten';
  hidden: number[];
  dropout: number;
}

export function parseHead(spec: string, field = 'model.head'): HeadSpec {
  const [pooling, ...rest] = spec.trim().toLowerCase().split('-');
  if (pooling !== 'gap' && pooling !== 'gmp' && pooling !== 'flatten') {
    throw new UserError(`head '${spec}' must start with gap, gmp or flatten (e.g. gap-128)`, field);
  }
  const hidden: number[] = [];
  let dropout = 0;
  for (const part of rest) {
    if (/^d(0(\.\d+)?|1)$/.test(part)) dropout = Number(part.slice(1));
    else if (/^[1-9]\d*$/.test(part)) hidden.push(Number(part));
    else throw new UserError(`head '${spec}': '${part}' is neither a layer size nor d<rate> (e.g. gap-128-d0.2)`, field);
  }
  if (dropout >= 1) throw new UserError(`head '${spec}': dropout must be below 1`, field);
  return { pooling, hidden, dropout };
}

export function headToString(h: HeadSpec): string {
  return [h.pooling, ...h.hidden.map(String), ...(h.dropout > 0 ? [`d${h.dropout}`] : [])].join('-');
}

/** Applies a fresh head to `x`; returns the class-probability output. */
export function applyHead(x: tfl.SymbolicTensor, head: HeadSpec, numClasses: number, seed: number): tfl.SymbolicTensor {
  let s = seed;
  const init = () => tfl.initializers.glorotUniform({ seed: s++ });
  const rank = x.shape.length;
  if (head.pooling !== 'flatten' && rank !== 4) {
    throw new UserError(`head pooling ${head.pooling} needs a 4-D feature map, the boundary gives rank ${rank}`, 'model.head');
  }
  let y =
    head.pooling === 'gap'
      ? (tfl.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(x) as tfl.SymbolicTensor)
      : head.pooling === 'gmp'
        ? (tfl.layers.globalMaxPooling2d({ name: 'head_pool' }).apply(x) as tfl.SymbolicTensor)
        : rank > 2
          ? (tfl.layers.flatten({ name: 'head_flatten' }).apply(x) as tfl.SymbolicTensor)
          : x;
  head.hidden.forEach((units, i) => {
    y = tfl.layers
      .dense({ units, activation: 'relu', kernelInitializer: init(), name: `head_dense_${i + 1}` })
      .apply(y) as tfl.SymbolicTensor;
    if (head.dropout > 0) y = tfl.layers.dropout({ rate: head.dropout, name: `head_dropout_${i + 1}` }).apply(y) as tfl.SymbolicTensor;
  });
  return tfl.layers
    .dense({ units: numClasses, activation: 'softmax', kernelInitializer: init(), name: 'head_out' })
    .apply(y) as tfl.SymbolicTensor;
}
