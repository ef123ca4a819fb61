import { UserError } from '@permafrost/telemetry';

/** An integer flag value of at least `min`, or a UserError naming the flag. */
export function parseCount(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) throw new UserError(`expected an integer >= ${min}, got '${value}'`, flag);
  return n;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A duration such as `30d`, `12h`, `1d12h`, `90m`, `45s` or `500ms`, in milliseconds; else a UserError naming the flag. */
export function parseDuration(value: string, flag: string): number {
  const text = value.trim();
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)];
  if (text === '' || parts.map((p) => p[0]).join('') !== text) {
    throw new UserError(`expected a duration such as 30d, 12h, 1d12h, 90m or 45s, got '${value}'`, flag);
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * (UNIT_MS[p[2] as string] as number), 0);
}

/** A number in (0, 1], or a UserError naming the flag. */
export function parseFraction(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0 && n <= 1)) throw new UserError(`expected a fraction in (0, 1], got '${value}'`, flag);
  return n;
}
