/**
 * The job's record in its checkpoint directory, `<checkpoint.dir>/job.json` (the job id), written
 * when a coordinator starts. A coordinator restarted with `--resume` runs the recorded id unless
 * `cluster.jobId` names one, so the workers of the coordinator it replaces, which carry that id
 * in every message, are accepted (docs/distributed.md#losing-the-coordinator).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JobSpec } from '@permafrost/job';
import { log, UserError } from '@permafrost/telemetry';

const RECORD = 'job.json';

/** The recorded job id in `dir`, if a coordinator of a job wrote one there. */
export function recordedJobId(dir: string | undefined): string | undefined {
  if (!dir) return undefined;
  try {
    const r = JSON.parse(readFileSync(join(dir, RECORD), 'utf8')) as { jobId?: unknown };
    return typeof r.jobId === 'string' && r.jobId ? r.jobId : undefined;
  } catch {
    return undefined;
  }
}

/** The id this run uses: cluster.jobId, else on --resume the recorded one, else a random one. */
export function jobIdFor(job: JobSpec, resume: boolean): string {
  const given = job.cluster.jobId;
  const recorded = resume ? recordedJobId(job.checkpoint.dir) : undefined;
  if (given && recorded && given !== recorded) {
    log().warn('cluster.jobId differs from the id recorded in the checkpoint directory; using cluster.jobId', { given, recorded });
  }
  return given ?? recorded ?? randomUUID();
}

/** Records `jobId` in the checkpoint directory (written whole: a temporary file renamed into place). */
export function writeJobRecord(job: JobSpec, jobId: string): void {
  const dir = job.checkpoint.dir;
  if (!dir) return;
  const tmp = join(dir, `${RECORD}.partial`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(tmp, `${JSON.stringify({ jobId })}\n`);
    renameSync(tmp, join(dir, RECORD));
  } catch (e) {
    throw new UserError(`cannot write the job record: ${(e as Error).message}`, 'checkpoint.dir');
  }
}
