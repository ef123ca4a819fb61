/**
 * `permafrost cache ls|stats|show|verify|gc|export`: wiring only. The work is in libs/cache (and,
 * for what needs a model, libs/trainer). Every verb but gc opens the cache read-only, registers
 * no writer and takes no write lock, so it runs beside a training run. Cache errors (missing
 * directory, not a cache, unknown fingerprint) are UserErrors: one line, exit 2.
 */
import { writeFileSync } from 'node:fs';
import {
  ActivationCache,
  CacheError,
  cacheStats,
  channelGrid,
  collectGarbage,
  EXPORT_FORMATS,
  type ExportFormat,
  encodePng,
  exportFingerprint,
  type FingerprintRecord,
  findFingerprint,
  fingerprintRows,
  GcRefusedError,
  repairCache,
  showEntry,
} from '@permafrost/cache';
import { type JobSpec, loadJob } from '@permafrost/job';
import { PermafrostError, UserError } from '@permafrost/telemetry';
import { jobFingerprint, type VerifySelection, verifyCache } from '@permafrost/trainer';
import type { Command } from 'commander';
import { addJobFlags, jobOverrides } from '../job-flags';
import { parseCount, parseDuration, parseFraction } from '../parse';
import { exportText, gcText, lsText, repairText, showText, statsText, verifyText } from './cache-output';

const DEFAULT_DIR = '.permafrost/cache';
type Opts = Record<string, unknown>;

/** A damaged cache: not the user's mistake, so exit 1 (data-loss), with the fix in the message. */
const corrupt = (e: CacheError) => new PermafrostError('data-loss', e.message);
const isCorrupt = (e: unknown): e is PermafrostError => e instanceof PermafrostError && !(e instanceof UserError) && e.code === 'data-loss';

/**
 * Runs `fn` on the cache opened read-only, turning cache errors into UserErrors (exit 2), except
 * a corrupt cache: that is not the user's mistake, it fails the command (exit 1) with the fix.
 */
async function withCache<T>(dir: string, fn: (cache: ActivationCache) => Promise<T> | T): Promise<T> {
  let cache: ActivationCache;
  try {
    cache = ActivationCache.open(dir, { readOnly: true });
  } catch (e) {
    if (e instanceof CacheError) throw e.corrupt ? corrupt(e) : new UserError(e.message, '--cache-dir');
    throw e;
  }
  try {
    return await fn(cache);
  } catch (e) {
    if (e instanceof CacheError) throw e.corrupt ? corrupt(e) : new UserError(e.message);
    throw e;
  } finally {
    await cache.close();
  }
}

/** The job of `--config` and the job flags, when one is given (a config file or --model). */
async function optionalJob(opts: Opts): Promise<JobSpec | undefined> {
  if (opts.config === undefined && opts.model === undefined) return undefined;
  return loadJob(opts.config as string | undefined, jobOverrides(opts));
}

/** A verb with the options every non-job verb has: --cache-dir and --json. */
const verb = (cache: Command, name: string, description: string) =>
  cache
    .command(name)
    .description(description)
    .option('--cache-dir <dir>', 'the cache directory', DEFAULT_DIR)
    .option('--json', 'machine-readable output');

const print = (json: unknown, text: string, asJson: unknown) => process.stdout.write(asJson ? `${JSON.stringify(json, null, 2)}\n` : text);

function registerLs(cache: Command): void {
  const cmd = cache
    .command('ls')
    .description('one row per fingerprint; with --config (or job flags), which one is current for that job')
    .option('--json', 'machine-readable output');
  addJobFlags(cmd).action(async (opts: Opts) => {
    const job = await optionalJob(opts);
    const dir = (opts.cacheDir as string | undefined) ?? job?.cache.dir ?? DEFAULT_DIR;
    const current = job ? await jobFingerprint(job) : undefined;
    await withCache(dir, (c) => {
      const records = c.fingerprints();
      const rows = fingerprintRows(records, current);
      print({ dir, currentFingerprint: current, fingerprints: rows }, lsText(rows, idsByHex(records)), opts.json);
    });
  });
}

const idsByHex = (records: readonly FingerprintRecord[]) => new Map(records.map((r) => [r.fingerprint, r.id]));

