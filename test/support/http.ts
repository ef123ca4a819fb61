/**
 * HTTP helpers for tests of the observability port: a free loopback port, a bounded GET, polling
 * until a condition holds, and the skip rule for a missing system tool.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

/** A port free on 127.0.0.1 right now (the OS picks it; closed again before returning). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

/** GET `url` (loopback only); the status and the body, within `timeoutMs`. */
export async function get(url: string, timeoutMs = 5000): Promise<{ status: number; body: string; type: string }> {
  assert.match(url, /^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)[:/]/, 'tests reach loopback only');
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: r.status, body: await r.text(), type: r.headers.get('content-type') ?? '' };
}

/** Calls `probe` every `everyMs` until it returns a value other than undefined; fails after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

/**
 * Whether a system tool is there. A developer machine without it skips the test; CI installs every
 * tool (PERMAFROST_REQUIRE_TOOLS=1 in .ci/run), so there a missing one fails instead of hiding.
 */
export function toolOrSkip(path: string, t: { skip(message: string): void }): boolean {
  if (existsSync(path)) return true;
  const why = `${path} is not installed`;
  if (process.env.PERMAFROST_REQUIRE_TOOLS === '1') assert.fail(`${why} (PERMAFROST_REQUIRE_TOOLS=1)`);
  t.skip(why);
  return false;
}
