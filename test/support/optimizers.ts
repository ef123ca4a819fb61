/** Optimizer settings for tests that train in process (fit, SuffixTrainer, FreezeController). */
import type { OptimizerSpec } from '@permafrost/trainer';

/** Adam at learning rate `lr`, without weight decay. */
export const adam = (lr: number): OptimizerSpec => ({ optimizer: 'adam', lr, momentum: 0, nesterov: false, weightDecay: 0 });

/** SGD at learning rate `lr`; plain unless `opts` adds momentum, nesterov or weight decay. */
export const sgd = (lr: number, opts: Partial<Pick<OptimizerSpec, 'momentum' | 'nesterov' | 'weightDecay'>> = {}): OptimizerSpec => ({
  optimizer: 'sgd',
  lr,
  momentum: 0,
  nesterov: false,
  weightDecay: 0,
  ...opts,
});
