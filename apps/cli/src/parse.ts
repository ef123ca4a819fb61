import { UserError } from '@permafrost/telemetry';

/** An integer flag value of at least `min`, or a UserError naming the flag. */
export function parseCount(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) throw new UserError(`expected an integer >= ${min}, got '${value}'`, flag);
  return n;
}
