/**
 * Freeze boundaries on a layer DAG.
 *
 * A LayersModel's layers come in topological order. Cutting "after layer i" splits them into a
 * prefix (0..i) and a suffix (i+1..). The cut is valid only when exactly one tensor crosses it and
 * that tensor is layer i's output: then the prefix is a model with one output, the cached
 * activation is that one tensor, and the suffix is a model with one input. Inside a residual block
 * of MobileNetV2 the block's input is still needed by its Add layer, so two tensors cross and the
 * cut is invalid; between blocks it is valid.
 *
 * Layers may appear in several graphs (the bundled backbone, the full model, the suffix we build),
 * each graph adding an inbound node. For one model we follow the nodes whose inputs are tensors of
 * that model, walking forward from its inputs.
 */
import { UserError } from '@permafrost/telemetry';
import * as tfl from '@tensorflow/tfjs-layers';

type Layer = tfl.layers.Layer;
type SymbolicTensor = tfl.SymbolicTensor;

export interface GraphNode {
  index: number;
  layer: Layer;
  inputs: SymbolicTensor[];
  outputs: SymbolicTensor[];
}

/** The node each layer has in this model, in topological order. */
export function modelNodes(model: tfl.LayersModel): GraphNode[] {
  const known = new Set<number>(model.inputs.map((t) => t.id));
  const result: GraphNode[] = [];
  model.layers.forEach((layer, index) => {
    const node = layer.inboundNodes.find((n) =>
      n.inputTensors.length === 0 ? model.inputs.some((t) => t.sourceLayer === layer) : n.inputTensors.every((t) => known.has(t.id)),
    );
    if (!node) throw new Error(`layer ${layer.name} has no node in model ${model.name}`);
    for (const t of node.outputTensors) known.add(t.id);
    result.push({ index, layer, inputs: node.inputTensors, outputs: node.outputTensors });
  });
  return result;
}

/**
 * Names of the layers after which the model can be cut (see the file comment). The output layer
 * counts only with `includeOutput` (a backbone that a head will extend), since a complete model
 * cut there has nothing left to train.
 */
export function validBoundaries(model: tfl.LayersModel, opts: { includeOutput?: boolean } = {}): string[] {
  const nodes = modelNodes(model);
  const producer = new Map<number, number>();
  for (const n of nodes) for (const t of n.outputs) producer.set(t.id, n.index);
  // lastUse[i]: the highest node index (or Infinity for model outputs) consuming a tensor of node i
  const lastUse = nodes.map(() => -1);
  const useOf = (tensorId: number, at: number) => {
    const p = producer.get(tensorId);
    if (p !== undefined) lastUse[p] = Math.max(lastUse[p] ?? -1, at);
  };
  for (const n of nodes) for (const t of n.inputs) useOf(t.id, n.index);
  for (const t of model.outputs) useOf(t.id, Number.POSITIVE_INFINITY);
  const valid: string[] = [];
  let reach = -1; // max lastUse over nodes 0..i-1
  for (const n of nodes) {
    const i = n.index;
    const last = opts.includeOutput ? nodes.length : nodes.length - 1;
    if (i > 0 && i < last && reach <= i && n.outputs.length === 1 && !isInput(n.layer)) {
      valid.push(n.layer.name);
    }
    reach = Math.max(reach, lastUse[i] ?? -1);
  }
  return valid;
}

function isInput(layer: Layer): boolean {
  return layer.getClassName() === 'InputLayer';
}

/**
 * The boundary that freezes nothing: the model's input layer. Splitting there gives an identity
 * prefix and a suffix that is the whole model (every layer trains).
 */
export function inputBoundary(model: tfl.LayersModel): string {
  const input = model.inputs.length === 1 ? model.inputs[0]?.sourceLayer : undefined;
  if (!input) throw new UserError(`model ${model.name} must have exactly one input`, 'model.name');
  return input.name;
}

/** Whether `split` freezes nothing (its boundary is the input). */
export function freezesNothing(split: Pick<Split, 'prefix'>): boolean {
  return split.prefix.layers.every(isInput);
}

