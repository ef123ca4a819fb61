/**
 * The two invariants the coordinator checks at every epoch end, from every rank's RankEpoch:
 * replica identity (all trainable-weight hashes equal) and exactly-once (the trained ids, over
 * all ranks, are the training set, each once). A violation fails the job, naming what differs.
 * `credited`: ids trained by workers that left during the epoch (generations.ts), which no rank
 * reports.
 */
import type { RankEpoch } from '@permafrost/trainer';

/** Undefined when both hold; else what is wrong, for the job's failure message. */
export function checkEpoch(
  epoch: number,
  byRank: readonly RankEpoch[],
  trainIds: readonly number[],
  credited: readonly number[] = [],
): string | undefined {
  const hashes = byRank.map((r) => r.weightsHash);
  if (new Set(hashes).size > 1) {
    return `replicas diverged after epoch ${epoch}: ${hashes.map((h, rank) => `rank ${rank} ${h.slice(0, 12)}`).join(', ')}`;
  }
  const expected = new Set(trainIds);
  const seen = new Set<number>();
  let duplicates = 0;
  for (const id of [...byRank.flatMap((r) => r.sampleIds), ...credited]) {
    if (seen.has(id)) duplicates++;
    else seen.add(id);
  }
  const missing = trainIds.filter((id) => !seen.has(id)).length;
  const extra = [...seen].filter((id) => !expected.has(id)).length;
  if (duplicates || missing || extra) {
    return `epoch ${epoch} did not train every sample exactly once: ${duplicates} duplicated, ${missing} missing, ${extra} unexpected`;
  }
  return undefined;
}
