/** Optimizer settings for tests that train in process (fit, SuffixTrainer, FreezeController). */
export { adam, sgd } from '@permafrost/trainer/testing';