/** The boundary layer name for "all but the last k layers are frozen"; k covering every layer freezes nothing. */
export function boundaryForTrainableLast(model: tfl.LayersModel, k: number): string {
  const layers = model.layers;
  const idx = layers.length - 1 - k;
  if (idx <= 0 && layers[0] && isInput(layers[0])) return inputBoundary(model);
  const valid = validBoundaries(model);
  const name = idx >= 1 ? layers[idx]?.name : undefined;
  if (!name || !valid.includes(name)) {
    const ks = valid.map((v) => layers.length - 1 - layers.findIndex((l) => l.name === v));
    throw new UserError(
      `cannot freeze all but the last ${k} layers of ${model.name} (${layers.length} layers): that cut crosses a skip connection; valid values: ${summarise(ks)}, or ${layers.length - 1} and more (nothing frozen)`,
      'freeze.trainableLast',
    );
  }
  return name;
}

export function assertValidBoundary(model: tfl.LayersModel, boundary: string, field = 'freeze.boundary'): void {
  const valid = validBoundaries(model);
  if (valid.includes(boundary)) return;
  const exists = model.layers.some((l) => l.name === boundary);
  throw new UserError(
    `${exists ? `'${boundary}' is not a valid freeze boundary (tensors other than its output cross it)` : `no layer named '${boundary}'`}; valid boundaries: ${summarise(valid)}`,
    field,
  );
}

function summarise<T>(xs: T[]): string {
  return xs.length <= 40 ? xs.join(', ') : `${xs.slice(0, 20).join(', ')}, ... (${xs.length - 40} more), ${xs.slice(-20).join(', ')}`;
}

export interface Split {
  /** input -> boundary output; the identity (only the input layer) when nothing is frozen */
  prefix: tfl.LayersModel;
  /** boundary output -> model output, sharing the layers (and weights) of the full model */
  suffix: tfl.LayersModel;
  boundary: string;
  /** shape of the crossing tensor without the batch dimension */
  boundaryShape: number[];
}

/**
 * Splits `model` after layer `boundary` (validated; the input layer splits off nothing). Both
 * halves share the full model's layers.
 */
export function splitAt(model: tfl.LayersModel, boundary: string): Split {
  if (boundary !== model.inputs[0]?.sourceLayer.name || model.inputs.length !== 1) assertValidBoundary(model, boundary);
  const nodes = modelNodes(model);
  const cut = nodes.find((n) => n.layer.name === boundary);
  const crossing = cut?.outputs[0];
  if (!cut || !crossing) throw new Error(`boundary ${boundary} vanished`);
  const prefix = tfl.model({ inputs: model.inputs, outputs: crossing, name: `${model.name}_prefix` });
  const boundaryShape = crossing.shape.slice(1).map((d) => {
    if (d == null) throw new UserError(`boundary '${boundary}' has an unknown dimension`, 'freeze.boundary');
    return d;
  });
  const input = tfl.input({ shape: boundaryShape, name: `${boundary}_cached`, dtype: crossing.dtype });
  const mapped = new Map<number, SymbolicTensor>([[crossing.id, input]]);
  for (const n of nodes.slice(cut.index + 1)) {
    const ins = n.inputs.map((t) => {
      const m = mapped.get(t.id);
      if (!m) throw new Error(`tensor ${t.name} crosses boundary ${boundary}`);
      return m;
    });
    const out = n.layer.apply(ins.length === 1 ? (ins[0] as SymbolicTensor) : ins) as SymbolicTensor | SymbolicTensor[];
    const outs = Array.isArray(out) ? out : [out];
    n.outputs.forEach((t, i) => {
      const o = outs[i];
      if (o) mapped.set(t.id, o);
    });
  }
  const outputs = model.outputs.map((t) => {
    const m = mapped.get(t.id);
    if (!m) throw new Error(`output ${t.name} not reached from boundary`);
    return m;
  });
  const suffix = tfl.model({
    inputs: input,
    outputs: outputs.length === 1 ? (outputs[0] as SymbolicTensor) : outputs,
    name: `${model.name}_suffix`,
  });
  return { prefix, suffix, boundary, boundaryShape };
}
