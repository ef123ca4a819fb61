/** The contract between the report and one benchmark's section renderer. */
import type { Machine } from './markdown';

/** Fields every result file has (bench-util's writeResults callers). */
export interface ResultBase {
  date: string;
  machine: Machine;
}

/** One row of the headline table (README and the top of docs/benchmarks.md). */
export interface Headline {
  figure: string;
  target: string;
  verdict: string;
}

export interface Section {
  /** the benchmark's name: test/bench/NAME.ts, results/NAME.json, `nx run bench:NAME` */
  name: string;
  /** one line: what the benchmark compares */
  summary: string;
  /** the section's body (below its heading), from the parsed result file */
  render(json: unknown): string[];
  headline(json: unknown): Headline;
}
