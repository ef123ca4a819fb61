/**
 * The checkpoint root's pointer and what resuming finds there. `latest.json` names the newest
 * checkpoint directory; it is written to a temporary file, fsynced and renamed over the old one,
 * so a crash leaves either the old pointer or the new one, never a torn file. Checkpoint
 * directories are themselves written under `.NAME.tmp-*` and renamed into place (saveModelDir);
 * a crash mid-write leaves such a directory behind, which the next writer or resume removes.
 *
 * Resuming reads the pointer; when it is missing or damaged, the newest intact `epoch-*` or
 * `final` directory (every file its manifests name present with the right size) is used instead,
 * with a warning.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { log, UserError } from '@permafrost/telemetry';

export interface CheckpointPointer {
  /** directory name under the checkpoint root */
  checkpoint: string;
  epoch: number;
  /** global steps trained when it was written */
  step: number;
}

const POINTER = 'latest.json';

/** The directory name of the checkpoint written after `epoch` of `epochs`. */
export function checkpointName(epoch: number, epochs: number): string {
  return epoch === epochs ? 'final' : `epoch-${String(epoch).padStart(4, '0')}`;
}

/** The directory name of a checkpoint of global step `step`, mid-epoch (commit-checkpoint.ts). */
export function stepCheckpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

export async function writePointer(root: string, pointer: CheckpointPointer): Promise<void> {
  const tmp = join(root, `.${POINTER}.tmp-${process.pid}`);
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(`${JSON.stringify(pointer)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, join(root, POINTER));
}

/** Removes what interrupted writes left in `root`: half-written checkpoint directories and pointers. */
export function removeStaleTemps(root: string): string[] {
  if (!existsSync(root)) return [];
  const stale = readdirSync(root).filter((n) => n.startsWith('.') && n.includes('.tmp-'));
  for (const n of stale) rmSync(join(root, n), { recursive: true, force: true });
  if (stale.length > 0) log().info('removed interrupted checkpoint writes', { root, entries: stale });
  return stale;
}

/**
 * The checkpoint to resume from: the pointer's, else the newest intact one (with a warning).
 * `epoch`: the epochs it has completed; `step`: the global steps, beyond the epoch's last for a
 * checkpoint written mid-epoch.
 */
export function resumePoint(root: string): { epoch: number; step: number; dir: string } {
  removeStaleTemps(root);
  const pointer = readPointer(root);
  if (pointer && intactCheckpoint(join(root, pointer.checkpoint))) {
    const dir = join(root, pointer.checkpoint);
    return { epoch: pointer.epoch, step: metaOf(dir)?.step ?? pointer.step, dir };
  }
  const fallback = newestIntact(root);
  if (!fallback) throw new UserError('no checkpoint to resume from (no readable latest.json and no intact checkpoint)', root);
  log().warn('latest.json is missing or names a damaged checkpoint; resuming from the newest intact one', {
    root,
    checkpoint: fallback.name,
    epoch: fallback.epoch,
  });
  return { epoch: fallback.epoch, step: fallback.step, dir: join(root, fallback.name) };
}

function readPointer(root: string): CheckpointPointer | undefined {
  try {
    const p = JSON.parse(readFileSync(join(root, POINTER), 'utf8')) as Partial<CheckpointPointer>;
    if (typeof p.checkpoint !== 'string' || !Number.isInteger(p.epoch) || p.checkpoint.includes('/')) return undefined;
    return p as CheckpointPointer;
  } catch {
    return undefined;
  }
}

function newestIntact(root: string): { name: string; epoch: number; step: number } | undefined {
  if (!existsSync(root)) return undefined;
  const found = readdirSync(root)
    .filter((n) => /^(epoch-\d+|step-\d+|final)$/.test(n))
    .map((name) => ({ name, ...metaOf(join(root, name)) }))
    .filter((c): c is { name: string; epoch: number; step: number } => c.epoch !== undefined && intactCheckpoint(join(root, c.name)));
  return found.sort((a, b) => b.step - a.step || b.epoch - a.epoch)[0];
}

/** meta.json's epoch and global step (a checkpoint of an older layout without a step: 0). */
function metaOf(dir: string): { epoch: number; step: number } | undefined {
  try {
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { epoch?: unknown; step?: unknown };
    if (!Number.isInteger(meta.epoch)) return undefined;
    return { epoch: meta.epoch as number, step: Number.isInteger(meta.step) ? (meta.step as number) : 0 };
  } catch {
    return undefined;
  }
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, float16: 2 };

/** Every file the model's and the optimizer's manifests name exists with the size they say. */
export function intactCheckpoint(dir: string): boolean {
  if (metaOf(dir) === undefined) return false;
  return manifestIntact(dir, 'model.json') && manifestIntact(dir, 'optimizer.json');
}

type Manifest = { paths: string[]; weights: { shape: number[]; dtype: string; quantization?: unknown }[] }[];

function manifestIntact(dir: string, file: string): boolean {
  try {
    const json = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { weightsManifest?: Manifest };
    for (const group of json.weightsManifest ?? []) {
      if (group.weights.some((w) => w.quantization !== undefined || BYTES[w.dtype] === undefined)) return true;
      const expected = group.weights.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1) * (BYTES[w.dtype] ?? 0), 0);
      const actual = group.paths.reduce((a, p) => a + statSync(join(dir, p)).size, 0);
      if (actual !== expected) return false;
    }
    return true;
  } catch {
    return false;
  }
}
