/**
 * A per-kernel profiler for one backend: wraps every kernel registered for it with a timer that
 * keeps a stack, so a kernel that runs others inside it (the wasm replacements built from tfjs
 * ops) is charged only its own time and its children are charged theirs. The wasm backend runs
 * each kernel synchronously, so wall time around the call is the kernel's time. Wrapping happens
 * after the backend initialised (its kernels' setup already bound the wasm functions), and
 * unwrap() restores the registry exactly.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface KernelStat {
  kernel: string;
  calls: number;
  /** time in the kernel itself, nested kernels excluded */
  selfMs: number;
}

export class KernelTimer {
  private readonly stats = new Map<string, { calls: number; selfMs: number }>();
  private readonly originals: tf.KernelConfig[] = [];
  private childMs: number[] = [];
  enabled = false;

  constructor(readonly backendName: string) {
    for (const config of tf.getKernelsForBackend(backendName)) {
      this.originals.push(config);
      tf.unregisterKernel(config.kernelName, backendName);
      tf.registerKernel({ ...config, kernelFunc: this.wrap(config.kernelName, config.kernelFunc) });
    }
  }

  private wrap(name: string, func: tf.KernelFunc): tf.KernelFunc {
    return (args) => {
      if (!this.enabled) return func(args);
      this.childMs.push(0);
      const t0 = performance.now();
      const out = func(args);
      const total = performance.now() - t0;
      const children = this.childMs.pop() ?? 0;
      const s = this.stats.get(name) ?? { calls: 0, selfMs: 0 };
      s.calls += 1;
      s.selfMs += total - children;
      this.stats.set(name, s);
      if (this.childMs.length > 0) this.childMs[this.childMs.length - 1] = (this.childMs.at(-1) ?? 0) + total;
      return out;
    };
  }

  reset(): void {
    this.stats.clear();
  }

  /** Kernels by self time, largest first, per `divisor` runs. */
  report(divisor = 1): KernelStat[] {
    return [...this.stats.entries()]
      .map(([kernel, s]) => ({ kernel, calls: s.calls / divisor, selfMs: s.selfMs / divisor }))
      .sort((a, b) => b.selfMs - a.selfMs);
  }

  unwrap(): void {
    for (const config of this.originals) {
      tf.unregisterKernel(config.kernelName, this.backendName);
      tf.registerKernel(config);
    }
  }
}
