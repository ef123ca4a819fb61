/**
 * Groups a read request into runs of consecutive ids so file-backed datasets can serve each run
 * with one read call. Ascending requests (validation, feature extraction) collapse into a few
 * large reads; shuffled requests degrade gracefully to one read per sample.
 */

export interface Run {
  /** first sample id of the run */
  first: number;
  /** number of consecutive ids */
  count: number;
  /** position of `first` in the request, i.e. where the run's samples go in the output */
  at: number;
}

/**
 * @param maxCount caps a run so one read never needs an unbounded buffer
 * @param groupOf runs never cross a group boundary (e.g. one file per group)
 */
export function contiguousRuns(ids: readonly number[], maxCount = Number.POSITIVE_INFINITY, groupOf?: (id: number) => number): Run[] {
  const runs: Run[] = [];
  let current: Run | undefined;
  let currentGroup = -1;
  for (let at = 0; at < ids.length; at++) {
    const id = ids[at] as number;
    const group = groupOf ? groupOf(id) : 0;
    if (current && id === current.first + current.count && group === currentGroup && current.count < maxCount) {
      current.count++;
    } else {
      current = { first: id, count: 1, at };
      currentGroup = group;
      runs.push(current);
    }
  }
  return runs;
}
