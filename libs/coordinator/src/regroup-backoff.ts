/**
 * The pause before a generation forms after one that committed no step
 * (docs/distributed.md#a-new-generation).
 *
 * A generation that fails before its first step mostly fails for a reason that outlasts it: a
 * restarted worker that its peers cannot reach yet (a container's name can take seconds, in
 * podman's DNS tens of seconds, to answer with its new address), a peer still loading. Forming
 * the next generation at once would spend `cluster.maxRestarts` in seconds. So after each such
 * generation in a row the coordinator waits before it forms the next, `firstMs` doubling up to
 * `maxMs` (with the defaults and maxRestarts 10, about 80 s of pauses in all). A generation that
 * commits a step resets the pause, and the first change of a job forms at once.
 */

/** the pause after the first generation in a row that committed no step, ms */
export const FIRST_PAUSE_MS = 500;
/** the longest pause, ms */
export const MAX_PAUSE_MS = 16_000;

export class RegroupBackoff {
  /** the step the current generation resumed at; undefined before the first change */
  private resumedAt: number | undefined;
  /** generations in a row, up to the current one, that committed no step */
  private fruitless = 0;

  constructor(
    private readonly firstMs = FIRST_PAUSE_MS,
    private readonly maxMs = MAX_PAUSE_MS,
  ) {}

  /**
   * How long the coordinator waits before it forms a generation that resumes at `step`: 0 unless
   * the current generation committed nothing after the step it resumed at.
   */
  pauseMs(step: number): number {
    if (this.resumedAt === undefined || step > this.resumedAt) return 0;
    return Math.min(this.firstMs * 2 ** this.fruitless, this.maxMs);
  }

  /** A generation formed that resumes at `step`. */
  formed(step: number): void {
    this.fruitless = this.resumedAt !== undefined && step <= this.resumedAt ? this.fruitless + 1 : 0;
    this.resumedAt = step;
  }
}
