/**
 * One optimizer per block, so each block can have its own learning rate (FreezeOut) and can leave
 * training without disturbing the others. tfjs optimizers keep their slots (momentum, Adam's
 * moments) by position in the gradient list, so a group always gets the same variables in the same
 * order, and a frozen block's optimizer is dropped as a whole. One Adam per group equals one Adam
 * over all variables: its state is per variable except the step counters, which advance together.
 *
 * Saved state (checkpoints) is every group's tfjs optimizer weights, named `<group>|<name>`.
 */
import type { FusedAdamOptimizer } from '@permafrost/engine';
import * as tf from '@tensorflow/tfjs-core';

type NamedTensor = { name: string; tensor: tf.Tensor };

import { addWeightDecay, createOptimizer, type OptimizerSpec } from './optimizer';

const SEP = '|';

export class BlockOptimizers {
  private readonly groups = new Map<string, { optimizer: tf.Optimizer; lr: number }>();

  constructor(private readonly spec: OptimizerSpec) {}

  get className(): string {
    return createOptimizerName(this.spec);
  }

  private group(name: string): { optimizer: tf.Optimizer; lr: number } {
    let g = this.groups.get(name);
    if (!g) {
      g = { optimizer: createOptimizer(this.spec), lr: this.spec.lr };
      this.groups.set(name, g);
    }
    return g;
  }

  /** Sets each named group's learning rate; groups not named keep theirs (the base rate at first). */
  setLearningRates(rates: ReadonlyMap<string, number>): void {
    for (const [name, lr] of rates) {
      const g = this.group(name);
      if (g.lr === lr) continue;
      g.lr = lr;
      // tfjs's Optimizer overrides instanceof (any object with minimize() matches), so ask for the
      // method: sgd and momentum cache -lr in a scalar, adam reads its field on every update
      const o = g.optimizer as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
      if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
      else o.learningRate = lr;
    }
  }

  learningRate(group: string): number {
    return this.groups.get(group)?.lr ?? this.spec.lr;
  }

  /**
   * Applies `grads` (variable name -> gradient sum; disposed here) divided by `divisor` (the
   * samples they sum over), each variable by its group's optimizer in `order`, weight decay
   * included. Adam on wasm divides, decays and updates in one kernel per variable; otherwise the
   * mean gradient and its decay are tensors of their own first.
   */
  apply(grads: tf.NamedTensorMap, order: readonly { variable: tf.Variable; group: string }[], divisor = 1): void {
    const byGroup = new Map<string, tf.NamedTensorMap>();
    const vars = new Map<string, tf.Variable>();
    for (const { variable, group } of order) {
      const g = grads[variable.name];
      if (!g) continue;
      const m = byGroup.get(group) ?? {};
      byGroup.set(group, m);
      m[variable.name] = g;
      vars.set(variable.name, variable);
    }
    for (const [name, m] of byGroup) {
      const optimizer = this.group(name).optimizer;
      // tfjs's Optimizer overrides instanceof (see setLearningRates): ask for the method
      const fused = (optimizer as Partial<FusedAdamOptimizer>).applyScaled;
      if (fused?.call(optimizer, m, divisor, this.spec.weightDecay)) continue;
      const mean = divisor === 1 ? m : tf.tidy(() => Object.fromEntries(Object.entries(m).map(([k, g]) => [k, tf.div(g, divisor)])));
      const decayed = addWeightDecay(mean, vars, this.spec.weightDecay);
      optimizer.applyGradients(decayed);
      if (mean !== m) tf.dispose(Object.values(mean));
      tf.dispose(Object.values(decayed));
    }
    tf.dispose(Object.values(grads));
  }

  /** Drops the groups of frozen blocks, with their state. */
  drop(names: Iterable<string>): void {
    for (const n of names) {
      this.groups.get(n)?.optimizer.dispose();
      this.groups.delete(n);
    }
  }

  async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [];
    for (const [name, g] of this.groups) {
      for (const w of await g.optimizer.getWeights()) out.push({ name: `${name}${SEP}${w.name}`, tensor: w.tensor });
    }
    return out;
  }

  async setWeights(named: readonly NamedTensor[]): Promise<void> {
    const byGroup = new Map<string, NamedTensor[]>();
    for (const w of named) {
      const at = w.name.indexOf(SEP);
      const group = at < 0 ? 'all' : w.name.slice(0, at);
      const list = byGroup.get(group) ?? [];
      list.push({ name: w.name.slice(at + 1), tensor: w.tensor });
      byGroup.set(group, list);
    }
    for (const [group, list] of byGroup) await this.group(group).optimizer.setWeights(list);
  }

  /** the groups that exist, in name order (the order a rank's state is packed in) */
  get names(): string[] {
    return [...this.groups.keys()].sort();
  }

  /** One group's saved state (iteration count first, then its slots, in the optimizer's order). */
  groupWeights(name: string): Promise<NamedTensor[]> {
    return this.group(name).optimizer.getWeights();
  }

  /**
   * Gives every group of `order` its slots, as a first update would: a group that has none yet
   * takes one update of zero gradients (no weight decay), which leaves the variables as they are
   * (Adam's and momentum's updates of zero moments are zero). A rank that joins a running job
   * needs the slots before another rank's state can be copied into them.
   */
  async ensureSlots(order: readonly { variable: tf.Variable; group: string }[]): Promise<void> {
    const names = new Set(order.map((o) => o.group));
    for (const name of names) {
      const have = await this.groupWeights(name);
      const fresh = have.length;
      for (const w of have) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
      if (fresh > 1) continue;
      const zeros: tf.NamedTensorMap = {};
      for (const o of order) if (o.group === name) zeros[o.variable.name] = tf.zerosLike(o.variable);
      this.group(name).optimizer.applyGradients(zeros);
      tf.dispose(Object.values(zeros));
    }
  }

  /** Replaces a group's state with `named` (as groupWeights returns it), freeing the slots it had. */
  async replaceGroup(name: string, named: NamedTensor[]): Promise<void> {
    const old = await this.groupWeights(name);
    await this.group(name).optimizer.setWeights(named);
    for (const w of old) w.tensor.dispose();
  }

  dispose(): void {
    this.drop([...this.groups.keys()]);
  }
}

function createOptimizerName(spec: OptimizerSpec): string {
  if (spec.optimizer === 'adam') return 'Adam';
  return spec.momentum > 0 ? 'Momentum' : 'SGD';
}
