/**
 * Reading, merging and validating job specs. A file (YAML or JSON) gives the base; command-line
 * flags override single fields by dotted path; the result is validated once, and any problem is a
 * UserError naming the file and the field path with what was expected.
 */
import { readFile } from 'node:fs/promises';
import { UserError } from '@permafrost/telemetry';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type JobSpec, jobSpecSchema } from './schema';

export type Overrides = Record<string, unknown>;

export async function readJobFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? 'config file not found' : `cannot read config file (${code})`, path);
  }
  let doc: unknown;
  try {
    doc = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (e) {
    const first = String((e as Error).message).split('\n')[0];
    throw new UserError(`malformed ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${first}`, path);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new UserError('the config must be a mapping of sections', path);
  return doc as Record<string, unknown>;
}

function isSection(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets `value` at a dotted path, creating sections as needed (an object merges into one); undefined values are skipped. */
export function applyOverrides(base: Record<string, unknown>, overrides: Overrides): Record<string, unknown> {
  const out = structuredClone(base);
  for (const [path, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const keys = path.split('.');
    let node = out;
    for (const k of keys.slice(0, -1)) {
      const next = node[k];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[k] = {};
      node = node[k] as Record<string, unknown>;
    }
    const last = keys[keys.length - 1] as string;
    // a section's value (`--augment` sets `{}`) keeps the fields the file gave it
    node[last] = isSection(value) && isSection(node[last]) ? { ...(node[last] as object), ...value } : value;
  }
  return out;
}

function valueAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let v = doc;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

function describe(issue: z.core.$ZodIssue, doc: unknown): string {
  const at = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (at ? `${at}.${k}` : k));
    return `unknown field ${keys.join(', ')}`;
  }
  const v = valueAt(doc, issue.path);
  const got = v === undefined ? 'nothing' : JSON.stringify(v);
  return `${at || '(top level)'}: ${issue.message.replace(/^Invalid input: /, '')}${v === undefined || issue.message.includes('received') ? '' : `, got ${got}`}`;
}

export function validateJob(doc: Record<string, unknown>, source = 'job spec'): JobSpec {
  const r = jobSpecSchema.safeParse(doc);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problem${r.error.issues.length > 2 ? 's' : ''})` : '';
  throw new UserError(`${first ? describe(first, doc) : 'invalid'}${more}`, source);
}

/** The whole pipeline: optional file, then flag overrides, then validation. */
export async function loadJob(configPath: string | undefined, overrides: Overrides): Promise<JobSpec> {
  const base = configPath ? await readJobFile(configPath) : {};
  return validateJob(applyOverrides(base, overrides), configPath ?? 'flags');
}