function registerStats(cache: Command): void {
  verb(cache, 'stats', 'totals, disk use against the LMDB map size, free pages, hit/miss and checksum-failure counts').action(
    async (opts: { cacheDir: string; json?: boolean }) => {
      await withCache(opts.cacheDir, (c) => {
        const s = cacheStats(c);
        print(s, statsText(s), opts.json);
      });
    },
  );
}

function registerShow(cache: Command): void {
  verb(cache, 'show', 'one cached activation: shape, min/max/mean/std, zeros, checksum; --png draws its channels')
    .argument('<fingerprint>', 'numeric id or a unique hex prefix (see cache ls)')
    .argument('<sample>', 'sample id')
    .option('--png <file>', 'write the activation as a grid of per-channel images')
    .action(async (ref: string, sample: string, opts: { cacheDir: string; png?: string; json?: boolean }) => {
      const sampleId = parseCount(sample, 'SAMPLE', 0);
      await withCache(opts.cacheDir, (c) => {
        const { values, ...entry } = showEntry(c, findFingerprint(c.fingerprints(), ref), sampleId);
        if (opts.png) {
          if (!values) throw new UserError('the value cannot be decoded, so there is nothing to draw', '--png');
          try {
            writeFileSync(opts.png, encodePng(channelGrid(values, entry.shape)));
          } catch (e) {
            throw new UserError(`cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, opts.png);
          }
        }
        print({ ...entry, png: opts.png }, showText({ ...entry, values }, opts.png), opts.json);
      });
    });
}

function selection(opts: Opts): VerifySelection {
  const given = ['sample', 'sampleFraction', 'all'].filter((k) => opts[k] !== undefined);
  if (given.length > 1) throw new UserError('give one of --sample, --sample-fraction and --all', '--sample');
  if (opts.all) return { all: true };
  if (opts.sampleFraction !== undefined) return { fraction: parseFraction(String(opts.sampleFraction), '--sample-fraction') };
  return { count: opts.sample === undefined ? 64 : parseCount(String(opts.sample), '--sample', 1) };
}

function registerVerify(cache: Command): void {
  const cmd = cache
    .command('verify')
    .description('recompute entries from the model and dataset and compare; exit 1 if any is corrupt or stale')
    .argument('[fingerprint]', 'numeric id or hex prefix (default: every fingerprint, or the one of --config)')
    .option('--sample <n>', 'recompute n entries per fingerprint, drawn at random (default 64)')
    .option('--sample-fraction <f>', 'recompute this fraction of the entries')
    .option('--all', 'recompute every entry')
    .option('--json', 'machine-readable output');
  addJobFlags(cmd).action(async (ref: string | undefined, opts: Opts) => {
    const select = selection(opts);
    const job = await optionalJob(opts);
    const dir = (opts.cacheDir as string | undefined) ?? job?.cache.dir ?? DEFAULT_DIR;
    const backend = (opts.backend as JobSpec['train']['backend'] | undefined) ?? job?.train.backend ?? 'auto';
    let result: Awaited<ReturnType<typeof verifyCache>>;
    try {
      result = await withCache(dir, (c) =>
        verifyCache(c, {
          ref,
          job,
          backend,
          select,
          seed: 0,
          onReport: (r) => {
            if (!opts.json) process.stdout.write(verifyText(r));
          },
        }),
      );
    } catch (e) {
      if (!isCorrupt(e)) throw e;
      // a damaged environment: the whole cache is CORRUPT, reported like a fingerprint's verdict
      if (opts.json) process.stdout.write(`${JSON.stringify({ dir, status: 'corrupt', problem: e.message }, null, 2)}\n`);
      else process.stdout.write(`CORRUPT: ${e.message}\n`);
      throw new PermafrostError('data-loss', `verify: ${dir} is corrupt`);
    }
    const { reports, skipped } = result;
    const failed = reports.filter((r) => r.status !== 'ok');
    if (opts.json) process.stdout.write(`${JSON.stringify({ dir, fingerprints: reports, skipped }, null, 2)}\n`);
    else for (const s of skipped) process.stdout.write(`${s.id} ${s.fingerprint.slice(0, 12)} skipped: ${s.reason}\n`);
    if (failed.length > 0) throw new PermafrostError('data-loss', `verify: ${failed.length} of ${reports.length} fingerprints failed`);
  });
}

function registerGc(cache: Command): void {
  verb(cache, 'gc', 'remove superseded fingerprints (and, with --older-than, unused ones); refuses while a training run writes')
    .option('--older-than <duration>', 'also remove fingerprints not used for this long, e.g. 30d, 12h, 90m')
    .option('--keep <fingerprint...>', 'never remove these (ids or hex prefixes)')
    .option('--dry-run', 'show what would be removed; change nothing')
    .option('--compact-to <dir>', 'afterwards, write a compacted copy of the cache into this new directory')
    .action(
      async (opts: { cacheDir: string; olderThan?: string; keep?: string[]; dryRun?: boolean; compactTo?: string; json?: boolean }) => {
        const olderThanMs = opts.olderThan === undefined ? undefined : parseDuration(opts.olderThan, '--older-than');
        const records = await withCache(opts.cacheDir, (c) => c.fingerprints());
        let keep: string[];
        try {
          keep = (opts.keep ?? []).map((k) => findFingerprint(records, k).fingerprint);
        } catch (e) {
          throw e instanceof CacheError ? new UserError(e.message, '--keep') : e;
        }
        try {
          const r = await collectGarbage(opts.cacheDir, { olderThanMs, keep, dryRun: opts.dryRun, compactTo: opts.compactTo });
          print(r, gcText(r, idsByHex(records)), opts.json);
        } catch (e) {
          if (e instanceof GcRefusedError) throw new PermafrostError('failed-precondition', `gc refused: ${e.message}`);
          if (e instanceof CacheError) throw e.corrupt ? corrupt(e) : new UserError(e.message);
          throw e;
        }
      },
    );
}

function registerRepair(cache: Command): void {
  verb(cache, 'repair', 'salvage the readable entries of a damaged cache into a new environment (in place, or into --out)')
    .option('--out <dir>', 'write the repaired cache into this new directory instead of replacing cache.mdb')
    .action(async (opts: { cacheDir: string; out?: string; json?: boolean }) => {
      try {
        const r = await repairCache(opts.cacheDir, { out: opts.out });
        print(r, repairText(r), opts.json);
      } catch (e) {
        if (e instanceof GcRefusedError) {
          throw new PermafrostError('failed-precondition', `repair refused: ${e.message.replace('run gc', 'run repair')}`);
        }
        if (e instanceof CacheError) throw e.corrupt ? corrupt(e) : new UserError(e.message, '--cache-dir');
        throw e;
      }
    });
}

function registerExport(cache: Command): void {
  verb(cache, 'export', "one fingerprint's activations and sample ids as .npy files or a .safetensors file")
    .argument('<fingerprint>', 'numeric id or a unique hex prefix (see cache ls)')
    .requiredOption('--out <dir>', 'output directory (created if needed)')
    .option('--format <format>', 'npy | safetensors', 'npy')
    .action(async (ref: string, opts: { out: string; cacheDir: string; format: string; json?: boolean }) => {
      if (!EXPORT_FORMATS.includes(opts.format as ExportFormat)) {
        throw new UserError(`expected one of ${EXPORT_FORMATS.join(', ')}, got '${opts.format}'`, '--format');
      }
      await withCache(opts.cacheDir, (c) => {
        let r: ReturnType<typeof exportFingerprint>;
        const record = findFingerprint(c.fingerprints(), ref);
        try {
          r = exportFingerprint(c, record, opts.out, opts.format as ExportFormat);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code && /^E[A-Z]+$/.test(code)) throw new UserError(`cannot write: ${code}`, opts.out);
          throw e;
        }
        print(r, exportText(r), opts.json);
      });
    });
}

export function registerCache(program: Command): void {
  const cache = program.command('cache').description('inspect, verify, clean and export an activation cache (read-only except gc)');
  registerLs(cache);
  registerStats(cache);
  registerShow(cache);
  registerVerify(cache);
  registerGc(cache);
  registerRepair(cache);
  registerExport(cache);
}
